"""Per-request DataLoaders. Each batch holds the request's lock while it uses the session
(see app/graphql/context.py for why there is one session and one lock per request).

Keys carry what makes the answer true: a post's revisions are keyed by its current revision
number and its approvals by its version, so a mutation in the same document that moves the
post on can never be answered from an older cache entry. The context also drops every
loader after each mutation.

Batches call service functions only. ``app.posts.service`` has no batch form yet for a
post's revisions or its approvals view, so those two batches still call the per-post use
case once per key (statements grow with the page) — see ``_revisions`` and ``_approvals``.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from app.approvals import review
from app.approvals import service as approvals_service
from app.models import PostRevision
from app.posts import service as posts_service

if TYPE_CHECKING:
    from app.graphql.context import Context

RevisionsKey = tuple[uuid.UUID, int]     # (post id, its current revision number)


class Loaders:
    def __init__(self, ctx: Context):
        self._ctx = ctx
        self.revisions: DataLoader[RevisionsKey, list[PostRevision]] = DataLoader(self._revisions)
        self.approvals: DataLoader[posts_service.PostView, review.ReviewView] = DataLoader(
            self._approvals, cache_key_fn=lambda v: (v.post.id, v.post.version))
        self.default_policy_id: DataLoader[str, uuid.UUID | None] = DataLoader(self._default_policy_id)

    async def _revisions(self, keys: Sequence[RevisionsKey]) -> list[list[PostRevision]]:
        async with self._ctx.db() as session:
            found = await posts_service.revisions_for_posts(session, list({post_id for post_id, _ in keys}))
        return [found[post_id] for post_id, _ in keys]

    async def _approvals(self, views: Sequence[posts_service.PostView]) -> list[review.ReviewView]:
        async with self._ctx.db() as session:
            return await posts_service.approvals_for_posts(session, list(views))

    async def _default_policy_id(self, keys: Sequence[str]) -> list[uuid.UUID | None]:
        async with self._ctx.db() as session:
            found = await approvals_service.default_policy_id(session)
        return [found for _ in keys]
