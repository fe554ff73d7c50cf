"""Every SQL statement of the crisis domain. The set-based freezes and releases of posts are
the posts domain's (app/posts/moves.py)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Uuid, any_, cast, exists, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, Crisis, CrisisEvent

# A crisis holds now when it is active, or when its window has begun but the worker has not
# switched it on yet (the fence must not depend on the worker's punctuality).
_IN_FORCE = "(c.status = 'active' OR (c.status = 'scheduled' AND c.starts_at <= now()))"
_COVERS = ("(c.scope_kind = 'organization' OR CAST(:account_id AS uuid) = ANY(c.account_ids)"
           " OR CAST(:brand_id AS uuid) = ANY(c.brand_ids))")


def in_force_ids_sql(account: str, brand: str) -> str:
    """An SQL expression: the ids (uuid[], oldest first) of the crises in force over the account
    ``account`` of brand ``brand`` (SQL expressions), for a statement that reads posts."""
    covers = f"(c.scope_kind = 'organization' OR {account} = ANY(c.account_ids) OR {brand} = ANY(c.brand_ids))"
    return f"ARRAY(SELECT c.id FROM crises c WHERE {_IN_FORCE} AND {covers} ORDER BY c.declared_at)"


async def insert_crisis(session: AsyncSession, values: dict[str, Any]) -> Crisis:
    return (await session.execute(insert(Crisis).values(**values).returning(Crisis))).scalar_one()


async def get_crisis(session: AsyncSession, crisis_id: uuid.UUID, *, for_update: bool = False) -> Crisis | None:
    stmt = select(Crisis).where(Crisis.id == crisis_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def update_crisis(session: AsyncSession, crisis_id: uuid.UUID, values: dict[str, Any]) -> Crisis:
    stmt = (update(Crisis).where(Crisis.id == crisis_id).values(**values, version=Crisis.version + 1)
            .returning(Crisis).execution_options(populate_existing=True, synchronize_session=False))
    return (await session.execute(stmt)).scalar_one()


def _readable_by(brand_wide: set[uuid.UUID], brand_ids: set[uuid.UUID], account_ids: set[uuid.UUID]):
    """Organisation-wide crises, brand crises over ``brand_wide``, account crises over
    ``account_ids`` or an account of ``brand_ids`` (app/crises/service.py says why)."""
    def uuids(ids: set[uuid.UUID]):
        return cast(sorted(ids, key=str), ARRAY(Uuid))
    return or_(Crisis.scope_kind == "organization", Crisis.brand_ids.overlap(uuids(brand_wide)),
               Crisis.account_ids.overlap(uuids(account_ids)),
               exists().where(Account.id == any_(Crisis.account_ids), Account.brand_id == any_(uuids(brand_ids))))


async def list_crises(session: AsyncSession, *, status: list[str] | None, after: tuple[datetime, uuid.UUID] | None,
                      limit: int, readable: tuple[set[uuid.UUID], set[uuid.UUID], set[uuid.UUID]] | None = None,
                      ) -> list[Crisis]:
    """``readable``: what the caller sees (app/crises/service.py); None: every crisis."""
    stmt = select(Crisis).order_by(Crisis.declared_at.desc(), Crisis.id.desc()).limit(limit)
    if readable is not None:
        stmt = stmt.where(_readable_by(*readable))
    if status:
        stmt = stmt.where(Crisis.status.in_(status))
    if after is not None:
        stmt = stmt.where(func.row(Crisis.declared_at, Crisis.id) < func.row(*after))
    return list((await session.execute(stmt)).scalars())


async def add_event(session: AsyncSession, crisis_id: uuid.UUID, kind: str, actor_kind: str,
                    actor_id: uuid.UUID | None, detail: dict[str, Any]) -> None:
    await session.execute(insert(CrisisEvent).values(crisis_id=crisis_id, kind=kind, actor_kind=actor_kind,
                                                     actor_id=actor_id, detail=detail))


async def timeline(session: AsyncSession, crisis_id: uuid.UUID) -> list[CrisisEvent]:
    stmt = select(CrisisEvent).where(CrisisEvent.crisis_id == crisis_id).order_by(CrisisEvent.id)
    return list((await session.execute(stmt)).scalars())


async def in_force_for(session: AsyncSession, account_id: uuid.UUID, brand_id: uuid.UUID) -> list[Crisis]:
    stmt = select(Crisis).from_statement(text(
        f"SELECT c.* FROM crises c WHERE {_IN_FORCE} AND {_COVERS} ORDER BY c.declared_at"))
    rows = await session.execute(stmt, {"account_id": str(account_id), "brand_id": str(brand_id)})
    return list(rows.scalars())


async def open_crises(session: AsyncSession) -> list[Crisis]:
    """Every crisis in force or ahead (few at any time): callers match scopes in memory."""
    stmt = select(Crisis).where(Crisis.status != "resolved").order_by(Crisis.declared_at)
    return list((await session.execute(stmt)).scalars())


async def windows_at(session: AsyncSession, account_id: uuid.UUID, brand_id: uuid.UUID,
                     when: datetime) -> list[Crisis]:
    """Blackout windows ahead that would hold ``when``."""
    stmt = select(Crisis).from_statement(text(
        f"SELECT c.* FROM crises c WHERE c.status = 'scheduled' AND {_COVERS}"
        " AND c.starts_at <= :when AND (c.ends_at IS NULL OR :when < c.ends_at)"))
    rows = await session.execute(stmt, {"account_id": str(account_id), "brand_id": str(brand_id), "when": when})
    return list(rows.scalars())


async def account_brands(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    if not ids:
        return {}
    rows = await session.execute(select(Account.id, Account.brand_id).where(Account.id.in_(ids)))
    return dict(rows.all())


async def existing(session: AsyncSession, table: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.execute(text(f"SELECT id FROM {table} WHERE id = ANY(CAST(:ids AS uuid[]))"),
                                 {"ids": [str(i) for i in ids]})
    return set(rows.scalars())


async def any_window_due(session: AsyncSession) -> bool:
    return bool((await session.execute(text(
        "SELECT EXISTS (SELECT 1 FROM crises WHERE (status = 'scheduled' AND starts_at <= now())"
        " OR (status = 'active' AND ends_at <= now()))"))).scalar())


async def due_windows(session: AsyncSession) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(windows to switch on, windows to end): skip-locked so several workers share them."""
    start = await session.execute(text(
        "SELECT id FROM crises WHERE status = 'scheduled' AND starts_at <= now() FOR UPDATE SKIP LOCKED"))
    starting = list(start.scalars())
    end = await session.execute(text(
        "SELECT id FROM crises WHERE status = 'active' AND ends_at <= now() FOR UPDATE SKIP LOCKED"))
    return starting, list(end.scalars())
