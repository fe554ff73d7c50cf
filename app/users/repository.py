"""Every SQL statement of the users domain."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User, UserStatus


async def insert_user(session: AsyncSession, values: dict[str, Any]) -> User | None:
    """None when the email or external_id is taken (the unique indexes decide races)."""
    stmt = insert(User).values(**values).on_conflict_do_nothing().returning(User)
    return (await session.execute(stmt)).scalar_one_or_none()


async def email_taken(session: AsyncSession, email: str, except_id: uuid.UUID | None = None) -> bool:
    stmt = select(User.id).where(func.lower(User.email) == email.lower())
    if except_id:
        stmt = stmt.where(User.id != except_id)
    return (await session.execute(stmt)).first() is not None


async def get_user(session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
    """``for_update`` locks the row until the transaction ends: concurrent changes queue up
    instead of losing one another."""
    stmt = select(User).where(User.id == user_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_users(session: AsyncSession, *, only_id: uuid.UUID | None, status: str | None, q: str | None,
                     after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[User]:
    stmt = select(User).order_by(User.created_at, User.id).limit(limit)
    if only_id is not None:
        stmt = stmt.where(User.id == only_id)
    if status:
        stmt = stmt.where(User.status == status)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(User.email.ilike(like), User.display_name.ilike(like), User.external_id == q))
    if after is not None:
        stmt = stmt.where(func.row(User.created_at, User.id) > func.row(*after))
    return list((await session.execute(stmt)).scalars())


UNIQUE_VIOLATION: Any = object()
NOW: Any = text("now()")  # a value for a time column: the transaction's time, as the update writes it
# A change of only a known status (and its time) cannot break a constraint: no savepoint is
# needed to turn an IntegrityError into an answer.
_STATUS_ONLY = frozenset({"status", "status_changed_at"})
_STATUSES = frozenset(s.value for s in UserStatus)


async def update_user(session: AsyncSession, user_id: uuid.UUID, version: int, values: dict[str, Any]) -> Any:
    """Compare-and-set on version: a concurrent writer makes this return None; a taken
    email or external_id returns UNIQUE_VIOLATION."""
    stmt = (
        update(User).where(User.id == user_id, User.version == version)
        .values(**values, version=User.version + 1, updated_at=NOW)
        .returning(User).execution_options(populate_existing=True, synchronize_session=False)
    )
    if values.keys() <= _STATUS_ONLY and values.get("status") in _STATUSES:
        # A status change (an offboarding, a suspension): no violation to catch, so no savepoint
        # around it (two round trips fewer).
        return (await session.execute(stmt)).scalar_one_or_none()
    try:
        async with session.begin_nested():
            return (await session.execute(stmt)).scalar_one_or_none()
    except IntegrityError:
        return UNIQUE_VIOLATION


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).where(func.lower(User.email) == email.lower())
    return (await session.execute(stmt)).scalar_one_or_none()
