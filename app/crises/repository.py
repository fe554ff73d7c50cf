"""Every SQL statement of the crisis domain, including its set-based freezes and releases
of posts (one statement each, whatever the number of posts)."""
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


def post_scope(scope_kind: str) -> str:
    """Which posts ``p`` a crisis of this kind covers (parameters :brand_ids / :account_ids)."""
    if scope_kind == "organization":
        return "TRUE"
    if scope_kind == "brands":
        return "p.account_id IN (SELECT a.id FROM accounts a WHERE a.brand_id = ANY(CAST(:brand_ids AS uuid[])))"
    return "p.account_id = ANY(CAST(:account_ids AS uuid[]))"


def scope_params(crisis: Crisis | dict[str, Any]) -> dict[str, Any]:
    get = crisis.get if isinstance(crisis, dict) else lambda k: getattr(crisis, k)
    return {"brand_ids": [str(b) for b in get("brand_ids") or []],
            "account_ids": [str(a) for a in get("account_ids") or []]}


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


# What a freeze pauses: scheduled posts, and claimed ones no send has begun for (a send under
# way holds the fence, so declare waits for it; one whose worker vanished mid-call has an
# unknown outcome and is never sent again, it fails). Each condition matches a partial index
# (ix_posts_due, ix_posts_claimed): no scan of the whole table under the exclusive fence.
_FREEZABLE = {"scheduled": "p.due_at IS NOT NULL AND p.status = 'scheduled'",
              "publishing": "(p.lease_until IS NOT NULL OR p.next_attempt_at IS NOT NULL)"
                            " AND p.status = 'publishing' AND p.sending_since IS NULL"}


async def count_in_scope(session: AsyncSession, scope_kind: str, params: dict[str, Any],
                         window: tuple[datetime | None, datetime | None] | None = None) -> int:
    freezable = " OR ".join(f"({w})" for w in _FREEZABLE.values())
    sql = f"SELECT count(*) FROM posts p WHERE ({freezable}) AND {post_scope(scope_kind)}"
    sql, params = _windowed(sql, params, window)
    return int((await session.execute(text(sql), params)).scalar())


def _windowed(sql: str, params: dict[str, Any], window) -> tuple[str, dict[str, Any]]:
    """Only posts whose slot falls in [starts, ends) (either end open when None)."""
    starts, ends = window or (None, None)
    if starts is not None:
        sql, params = sql + " AND p.scheduled_at >= :w_start", {**params, "w_start": starts}
    if ends is not None:
        sql, params = sql + " AND p.scheduled_at < :w_end", {**params, "w_end": ends}
    return sql, params


async def freeze(session: AsyncSession, crisis: Crisis, audit_sql, window=None) -> int:
    """Pause every scheduled (or claimed, not yet sent) post in scope, remembering its slot:
    one set-based statement per previous status, audited in that same statement.
    ``audit_sql(old_status)`` gives the audit insert over the CTE ``paused`` (id).

    No index names a column this changes (app/models/posts.py), so every row is updated in
    place (HOT): that is what keeps 100,000 posts well under a second."""
    total = 0
    # scheduled first: a claim committing between the two statements is then caught by the
    # second (a new snapshot), so the count and the audit miss nothing.
    for old_status, freezable in _FREEZABLE.items():
        where = f"{freezable} AND {post_scope(crisis.scope_kind)}"
        where, params = _windowed(where, scope_params(crisis), window)
        audit_sql_text, audit_params = audit_sql(old_status)
        sql = f"""
        WITH paused AS (
            UPDATE posts p SET status = 'paused', paused_by_crisis_id = CAST(:crisis_id AS uuid),
                   lease_until = NULL, next_attempt_at = NULL, version = p.version + 1, updated_at = now()
             WHERE {where}
            RETURNING p.id
        ), audited AS ({audit_sql_text})
        SELECT count(*) FROM paused
        """
        result = await session.execute(text(sql), {**params, **audit_params, "crisis_id": str(crisis.id)})
        total += int(result.scalar())
    return total


