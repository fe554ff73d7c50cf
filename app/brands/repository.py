"""Every SQL statement of the brands domain."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, Brand

UNIQUE_VIOLATION: Any = object()


async def insert_brand(session: AsyncSession, values: dict[str, Any]) -> Brand | None:
    stmt = insert(Brand).values(**values).on_conflict_do_nothing().returning(Brand)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_brand(session: AsyncSession, brand_id: uuid.UUID, *, for_update: bool = False) -> Brand | None:
    """``for_update`` locks the row until the transaction ends: concurrent changes queue up
    instead of losing one another."""
    stmt = select(Brand).where(Brand.id == brand_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def readable(visible: tuple[set[uuid.UUID], set[uuid.UUID]] | None):
    """Row scoping: None = everything; else brands granted directly or through an account."""
    if visible is None:
        return text("true")
    brand_ids, account_ids = visible
    via_account = select(Account.brand_id).where(Account.id.in_(account_ids)) if account_ids else None
    clauses = []
    if brand_ids:
        clauses.append(Brand.id.in_(brand_ids))
    if via_account is not None:
        clauses.append(Brand.id.in_(via_account))
    return or_(*clauses) if clauses else text("false")


async def list_brands(session: AsyncSession, visible, after: tuple[datetime, uuid.UUID] | None,
                      limit: int) -> list[Brand]:
    stmt = select(Brand).where(readable(visible)).order_by(Brand.created_at, Brand.id).limit(limit)
    if after is not None:
        stmt = stmt.where(func.row(Brand.created_at, Brand.id) > func.row(*after))
    return list((await session.execute(stmt)).scalars())


async def update_brand(session: AsyncSession, brand_id: uuid.UUID, version: int, values: dict[str, Any]) -> Any:
    stmt = (update(Brand).where(Brand.id == brand_id, Brand.version == version)
            .values(**values, version=Brand.version + 1, updated_at=text("now()"))
            .returning(Brand).execution_options(populate_existing=True, synchronize_session=False))
    try:
        async with session.begin_nested():
            return (await session.execute(stmt)).scalar_one_or_none()
    except IntegrityError:
        return UNIQUE_VIOLATION
