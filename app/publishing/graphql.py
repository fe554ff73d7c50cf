"""GraphQL adapter for publishing by hand: the same service calls and scopes as the
``publish`` and ``retract`` endpoints of app/posts/router.py; results are the post, as for
every other post mutation.

``publishPost`` is the one mutation that does not run inside the request's transaction: it
publishes through ``jobs.publish_after`` (app/publishing/jobs.py), which commits what the
document's earlier mutations did and publishes on its own connection — the same call as
REST's publish endpoint. The post is then read back through the request's session.
"""
from __future__ import annotations

import uuid
from typing import Annotated

import strawberry
from sqlalchemy.exc import DBAPIError

from app.errors import AppError, db_problem
from app.graphql import mutation
from app.graphql.errors import Problem
from app.posts import service as posts_service
from app.posts.graphql import PostPayload, post_type
from app.publishing import jobs, service
from app.security import Scopes

WRITE = Scopes.POSTS_WRITE


@strawberry.input(description="Publish an approved post now (during a crisis: responders, crisis responses only)")
class PublishPostInput:
    post_id: uuid.UUID
    expected_version: int | None = None


@strawberry.input
class RetractPostInput:
    post_id: uuid.UUID
    expected_version: int | None = None


PublishPostResult = Annotated[PostPayload | Problem, strawberry.union("PublishPostResult")]
RetractPostResult = Annotated[PostPayload | Problem, strawberry.union("RetractPostResult")]


async def _read_back(info: strawberry.Info, post_id: uuid.UUID) -> PostPayload | Problem:
    async def work(session, principal):
        return PostPayload(post=post_type(await posts_service.get_post(session, principal, post_id)))

    return await mutation.run(info, WRITE, work)


@strawberry.type
class PublishingMutation:
    @strawberry.mutation(description="Publish an approved post now (during a crisis: responders, crisis responses "
                                     "only). Commits what earlier mutations of the document did first.")
    async def publish_post(self, info: strawberry.Info, input: PublishPostInput) -> PublishPostResult | None:
        ctx = info.context
        principal = ctx.principal  # no token at all: a top-level 'unauthenticated', as for every mutation
        try:
            ctx.require(*WRITE)
        except AppError as exc:
            return Problem.of(exc)
        try:
            # The request's session is used only to commit first (app/publishing/jobs.py says
            # why); publish_now runs on its own connection. Nothing else of this document runs
            # meanwhile: mutations are serial.
            async with ctx.db() as session:
                await jobs.publish_after(session, ctx.request.app.state.sessionmaker, principal, input.post_id,
                                         expected_version=input.expected_version)
        except AppError as exc:
            return Problem.of(exc)
        except DBAPIError as exc:
            mapped = db_problem(exc)
            if mapped is None:
                raise
            return Problem.of(mapped)
        finally:
            ctx.reset_loaders()
        return await _read_back(info, input.post_id)

    @strawberry.mutation(description="Retract a published post")
    async def retract_post(self, info: strawberry.Info, input: RetractPostInput) -> RetractPostResult | None:
        async def work(session, principal):
            await service.retract(session, principal, input.post_id, expected_version=input.expected_version)
            view = await posts_service.get_post(session, principal, input.post_id)
            return PostPayload(post=post_type(view))

        return await mutation.run(info, WRITE, work)