async def hand_over(session: AsyncSession, crisis_id: uuid.UUID, audit_sql: tuple[str, dict[str, Any]],
                    *, windows_ahead: bool) -> int:
    """Posts this crisis paused that another crisis still holds: one in force whose horizon
    (``ends_at``) is past the post's slot, or — ``windows_ahead``, when posts go back on
    schedule — a window ahead whose span holds the slot. That one holds them now, whatever
    this one's resolution. ``audit_sql`` audits the CTE ``handed`` (id, crisis_id)."""
    ahead = (" OR (c.status = 'scheduled' AND p.scheduled_at >= c.starts_at"
             " AND (c.ends_at IS NULL OR p.scheduled_at < c.ends_at))") if windows_ahead else ""
    other = f"""
        SELECT c.id FROM crises c JOIN accounts a ON a.id = p.account_id
         WHERE c.id <> CAST(:crisis_id AS uuid)
           AND (({_IN_FORCE} AND (c.ends_at IS NULL OR p.scheduled_at IS NULL OR p.scheduled_at < c.ends_at)){ahead})
           AND (c.scope_kind = 'organization' OR p.account_id = ANY(c.account_ids) OR a.brand_id = ANY(c.brand_ids))
    """
    audit_sql_text, audit_params = audit_sql
    sql = f"""
    WITH handed AS (
        UPDATE posts p SET paused_by_crisis_id = ({other} ORDER BY c.declared_at LIMIT 1),
               version = p.version + 1, updated_at = now()
         WHERE p.paused_by_crisis_id = CAST(:crisis_id AS uuid) AND p.status = 'paused' AND EXISTS ({other})
        RETURNING p.id, p.paused_by_crisis_id AS crisis_id
    ), audited AS ({audit_sql_text})
    SELECT count(*) FROM handed
    """
    return int((await session.execute(text(sql), {**audit_params, "crisis_id": str(crisis_id)})).scalar())


_RELEASE = {
    # review: the world changed — back to review, every approval voided (a new round).
    "review": "status = 'in_review', review_round = p.review_round + 1, approved_revision = NULL,"
              " approved_content_hash = NULL",
    # resume: future slots back on schedule; passed slots approved but unscheduled (never a burst).
    "resume": "status = CASE WHEN p.scheduled_at > now() THEN 'scheduled' ELSE 'approved' END",
    "cancel": "status = 'withdrawn'",
}
OUTCOME = {"in_review": "review", "scheduled": "resumed", "approved": "unscheduled", "withdrawn": "cancelled"}


async def release(session: AsyncSession, crisis_id: uuid.UUID, resolution: str,
                  audit_sql: tuple[str, dict[str, Any]]) -> dict[str, int]:
    set_clause = _RELEASE[resolution]
    audit_sql_text, audit_params = audit_sql
    sql = f"""
    WITH released AS (
        UPDATE posts p SET {set_clause}, paused_by_crisis_id = NULL, version = p.version + 1, updated_at = now()
         WHERE p.paused_by_crisis_id = CAST(:crisis_id AS uuid) AND p.status = 'paused'
        RETURNING p.id, p.status, p.scheduled_at
    ), audited AS ({audit_sql_text})
    SELECT status, count(*) FROM released GROUP BY status
    """
    rows = await session.execute(text(sql), {**audit_params, "crisis_id": str(crisis_id)})
    return {OUTCOME[k]: int(v) for k, v in rows.all()}


async def published_since(session: AsyncSession, crisis: Crisis, since: datetime) -> list[uuid.UUID]:
    sql = (f"SELECT p.id FROM posts p WHERE p.published_at >= :since AND p.status = 'published'"
           f" AND {post_scope(crisis.scope_kind)} ORDER BY p.published_at")
    rows = await session.execute(text(sql), {**scope_params(crisis), "since": since})
    return list(rows.scalars())


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


async def clock(session: AsyncSession) -> datetime:
    return (await session.execute(select(func.clock_timestamp()))).scalar_one()


