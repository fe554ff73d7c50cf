"""Every SQL statement of the content domain."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, ContentRule

_ORG_WIDE = and_(ContentRule.account_id.is_(None), ContentRule.brand_id.is_(None))


async def insert_rule(session: AsyncSession, values: dict[str, Any]) -> ContentRule:
    stmt = insert(ContentRule).values(**values).returning(ContentRule)
    return (await session.execute(stmt)).scalar_one()


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> tuple[ContentRule, uuid.UUID | None] | None:
    """The rule and, for an account rule, the account's brand (visibility needs it)."""
    stmt = (select(ContentRule, Account.brand_id).outerjoin(Account, Account.id == ContentRule.account_id)
            .where(ContentRule.id == rule_id).execution_options(populate_existing=True))
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


def readable(visible: tuple[set[uuid.UUID], set[uuid.UUID]] | None):
    """Row scoping: None = every rule; else organisation rules and rules on the brands and
    accounts granted (a brand grant shows its accounts' rules; an account grant its brand's)."""
    if visible is None:
        return true()
    brand_ids, account_ids = visible
    clauses = [_ORG_WIDE]
    if brand_ids:
        clauses += [ContentRule.brand_id.in_(brand_ids),
                    ContentRule.account_id.in_(select(Account.id).where(Account.brand_id.in_(brand_ids)))]
    if account_ids:
        clauses += [ContentRule.account_id.in_(account_ids),
                    ContentRule.brand_id.in_(select(Account.brand_id).where(Account.id.in_(account_ids)))]
    return or_(*clauses)


def applying_to(account_id: uuid.UUID, brand_id: uuid.UUID):
    """Rules that apply to an account: organisation-wide, its brand's, its own."""
    return or_(_ORG_WIDE, ContentRule.brand_id == brand_id, ContentRule.account_id == account_id)


async def list_rules(session: AsyncSession, visible, *, account_id: uuid.UUID | None, brand_id: uuid.UUID | None,
                     kind: str | None, include_deleted: bool, applies_to: tuple[uuid.UUID, uuid.UUID] | None,
                     after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[ContentRule]:
    stmt = (select(ContentRule).where(readable(visible))
            .order_by(ContentRule.created_at, ContentRule.id).limit(limit))
    if account_id is not None:
        stmt = stmt.where(ContentRule.account_id == account_id)
    if brand_id is not None:
        stmt = stmt.where(ContentRule.brand_id == brand_id)
    if kind is not None:
        stmt = stmt.where(ContentRule.kind == kind)
    if not include_deleted:
        stmt = stmt.where(ContentRule.deleted_at.is_(None))
    if applies_to is not None:
        stmt = stmt.where(applying_to(*applies_to))
    if after is not None:
        stmt = stmt.where(func.row(ContentRule.created_at, ContentRule.id) > func.row(*after))
    return list((await session.execute(stmt)).scalars())


async def soft_delete(session: AsyncSession, rule_id: uuid.UUID) -> ContentRule | None:
    """Stamp ``deleted_at`` once; None when it was already stamped (a concurrent delete)."""
    stmt = (update(ContentRule).where(ContentRule.id == rule_id, ContentRule.deleted_at.is_(None))
            .values(deleted_at=func.now()).returning(ContentRule)
            .execution_options(populate_existing=True, synchronize_session=False))
    return (await session.execute(stmt)).scalar_one_or_none()


async def applicable_rules(session: AsyncSession, account_id: uuid.UUID, brand_id: uuid.UUID) -> list[ContentRule]:
    stmt = (select(ContentRule)
            .where(ContentRule.deleted_at.is_(None), applying_to(account_id, brand_id))
            .order_by(ContentRule.created_at, ContentRule.id))
    return list((await session.execute(stmt)).scalars())
