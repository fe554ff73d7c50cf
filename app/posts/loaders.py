"""GraphQL DataLoaders of posts, built per request (app/graphql/context.py).

Each batch holds the request's lock while it uses the session (the context says why). Keys
carry what makes the answer true: a post's revisions are keyed by its current revision
number and its review by its version, so a mutation in the same document that moves the post
on can never be answered from an older entry; the context also drops every loader after each
mutation."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from app.approvals import review
from app.models import PostRevision
from app.posts import service

if TYPE_CHECKING:
    from app.graphql.context import Context

RevisionsKey = tuple[uuid.UUID, int]     # (post id, its current revision number)


def loaders(ctx: Context) -> dict[str, DataLoader]:
    async def revisions(keys: Sequence[RevisionsKey]) -> list[list[PostRevision]]:
        async with ctx.db() as session:
            found = await service.revisions_for_posts(session, list({post_id for post_id, _ in keys}))
        return [found[post_id] for post_id, _ in keys]

    async def approvals(views: Sequence[service.PostView]) -> list[review.ReviewView]:
        async with ctx.db() as session:
            return await service.approvals_for_posts(session, list(views))

    return {"revisions": DataLoader(revisions),
            "approvals": DataLoader(approvals, cache_key_fn=lambda v: (v.post.id, v.post.version))}
