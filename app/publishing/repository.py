"""Every SQL statement of publishing: claims, the send record, connector configuration."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, AccountConnector, Post, PostRevision, Publication

# Due scheduled posts, and publishing ones whose retry is due (or whose claim was abandoned
# before any send began). Locked and claimed in one statement; other workers skip them.
# ``due_at`` (a generated column, app/models/posts.py) is the queue key: the scheduled slot,
# or the retry time of a claim; paused posts keep theirs and are skipped here.
_CLAIM = text("""
UPDATE posts p SET status = 'publishing', lease_until = now() + make_interval(secs => :lease),
       next_attempt_at = NULL, version = p.version + 1, updated_at = now()
 WHERE p.id IN (
    SELECT id FROM posts
     WHERE due_at <= now()
       AND (status = 'scheduled'
            OR (status = 'publishing' AND sending_since IS NULL AND (lease_until IS NULL OR lease_until < now())))
     ORDER BY due_at
     FOR UPDATE SKIP LOCKED
     LIMIT :limit)
RETURNING p.id, p.lease_until
""")


async def claim_due(session: AsyncSession, limit: int, lease_seconds: float) -> list[tuple[uuid.UUID, Any]]:
    rows = await session.execute(_CLAIM, {"limit": limit, "lease": lease_seconds})
    return [(r[0], r[1]) for r in rows.all()]


async def lock_post(session: AsyncSession, post_id: uuid.UUID) -> Post | None:
    stmt = select(Post).where(Post.id == post_id).with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_post(session: AsyncSession, post_id: uuid.UUID) -> Post | None:
    stmt = select(Post).where(Post.id == post_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def revision(session: AsyncSession, post_id: uuid.UUID, number: int) -> PostRevision | None:
    stmt = select(PostRevision).where(PostRevision.post_id == post_id, PostRevision.number == number)
    return (await session.execute(stmt)).scalar_one_or_none()


async def account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return (await session.execute(select(Account).where(Account.id == account_id))).scalar_one_or_none()


async def connector(session: AsyncSession, account_id: uuid.UUID) -> AccountConnector | None:
    stmt = select(AccountConnector).where(AccountConnector.account_id == account_id).execution_options(
        populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def upsert_connector(session: AsyncSession, values: dict[str, Any]) -> AccountConnector:
    stmt = insert(AccountConnector).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[AccountConnector.account_id],
        set_={**{k: stmt.excluded[k] for k in values if k != "account_id"},
              "version": AccountConnector.version + 1, "updated_at": func.now()},
    ).returning(AccountConnector)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()


async def set_post(session: AsyncSession, post_id: uuid.UUID, values: dict[str, Any]) -> Post:
    stmt = (update(Post).where(Post.id == post_id).values(**values, version=Post.version + 1, updated_at=func.now())
            .returning(Post).execution_options(populate_existing=True, synchronize_session=False))
    return (await session.execute(stmt)).scalar_one()


async def record_publication(session: AsyncSession, values: dict[str, Any]) -> bool:
    """False when the post already has a publication: the unique post_id is the last fence."""
    stmt = insert(Publication).values(**values).on_conflict_do_nothing(index_elements=[Publication.post_id])
    return ((await session.execute(stmt.returning(Publication.id))).scalar()) is not None


async def publication(session: AsyncSession, post_id: uuid.UUID) -> Publication | None:
    return (await session.execute(select(Publication).where(Publication.post_id == post_id))).scalar_one_or_none()


async def mark_retracted(session: AsyncSession, post_id: uuid.UUID) -> None:
    await session.execute(update(Publication).where(Publication.post_id == post_id).values(retracted_at=func.now()))


async def publications(session: AsyncSession, post_ids: list[uuid.UUID] | None = None,
                       account_id: uuid.UUID | None = None, limit: int = 1000) -> list[Publication]:
    stmt = select(Publication).order_by(Publication.sent_at).limit(limit)
    if post_ids is not None:
        stmt = stmt.where(Publication.post_id.in_(post_ids))
    if account_id is not None:
        stmt = stmt.where(Publication.account_id == account_id)
    return list((await session.execute(stmt)).scalars())


async def abandoned_sends(session: AsyncSession) -> list[Post]:
    """Sends whose worker vanished mid-call: the outcome is unknown, so they never go again."""
    stmt = (update(Post).where(Post.sending_since.is_not(None), Post.lease_until < func.now(),
                               Post.status == "publishing")
            .values(status="failed", sending_since=None, lease_until=None,
                    last_error="outcome unknown: the publishing worker stopped during the connector call; "
                               "check the platform before publishing again",
                    version=Post.version + 1, updated_at=func.now())
            .returning(Post).execution_options(synchronize_session=False))
    return list((await session.execute(stmt)).scalars())


async def now(session: AsyncSession):
    return (await session.execute(select(func.now()))).scalar_one()


async def lease_for(session: AsyncSession, post_id: uuid.UUID, seconds: float) -> None:
    await session.execute(text("UPDATE posts SET lease_until = now() + make_interval(secs => :s) WHERE id = :id"),
                          {"s": seconds, "id": post_id})


async def retry_in(session: AsyncSession, post_id: uuid.UUID, seconds: float) -> None:
    await session.execute(text("UPDATE posts SET next_attempt_at = now() + make_interval(secs => :s) WHERE id = :id"),
                          {"s": seconds, "id": post_id})
