"""Status changes of posts that other domains drive: the crisis freeze, hand-over and release
(app/crises), the scheduler's claims and each send's steps (app/publishing), a leaver's posts
(app/users/offboarding.py).

The Post aggregate owns its writes: every statement is in app/posts/repository.py, takes its
source states from the workflow (app/posts/workflow.py), and is reached only through here.
The callers decide (authorisation, crises in force, connector outcomes) and audit; these
functions never commit.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.models import Post, PostRevision
from app.posts import repository
from app.posts.workflow import State
from app.security import Principal

AuditSql = tuple[str, dict[str, Any]]


def scope_params(brand_ids, account_ids) -> dict[str, Any]:
    return repository.scope_params(brand_ids, account_ids)


async def count_freezable(session: AsyncSession, scope_kind: str, params: dict[str, Any],
                          window: tuple[datetime | None, datetime | None] | None = None) -> int:
    """How many posts a freeze of this scope would pause (a dry run)."""
    return await repository.count_freezable(session, scope_kind, params, window)


async def freeze(session: AsyncSession, crisis_id: uuid.UUID, scope_kind: str, params: dict[str, Any],
                 audit_sql, window=None) -> int:
    """Pause every scheduled, or claimed but unsent, post in scope (set-based, HOT, audited by
    ``audit_sql(old_status)`` in the same statements). Returns how many."""
    return await repository.freeze(session, crisis_id, scope_kind, params, audit_sql, window)


async def hand_over(session: AsyncSession, crisis_id: uuid.UUID, audit_sql: AuditSql, *,
                    windows_ahead: bool) -> int:
    return await repository.hand_over(session, crisis_id, audit_sql, windows_ahead=windows_ahead)


async def release(session: AsyncSession, crisis_id: uuid.UUID, resolution: str, audit_sql: AuditSql) -> dict[str, int]:
    """The posts the crisis paused, moved as the resolution says; counts per outcome."""
    return await repository.release(session, crisis_id, resolution, audit_sql)


async def published_since(session: AsyncSession, scope_kind: str, params: dict[str, Any],
                          since: datetime) -> list[uuid.UUID]:
    return await repository.published_since(session, scope_kind, params, since)


# --- publishing -----------------------------------------------------------------------------

async def claim_due(session: AsyncSession, limit: int, lease_seconds: float) -> list[tuple[uuid.UUID, Any]]:
    return await repository.claim_due(session, limit, lease_seconds)


async def lock(session: AsyncSession, post_id: uuid.UUID) -> Post | None:
    return await repository.get_post(session, post_id, for_update=True)


async def read(session: AsyncSession, post_id: uuid.UUID) -> Post | None:
    return await repository.get_post(session, post_id)


async def revision(session: AsyncSession, post_id: uuid.UUID, number: int) -> PostRevision | None:
    return await repository.get_revision(session, post_id, number)


class PostMoved(RuntimeError):
    """The post left the state its caller locked it in: a bug, never a race (the row is locked)."""


async def step(session: AsyncSession, post: Post, values: dict[str, Any]) -> Post:
    """One publishing step of a locked post (``values`` may set ``status``), guarded by the
    state it was read in."""
    moved = await repository.move_post(session, post.id, State(post.status), values)
    if moved is None:
        raise PostMoved(f"post {post.id} is no longer {post.status}")
    return moved


async def lease(session: AsyncSession, post_id: uuid.UUID, seconds: float) -> None:
    await repository.lease_for(session, post_id, seconds)


async def retry_in(session: AsyncSession, post_id: uuid.UUID, seconds: float) -> None:
    await repository.retry_in(session, post_id, seconds)


async def fail_abandoned_sends(session: AsyncSession) -> list[Post]:
    return await repository.fail_abandoned_sends(session)


# --- a leaver's posts -------------------------------------------------------------------------

async def set_aside_authored(session: AsyncSession, actor: Principal, user_id: uuid.UUID, *,
                             correlation_id: str) -> dict[str, int]:
    """Offboarding: nobody else's content goes out under a leaver's name unseen. Their drafts
    and posts still in review are withdrawn; their scheduled (or claimed, unsent) posts pause
    with ``pause_reason = author_offboarded`` until an account admin reassigns or releases
    them. Set-based, each statement audited by one bulk record under ``correlation_id``."""
    def bulk(source: str, action: str, status: str, before: dict[str, Any] | None):
        return audit.bulk_insert_from(
            source, actor=actor, action=action, subject_type="user", subject_id=user_id, subjects_type="post",
            id_expr="id", before=before,
            after_expr=f"jsonb_build_object('status', '{status}', 'reason', '{repository.AUTHOR_OFFBOARDED}')",
            correlation_id=correlation_id)

    withdrawn = await repository.withdraw_authored(
        session, user_id, bulk("withdrawn", "posts.withdrawn", State.withdrawn.value, None))
    paused = await repository.pause_authored(
        session, user_id, lambda old: bulk("paused", "posts.paused", State.paused.value, {"status": old}))
    return {"withdrawn": withdrawn, "paused": paused}
