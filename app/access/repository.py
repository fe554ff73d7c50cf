"""Every SQL statement of the access domain (grants, and the facts about users and
accounts that deciding a grant needs)."""
from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.access.policy import ORG_ONLY, GrantsVisible
from app.models import AccessGrant, Account, Brand, User
from app.sql import Statement

_LIVE = and_(AccessGrant.revoked_at.is_(None),
             or_(AccessGrant.expires_at.is_(None), AccessGrant.expires_at > func.now()))


def _needs_review_sql(require_training: bool) -> str:
    """A live grant whose authority is gone: the one who granted it (or who last confirmed it)
    could not grant it now — their admin or account-admin grant over its scope was revoked or
    expired, they left, their training lapsed, a service's admin tokens are gone — or it was
    granted to oneself (before that was refused). Correlated to the outer ``access_grants``."""
    org_only = ", ".join(f"'{r.value}'" for r in sorted(ORG_ONLY))
    trained = "true" if not require_training else "u.training_valid_until >= current_date"
    g = "access_grants"
    who = f"coalesce({g}.confirmed_by_id, {g}.granted_by_id)"
    return f"""(
      {g}.revoked_at IS NULL AND ({g}.expires_at IS NULL OR {g}.expires_at > now()) AND (
        ({g}.confirmed_by_id IS NULL AND {g}.granted_by_kind = 'user' AND {g}.granted_by_id = {g}.user_id)
        OR NOT CASE coalesce({g}.confirmed_by_kind, {g}.granted_by_kind)
          WHEN 'system' THEN true
          WHEN 'service' THEN EXISTS (
            SELECT 1 FROM api_tokens t
             WHERE t.service_id = {who} AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
               AND ('admin' = ANY(t.scopes) OR ({g}.role NOT IN ({org_only}) AND 'access:admin' = ANY(t.scopes))))
          WHEN 'user' THEN EXISTS (
            SELECT 1 FROM access_grants a JOIN users u ON u.id = a.user_id
             WHERE a.user_id = {who} AND u.status = 'active' AND a.revoked_at IS NULL
               AND (a.expires_at IS NULL OR a.expires_at > now())
               AND (a.role = 'admin' OR (a.role = 'account_admin' AND {g}.role NOT IN ({org_only}) AND {trained}
                    AND (a.scope_kind = 'organization'
                         OR (a.scope_kind = 'brand' AND a.brand_id = coalesce({g}.brand_id,
                               (SELECT ac.brand_id FROM accounts ac WHERE ac.id = {g}.account_id)))
                         OR (a.scope_kind = 'account' AND a.account_id = {g}.account_id)))))
          ELSE false END))"""


_NEEDS_REVIEW = {flag: literal_column(_needs_review_sql(flag)).label("needs_review") for flag in (True, False)}


def needs_review(require_training: bool):
    return _NEEDS_REVIEW[require_training]


async def live_grants(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[AccessGrant, uuid.UUID | None]]:
    """The one query behind effective permission: live grants of an active user."""
    rows = await session.execute(
        select(AccessGrant, func.coalesce(AccessGrant.brand_id, Account.brand_id))
        .join(User, User.id == AccessGrant.user_id)
        .outerjoin(Account, Account.id == AccessGrant.account_id)
        .where(AccessGrant.user_id == user_id, User.status == "active", _LIVE)
    )
    return [(g, b) for g, b in rows.all()]


async def user_facts(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await session.execute(
        select(User.id, User.status, User.training_valid_until, func.current_date().label("today"))
        .where(User.id == user_id)
    )).mappings().first()
    return dict(row) if row else None


async def today(session: AsyncSession):
    return (await session.execute(select(func.current_date()))).scalar_one()


async def account_brand(session: AsyncSession, account_id: uuid.UUID) -> uuid.UUID | None:
    return (await session.execute(select(Account.brand_id).where(Account.id == account_id))).scalar()


async def brand_exists(session: AsyncSession, brand_id: uuid.UUID) -> bool:
    return (await session.execute(select(Brand.id).where(Brand.id == brand_id))).scalar() is not None


async def stamp_expired_duplicate(session: AsyncSession, values: dict[str, Any]) -> list[AccessGrant]:
    """An expired but unstamped grant would block a new identical one: stamp it now."""
    stmt = (
        update(AccessGrant)
        .where(
            AccessGrant.user_id == values["user_id"], AccessGrant.role == values["role"],
            AccessGrant.scope_kind == values["scope_kind"],
            AccessGrant.brand_id.is_not_distinct_from(values["brand_id"]),
            AccessGrant.account_id.is_not_distinct_from(values["account_id"]),
            AccessGrant.revoked_at.is_(None), AccessGrant.expires_at <= func.now(),
        )
        .values(revoked_at=AccessGrant.expires_at, revoke_reason="expired")
        .returning(AccessGrant)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars())


