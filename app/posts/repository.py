"""Every SQL statement of the posts domain."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, Post, PostRevision

# Posts still being decided whose slot has passed: they never go out on their own.
MISSING_STATES = ("in_review", "changes_requested")


async def insert_post(session: AsyncSession, values: dict[str, Any]) -> Post:
    return (await session.execute(insert(Post).values(**values).returning(Post))).scalar_one()


async def insert_revision(session: AsyncSession, values: dict[str, Any]) -> PostRevision:
    return (await session.execute(insert(PostRevision).values(**values).returning(PostRevision))).scalar_one()


async def get_post(session: AsyncSession, post_id: uuid.UUID, *, for_update: bool = False) -> Post | None:
    """``for_update`` serialises every change of one post: transitions, edits, decisions."""
    stmt = select(Post).where(Post.id == post_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def account_facts(session: AsyncSession, account_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
    row = (await session.execute(select(Account.brand_id, Account.platform).where(Account.id == account_id))).first()
    return (row[0], row[1]) if row else None


async def get_revision(session: AsyncSession, post_id: uuid.UUID, number: int) -> PostRevision | None:
    stmt = (select(PostRevision).where(PostRevision.post_id == post_id, PostRevision.number == number)
            .execution_options(populate_existing=True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def revisions_of(session: AsyncSession, keys: list[tuple[uuid.UUID, int]]) -> list[PostRevision]:
    """Batch form: many (post, number) at once (loaders, lists)."""
    if not keys:
        return []
    stmt = select(PostRevision).where(
        func.row(PostRevision.post_id, PostRevision.number).in_([func.row(*k) for k in keys]))
    return list((await session.execute(stmt)).scalars())


async def list_revisions(session: AsyncSession, post_ids: list[uuid.UUID]) -> list[PostRevision]:
    stmt = (select(PostRevision).where(PostRevision.post_id.in_(post_ids))
            .order_by(PostRevision.post_id, PostRevision.number))
    return list((await session.execute(stmt)).scalars())


async def set_review(session: AsyncSession, post_id: uuid.UUID, number: int, values: dict[str, Any]) -> None:
    """The review facts a submit attaches to a revision (findings, risk, stages, policy)."""
    await session.execute(update(PostRevision).where(PostRevision.post_id == post_id, PostRevision.number == number)
                          .values(**values).execution_options(synchronize_session=False))


async def update_post(session: AsyncSession, post_id: uuid.UUID, version: int, values: dict[str, Any]) -> Post | None:
    """Compare-and-set on version (the row is already locked; this is the second fence)."""
    stmt = (update(Post).where(Post.id == post_id, Post.version == version)
            .values(**values, version=Post.version + 1, updated_at=text("now()"))
            .returning(Post).execution_options(populate_existing=True, synchronize_session=False))
    return (await session.execute(stmt)).scalar_one_or_none()


def readable(visible: tuple[set[uuid.UUID], set[uuid.UUID]] | None):
    if visible is None:
        return text("true")
    brand_ids, account_ids = visible
    clauses = []
    if brand_ids:
        clauses.append(Post.account_id.in_(select(Account.id).where(Account.brand_id.in_(brand_ids))))
    if account_ids:
        clauses.append(Post.account_id.in_(account_ids))
    return or_(*clauses) if clauses else text("false")


async def list_posts(session: AsyncSession, visible, *, account_id: uuid.UUID | None, status: list[str] | None,
                     author_id: uuid.UUID | None, label: str | None, scheduled_from: datetime | None,
                     scheduled_to: datetime | None, missed_schedule: bool | None,
                     after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Post]:
    stmt = select(Post).where(readable(visible)).order_by(Post.created_at, Post.id).limit(limit)
    if account_id:
        stmt = stmt.where(Post.account_id == account_id)
    if status:
        stmt = stmt.where(Post.status.in_(status))
    if author_id:
        stmt = stmt.where(Post.author_id == author_id)
    if label:
        stmt = stmt.where(Post.labels.contains([label]))
    if scheduled_from:
        stmt = stmt.where(Post.scheduled_at >= scheduled_from)
    if scheduled_to:
        stmt = stmt.where(Post.scheduled_at < scheduled_to)
    if missed_schedule is not None:
        missed = or_(Post.missed_schedule, and_(Post.status.in_(MISSING_STATES), Post.scheduled_at <= func.now()))
        stmt = stmt.where(missed if missed_schedule else ~missed)
    if after is not None:
        stmt = stmt.where(func.row(Post.created_at, Post.id) > func.row(*after))
    return list((await session.execute(stmt)).scalars())


async def flag_missed(session: AsyncSession, limit: int = 1000) -> list[Post]:
    """Stamp posts whose slot passed while still under review (set-based, skip locked rows)."""
    # review_due_at (generated, app/models/posts.py): the slot of an unflagged post in review.
    due = (select(Post.id).where(Post.review_due_at <= func.now(), Post.status.in_(MISSING_STATES),
                                 Post.missed_schedule.is_(False))
           .limit(limit).with_for_update(skip_locked=True))
    stmt = (update(Post).where(Post.id.in_(due.scalar_subquery()))
            .values(missed_schedule=True, version=Post.version + 1, updated_at=text("now()"))
            .returning(Post).execution_options(synchronize_session=False))
    return list((await session.execute(stmt)).scalars())


async def now(session: AsyncSession) -> datetime:
    return (await session.execute(select(func.now()))).scalar_one()


async def account_brands(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    if not ids:
        return {}
    return dict((await session.execute(select(Account.id, Account.brand_id).where(Account.id.in_(ids)))).all())
