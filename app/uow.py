"""One unit of work, four runners.

A ``UnitOfWork`` is what one change runs in: its session, who acts, the request and
correlation ids its audit records carry, the Idempotency-Key it claimed, and the domain
events it emits (the outbox the events issue fills, written in the same transaction). It is
built by exactly four runners, each of which commits it at one place:

- ``UnitOfWorkRoute``: a REST request (and the GraphQL HTTP request). FastAPI runs yield-
  dependency teardown after the response is sent, and a commit there could fail after the
  client saw 2xx; here the commit happens before the response leaves, and a failed commit
  propagates as a 5xx.
- ``app.graphql.mutation.run``: each GraphQL mutation, inside the request's (a savepoint).
- ``job``: a worker job (one pass of a loop), and
- the CLI's commands (``job`` too).

Services never commit; app/publishing/jobs.py, which owns several commits of one send on
purpose, uses sessions of its own.
"""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response

from app import context, idempotency
from app.db import READ_ONLY_METHODS, request_session
from app.errors import AppError, problem_response
from app.security import SYSTEM, Principal


@dataclass
class UnitOfWork:
    session: AsyncSession
    principal: Principal | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    idempotency: idempotency.KeyContext | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


def of_request(request: Request) -> UnitOfWork:
    uow = getattr(request.state, "uow", None)
    if uow is None:
        uow = UnitOfWork(request_session(request), getattr(request.state, "principal", None),
                         context.request_id.get(), context.correlation_id.get())
        request.state.uow = uow
    return uow


class UnitOfWorkRoute(APIRoute):
    def get_route_handler(self):
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            uow = of_request(request)
            try:
                try:
                    try:
                        response = await original(request)
                    except DBAPIError as exc:
                        if not exc.connection_invalidated:
                            raise
                        # The connection had died (a database restart, a failover): nothing was
                        # committed, the pool is invalidated; run the request again, once.
                        await uow.rollback()
                        response = await original(request)
                except idempotency.Replay as replay:
                    await uow.rollback()
                    return replay.response
                except AppError as exc:
                    key = uow.idempotency = idempotency.context(request)
                    if key is None or not idempotency.stored_status(exc.status):  # 5xx, 403: not answers to replay
                        await uow.rollback()
                        raise
                    # Keep the key's lock, drop the failed work, remember the answer.
                    await key.savepoint.rollback()
                    response = problem_response(request, exc)
                    await idempotency.store(uow.session, key, response)
                    await uow.commit()
                    return response
                if request.method in READ_ONLY_METHODS:  # autocommit: nothing to commit or roll back
                    tag = getattr(request.state, "etag", None)
                    if tag and response.status_code < 400:
                        response.headers["ETag"] = tag
                    return response
                if response.status_code < 400:
                    tag = getattr(request.state, "etag", None)
                    if tag:
                        response.headers["ETag"] = tag
                    key = uow.idempotency = idempotency.context(request)
                    if key is not None:
                        await idempotency.store(uow.session, key, response,
                                                getattr(request.state, "idempotency_redact", ()))
                    await uow.commit()
                else:
                    await uow.rollback()
                return response
            except BaseException:
                await uow.rollback()
                raise
            finally:
                await uow.session.close()

        return handler


@contextlib.asynccontextmanager
async def job(maker: async_sessionmaker[AsyncSession], name: str,
              principal: Principal = SYSTEM) -> AsyncIterator[UnitOfWork]:
    """A worker job or a CLI command: committed when the block ends, rolled back if it
    raises. Its audit records carry a request id naming the job."""
    request_id = f"{name}:{uuid.uuid4().hex[:12]}"
    token = context.request_id.set(request_id)
    try:
        async with maker() as session:
            uow = UnitOfWork(session, principal, request_id)
            try:
                yield uow
                await uow.commit()
            except BaseException:
                await uow.rollback()
                raise
    finally:
        context.request_id.reset(token)