_INSERT_GRANT = text(
    """
    INSERT INTO access_grants (id, user_id, role, scope_kind, brand_id, account_id, reason,
                               granted_by_kind, granted_by_id, expires_at)
    VALUES (:id, :user_id, :role, :scope_kind, :brand_id, :account_id, :reason,
            :granted_by_kind, :granted_by_id, :expires_at)
    ON CONFLICT (user_id, role, scope_kind,
                 coalesce(account_id, brand_id, '00000000-0000-0000-0000-000000000000'::uuid))
       WHERE revoked_at IS NULL
    DO NOTHING
    RETURNING id
    """
)


async def insert_grant(session: AsyncSession, values: dict[str, Any]) -> AccessGrant | None:
    """Insert unless an identical live grant exists; the unique index decides races."""
    new_id = (await session.execute(_INSERT_GRANT, values)).scalar()
    if new_id is None:
        return None
    return await get_grant(session, new_id)


async def live_duplicate(session: AsyncSession, values: dict[str, Any]) -> AccessGrant | None:
    stmt = select(AccessGrant).where(
        AccessGrant.user_id == values["user_id"], AccessGrant.role == values["role"],
        AccessGrant.scope_kind == values["scope_kind"],
        AccessGrant.brand_id.is_not_distinct_from(values["brand_id"]),
        AccessGrant.account_id.is_not_distinct_from(values["account_id"]),
        AccessGrant.revoked_at.is_(None),
    )
    return (await session.execute(stmt)).scalars().first()


