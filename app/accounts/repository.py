"""Every SQL statement of the accounts domain."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Uuid, bindparam, func, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, Brand, User

UNIQUE_VIOLATION: Any = object()


async def insert_account(session: AsyncSession, values: dict[str, Any]) -> Account | None:
    stmt = insert(Account).values(**values).on_conflict_do_nothing().returning(Account)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_account(session: AsyncSession, account_id: uuid.UUID, *, for_update: bool = False) -> Account | None:
    """``for_update`` locks the row until the transaction ends: concurrent changes queue up
    instead of losing one another."""
    stmt = select(Account).where(Account.id == account_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


_FACTS = select(Account.brand_id, Account.platform).where(Account.id == bindparam("account_id"))


async def facts(session: AsyncSession, account_id: uuid.UUID):
    """(brand_id, platform) of an account, unscoped (one prebuilt statement: post reads run it)."""
    return (await session.execute(_FACTS, {"account_id": account_id})).first()


async def brand_exists(session: AsyncSession, brand_id: uuid.UUID) -> bool:
    return (await session.execute(select(Brand.id).where(Brand.id == brand_id))).first() is not None


async def user_status(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    return (await session.execute(select(User.status).where(User.id == user_id))).scalar()


def readable(visible: tuple[set[uuid.UUID], set[uuid.UUID]] | None):
    """Row scoping: None = every account; else accounts of granted brands or granted directly."""
    if visible is None:
        return text("true")
    brand_ids, account_ids = visible
    clauses = []
    if brand_ids:
        clauses.append(Account.brand_id.in_(brand_ids))
    if account_ids:
        clauses.append(Account.id.in_(account_ids))
    return or_(*clauses) if clauses else text("false")


async def list_accounts(session: AsyncSession, visible, *, brand_id: uuid.UUID | None, platform: str | None,
                        status: str | None, needs_attention: bool | None,
                        after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Account]:
    stmt = select(Account).where(readable(visible)).order_by(Account.created_at, Account.id).limit(limit)
    if brand_id:
        stmt = stmt.where(Account.brand_id == brand_id)
    if platform:
        stmt = stmt.where(Account.platform == platform)
    if status:
        stmt = stmt.where(Account.status == status)
    if needs_attention is not None:
        flagged = or_(Account.needs_owner, Account.credentials_rotation_required, ~Account.two_factor_enabled)
        stmt = stmt.where(flagged if needs_attention else ~flagged)
    if after is not None:
        stmt = stmt.where(func.row(Account.created_at, Account.id) > func.row(*after))
    return list((await session.execute(stmt)).scalars())


async def update_account(session: AsyncSession, account_id: uuid.UUID, version: int, values: dict[str, Any]) -> Any:
    stmt = (update(Account).where(Account.id == account_id, Account.version == version)
            .values(**values, version=Account.version + 1, updated_at=text("now()"))
            .returning(Account).execution_options(populate_existing=True, synchronize_session=False))
    try:
        async with session.begin_nested():
            return (await session.execute(stmt)).scalar_one_or_none()
    except IntegrityError:
        return UNIQUE_VIOLATION


# One statement for both flags: the self-join reads each account as the statement found it, so
# only a flag this statement turned on is reported (the WHERE re-checks a row changed meanwhile).
_FLAG_FOR_LEAVER = text("""
UPDATE accounts a
   SET needs_owner = a.needs_owner OR coalesce(a.owner_id = :user_id, false),
       credentials_rotation_required = a.credentials_rotation_required
                                       OR coalesce(a.credential_custodian_id = :user_id, false),
       version = a.version + 1, updated_at = now()
  FROM accounts o
 WHERE o.id = a.id
   AND ((a.owner_id = :user_id AND NOT a.needs_owner)
        OR (a.credential_custodian_id = :user_id AND NOT a.credentials_rotation_required))
RETURNING a.*, coalesce(o.owner_id = :user_id AND NOT o.needs_owner, false) AS owner_flag,
          coalesce(o.credential_custodian_id = :user_id AND NOT o.credentials_rotation_required, false)
          AS custodian_flag
""").bindparams(bindparam("user_id", type_=Uuid))
_FLAGGED = (select(Account, literal_column("owner_flag", Boolean), literal_column("custodian_flag", Boolean))
            .from_statement(_FLAG_FOR_LEAVER).execution_options(populate_existing=True))


async def flag_for_leaver(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[Account, dict[str, Any]]]:
    """Owned accounts -> needs_owner; accounts whose credentials they held -> rotation required;
    in one statement. Each account once, with the flags this turned on."""
    rows = (await session.execute(_FLAGGED, {"user_id": user_id})).all()
    return [(a, {**({"needs_owner": True} if owner else {}),
                 **({"credentials_rotation_required": True} if custodian else {})})
            for a, owner, custodian in rows]