async def get_grant(session: AsyncSession, grant_id: uuid.UUID) -> AccessGrant | None:
    stmt = select(AccessGrant).where(AccessGrant.id == grant_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def grant_brand(session: AsyncSession, grant: AccessGrant) -> uuid.UUID | None:
    if grant.account_id is not None:
        return await account_brand(session, grant.account_id)
    return grant.brand_id


async def revoke_grant(session: AsyncSession, grant_id: uuid.UUID, *, by_kind: str, by_id: uuid.UUID | None,
                       reason: str) -> AccessGrant | None:
    """Compare-and-set: only a grant not yet revoked is stamped; the loser gets None."""
    stmt = (
        update(AccessGrant)
        .where(AccessGrant.id == grant_id, AccessGrant.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_by_kind=by_kind, revoked_by_id=by_id, revoke_reason=reason)
        .returning(AccessGrant)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_grants(
    session: AsyncSession, *, user_id: uuid.UUID | None, account_id: uuid.UUID | None,
    brand_id: uuid.UUID | None, active: bool | None, review: bool | None, visible: GrantsVisible | None,
    require_training: bool, after: tuple[datetime, uuid.UUID] | None, limit: int,
) -> list[tuple[AccessGrant, bool]]:
    flag = needs_review(require_training)
    stmt = select(AccessGrant, flag).order_by(AccessGrant.created_at, AccessGrant.id).limit(limit)
    if user_id:
        stmt = stmt.where(AccessGrant.user_id == user_id)
    if account_id:
        stmt = stmt.where(AccessGrant.account_id == account_id)
    if brand_id:
        stmt = stmt.where(AccessGrant.brand_id == brand_id)
    if active is True:
        stmt = stmt.where(_LIVE)
    elif active is False:
        stmt = stmt.where(~_LIVE)
    if review is not None:
        stmt = stmt.where(flag.element if review else ~flag.element)
    if visible is not None:
        stmt = stmt.where(visible_grants_clause(visible))
    if after is not None:
        stmt = stmt.where(func.row(AccessGrant.created_at, AccessGrant.id) > func.row(*after))
    return [(g, bool(r)) for g, r in (await session.execute(stmt)).all()]


def visible_grants_clause(visible: GrantsVisible):
    """The SQL form of ``GrantsVisible.sees``."""
    clauses = [AccessGrant.user_id == visible.me] if visible.me else []
    if visible.brand_ids:
        account_in_brand = select(Account.id).where(Account.brand_id.in_(visible.brand_ids))
        clauses += [AccessGrant.brand_id.in_(visible.brand_ids), AccessGrant.account_id.in_(account_in_brand)]
    if visible.account_ids:
        clauses.append(AccessGrant.account_id.in_(visible.account_ids))
    return or_(*clauses) if clauses else text("false")


async def grants_of_user(session: AsyncSession, user_id: uuid.UUID,
                         require_training: bool) -> list[tuple[AccessGrant, uuid.UUID | None, bool]]:
    """Every unrevoked grant of a user (expired ones included), for the access report."""
    rows = await session.execute(
        select(AccessGrant, func.coalesce(AccessGrant.brand_id, Account.brand_id), needs_review(require_training))
        .outerjoin(Account, Account.id == AccessGrant.account_id)
        .where(AccessGrant.user_id == user_id, AccessGrant.revoked_at.is_(None))
        .order_by(AccessGrant.created_at)
    )
    return [(g, b, bool(r)) for g, b, r in rows.all()]


async def grant_needs_review(session: AsyncSession, grant_id: uuid.UUID, require_training: bool) -> bool:
    stmt = select(needs_review(require_training)).select_from(AccessGrant).where(AccessGrant.id == grant_id)
    return bool((await session.execute(stmt)).scalar())


async def confirm_grant(session: AsyncSession, grant_id: uuid.UUID, *, by_kind: str, by_id: uuid.UUID | None,
                        reason: str | None) -> AccessGrant | None:
    """Only a live grant is confirmed; None otherwise."""
    stmt = (
        update(AccessGrant)
        .where(AccessGrant.id == grant_id, _LIVE)
        .values(confirmed_at=func.now(), confirmed_by_kind=by_kind, confirmed_by_id=by_id, confirm_reason=reason)
        .returning(AccessGrant)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    return (await session.execute(stmt)).scalar_one_or_none()



@functools.cache
def _revoke_all_statement(audit_sql: str) -> Statement:
    """Prebuilt once per audit SQL (constant per caller): an offboarding is one statement here."""
    return Statement(
        "WITH revoked AS (UPDATE access_grants SET revoked_at = now(), revoked_by_kind = :by_kind,"
        " revoked_by_id = CAST(:by_id AS uuid), revoke_reason = :reason"
        " WHERE user_id = :user_id AND revoked_at IS NULL RETURNING id),"
        f" audited AS ({audit_sql}) SELECT id FROM revoked")


async def revoke_all_for_user(session: AsyncSession, user_id: uuid.UUID, *, by_kind: str, by_id: uuid.UUID | None,
                              reason: str, audit_sql: tuple[str, dict[str, Any]]) -> list[uuid.UUID]:
    """Stamp every unrevoked grant of a user in one statement, audited in it by ``audit_sql``
    (one bulk record over the CTE ``revoked``); the ids revoked."""
    sql, params = audit_sql
    rows = await _revoke_all_statement(sql).fetch(
        session, **params, user_id=user_id, by_kind=by_kind, by_id=str(by_id) if by_id else None, reason=reason)
    return [r["id"] for r in rows]


async def holders(session: AsyncSession, roles: list[str], trained_roles: list[str], require_training: bool,
                  brand_id: uuid.UUID, account_id: uuid.UUID) -> list[uuid.UUID]:
    """Active users whose live grants on this account (directly, by brand or organisation-wide)
    carry one of ``roles``; roles needing training count only with valid training."""
    trained_ok = or_(~AccessGrant.role.in_(trained_roles),
                     User.training_valid_until >= func.current_date()) if require_training else text("true")
    stmt = (
        select(AccessGrant.user_id).distinct()
        .join(User, User.id == AccessGrant.user_id)
        .where(_LIVE, User.status == "active", AccessGrant.role.in_(roles), trained_ok,
               or_(AccessGrant.scope_kind == "organization", AccessGrant.brand_id == brand_id,
                   AccessGrant.account_id == account_id))
    )
    return list((await session.execute(stmt)).scalars())


# --- admin continuity -----------------------------------------------------------------------
# One transaction-level advisory lock serialises every change that could remove the last
# working admin (and the bootstrap): the check after such a change then sees every other
# such change committed, so two admins removing each other at once cannot both succeed.
ADMIN_LOCK = text("SELECT pg_advisory_xact_lock(7235190417235002)")

# Someone can still administer over the API: a live admin-scoped token of a service, or of an
# active user who holds a live admin grant.
_WORKING_ADMIN = text(
    """
    SELECT EXISTS (
      SELECT 1 FROM api_tokens t
        LEFT JOIN users u ON u.id = t.user_id
       WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
         AND 'admin' = ANY(t.scopes)
         AND (t.service_id IS NOT NULL
              OR (u.status = 'active' AND EXISTS (
                    SELECT 1 FROM access_grants g
                     WHERE g.user_id = t.user_id AND g.role = 'admin' AND g.revoked_at IS NULL
                       AND (g.expires_at IS NULL OR g.expires_at > now()))))
    )
    """
)


async def lock_admins(session: AsyncSession) -> None:
    await session.execute(ADMIN_LOCK)


async def working_admin_exists(session: AsyncSession) -> bool:
    return bool((await session.execute(_WORKING_ADMIN)).scalar())


async def holds_live_admin(session: AsyncSession, user_id: uuid.UUID) -> bool:
    stmt = select(AccessGrant.id).where(AccessGrant.user_id == user_id, AccessGrant.role == "admin", _LIVE).limit(1)
    return (await session.execute(stmt)).first() is not None
