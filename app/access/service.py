"""Access: grants and the one function that decides effective permission.

Everything that asks "may this principal do X on that account?" calls
``effective_access`` and asks the returned ``Access``.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.access import repository
from app.access.errors import (
    CannotGrant, GrantAlreadyRevoked, GrantExceedsHolder, GrantExists, GrantNotFound, InvalidGrantScope, LastAdmin,
    SelfGrant, TrainingRequired, UserNotActive,
)
from app.access.policy import (
    LADDER, ORG_ONLY, TRAINED_ROLES, Access, GrantFact, Role, ScopeKind, effective_role, training_valid,
)
from app.audit import service as audit
from app.config import get_settings
from app.errors import NotFound, ValidationFailed
from app.models import AccessGrant
from app.pagination import PageParams, cursor_after
from app.security import Principal, PrincipalKind, Scope

AUDIT_FIELDS = ("user_id", "role", "scope_kind", "brand_id", "account_id", "reason", "expires_at",
                "revoked_at", "revoke_reason", "confirmed_by_kind", "confirmed_by_id", "confirmed_at", "confirm_reason")


def grant_snapshot(g: AccessGrant) -> dict:
    return {f: getattr(g, f) for f in AUDIT_FIELDS}


def _service_ladder(principal: Principal) -> Role | None:
    if principal.has_scope(Scope.access_admin):
        return Role.account_admin
    if principal.has_scope(Scope.posts_write):
        return Role.contributor
    if principal.has_scope(Scope.posts_read, Scope.access_read):
        return Role.viewer
    return None


async def effective_access(session: AsyncSession, principal: Principal) -> Access:
    """What ``principal`` may do now. Revoked and expired grants never count; a suspended
    or offboarded user holds nothing; lapsed training caps a role at contributor."""
    if principal.kind is PrincipalKind.system:
        return Access(admin=True)
    if principal.kind is PrincipalKind.service:
        return Access(admin=Scope.admin in principal.scopes, org_ladder=_service_ladder(principal), service=True)
    if principal.facts is not None:
        # Read by authentication's one statement: computed once per request, shared by every check.
        access = principal.extra.get("access")
        if access is None:
            access = principal.extra["access"] = _access(principal.facts.grants, principal.facts.training_valid_until,
                                                         principal.facts.today)
        return access
    facts = await repository.user_facts(session, principal.id)
    if facts is None or facts["status"] != "active":
        return Access()
    rows = [(g.id, g.role, g.scope_kind, brand, g.account_id, g.expires_at)
            for g, brand in await repository.live_grants(session, principal.id)]
    return _access(rows, facts["training_valid_until"], facts["today"])


def _access(rows, training_valid_until, today) -> Access:
    """``rows``: (id, role, scope_kind, brand_id, account_id, expires_at) of live grants."""
    trained = training_valid(training_valid_until, today)
    required = get_settings().require_training
    grants = []
    for grant_id, role, scope_kind, brand, account_id, expires_at in rows:
        role = Role(role)
        grants.append(GrantFact(grant_id, role, ScopeKind(scope_kind), brand, account_id, expires_at,
                                effective_role(role, trained=trained, require_training=required)))
    return Access(admin=any(g.effective_role is Role.admin for g in grants), grants=grants)


# --- grants -------------------------------------------------------------------------------

@dataclass
class GrantRequest:
    user_id: uuid.UUID
    role: Role
    account_id: uuid.UUID | None
    brand_id: uuid.UUID | None
    expires_at: datetime | None
    reason: str | None


async def _target(session: AsyncSession, access: Access, account_id, brand_id) -> tuple[ScopeKind, uuid.UUID | None]:
    """Resolve the scope; a caller who cannot see it learns nothing (404)."""
    if account_id is not None:
        brand = await repository.account_brand(session, account_id)
        if brand is None or not access.sees(brand, account_id):
            raise NotFound("No such account.", pointer="#/account_id")
        return ScopeKind.account, brand
    if brand_id is not None:
        if not await repository.brand_exists(session, brand_id) or not access.sees_brand(brand_id):
            raise NotFound("No such brand.", pointer="#/brand_id")
        return ScopeKind.brand, brand_id
    return ScopeKind.organization, None


def _authorise(access: Access, role: Role, brand_id, account_id, expires_at: datetime | None) -> None:
    if access.admin:
        return
    if role in ORG_ONLY:
        raise CannotGrant(f"Only an admin can grant or revoke the {role.value} role.")
    holding = access.authorising_grants(brand_id, account_id)
    if not holding and access.org_ladder is not Role.account_admin:
        raise CannotGrant("Only an account admin of this scope, or an admin, can grant or revoke here.")
    if access.org_ladder is Role.account_admin:
        return
    # Nobody grants more than they hold: time-boxed admins hand out time-boxed access.
    if all(g.expires_at is not None for g in holding):
        limit = max(g.expires_at for g in holding)  # type: ignore[type-var]
        if expires_at is None or expires_at > limit:
            raise GrantExceedsHolder(
                f"Your own access here ends at {limit.isoformat()}; the grant must expire by then.",
                pointer="#/expires_at", holder_expires_at=limit.isoformat(),
            )


def _not_self(principal: Principal, user_id: uuid.UUID, what: str) -> None:
    """Nobody grants, raises or vouches for their own access, admins included: a second
    admin (or account admin) must. The bootstrap (``system``) is the one exception."""
    if principal.is_user and principal.id == user_id:
        raise SelfGrant(f"You cannot {what} your own access; another admin or account admin of the scope must.",
                        pointer="#/user_id")


async def create_grant(session: AsyncSession, principal: Principal, req: GrantRequest) -> AccessGrant:
    access = await effective_access(session, principal)
    if req.account_id is not None and req.brand_id is not None:
        raise ValidationFailed("Give account_id or brand_id, not both (neither = organisation).",
                               pointer="#/brand_id")
    kind, brand = await _target(session, access, req.account_id, req.brand_id)
    if req.role in ORG_ONLY and kind is not ScopeKind.organization:
        raise InvalidGrantScope(f"The {req.role.value} role is organisation-wide; omit account_id and brand_id.",
                                pointer="#/role")
    now = await clock.transaction_time(session)
    if req.expires_at is not None and req.expires_at <= now:
        raise ValidationFailed("expires_at must be in the future.", pointer="#/expires_at")
    _authorise(access, req.role, brand, req.account_id, req.expires_at)
    _not_self(principal, req.user_id, "grant")
    user = await repository.user_facts(session, req.user_id)
    if user is None:
        raise NotFound("No such user.", pointer="#/user_id")
    if user["status"] != "active":
        raise UserNotActive(f"The user is {user['status']}; only active users hold grants.", pointer="#/user_id")
    if (req.role in TRAINED_ROLES and get_settings().require_training
            and not training_valid(user["training_valid_until"], user["today"])):
        raise TrainingRequired(
            f"The {req.role.value} role needs valid training; the user's training "
            f"{'ended ' + user['training_valid_until'].isoformat() if user['training_valid_until'] else 'is not recorded'}.",
            pointer="#/user_id",
        )
    values = {
        "id": uuid.uuid4(), "user_id": req.user_id, "role": req.role.value, "scope_kind": kind.value,
        "brand_id": req.brand_id if kind is ScopeKind.brand else None,
        "account_id": req.account_id, "reason": req.reason, "granted_by_kind": str(principal.kind),
        "granted_by_id": principal.id, "expires_at": req.expires_at,
    }
    for stale in await repository.stamp_expired_duplicate(session, values):
        await audit.record(session, principal, "grant.expired", "grant", stale.id,
                           before={"revoked_at": None}, after={"revoked_at": stale.revoked_at,
                                                               "revoke_reason": "expired"})
    grant = await repository.insert_grant(session, values)
    if grant is None:
        existing = await repository.live_duplicate(session, values)
        raise GrantExists("This user already holds this role on this scope.",
                          existing_grant_id=str(existing.id) if existing else None)
    await audit.record(session, principal, "grant.created", "grant", grant.id, after=grant_snapshot(grant))
    return grant


async def _visible_grant(session: AsyncSession, access: Access, principal: Principal,
                         grant_id: uuid.UUID) -> tuple[AccessGrant, uuid.UUID | None]:
    grant = await repository.get_grant(session, grant_id)
    if grant is None:
        raise GrantNotFound("No such grant.")
    brand = await repository.grant_brand(session, grant)
    visible = access.grants_visible(principal.id if principal.is_user else None)
    if visible is not None and not visible.sees(grant.user_id, brand, grant.account_id):
        raise GrantNotFound("No such grant.")
    return grant, brand


async def get_grant(session: AsyncSession, principal: Principal, grant_id: uuid.UUID) -> tuple[AccessGrant, bool]:
    """The grant and whether it needs review."""
    access = await effective_access(session, principal)
    grant = (await _visible_grant(session, access, principal, grant_id))[0]
    return grant, await repository.grant_needs_review(session, grant_id, get_settings().require_training)


async def confirm_grant(session: AsyncSession, principal: Principal, grant_id: uuid.UUID,
                        reason: str | None) -> AccessGrant:
    """An access review: someone who may grant this now vouches for it; it then rests on their
    authority (and is flagged again if they lose it)."""
    access = await effective_access(session, principal)
    grant, brand = await _visible_grant(session, access, principal, grant_id)
    _authorise(access, Role(grant.role), brand, grant.account_id, grant.expires_at)
    _not_self(principal, grant.user_id, "confirm")
    before = grant_snapshot(grant)
    confirmed = await repository.confirm_grant(session, grant_id, by_kind=str(principal.kind), by_id=principal.id,
                                               reason=reason)
    if confirmed is None:
        raise GrantAlreadyRevoked("Only a live grant can be confirmed; this one is revoked or expired.")
    await audit.record(session, principal, "grant.confirmed", "grant", grant_id, before=before,
                       after=grant_snapshot(confirmed))
    return confirmed


async def revoke_grant(session: AsyncSession, principal: Principal, grant_id: uuid.UUID, reason: str,
                       *, correlation_id: str | None = None) -> AccessGrant:
    access = await effective_access(session, principal)
    grant, brand = await _visible_grant(session, access, principal, grant_id)
    _authorise_revoke(access, Role(grant.role), brand, grant.account_id)
    before = grant_snapshot(grant)
    revoked = await repository.revoke_grant(session, grant_id, by_kind=str(principal.kind), by_id=principal.id,
                                            reason=reason)
    if revoked is None:
        raise GrantAlreadyRevoked("The grant is already revoked.")
    if revoked.role == Role.admin:
        await require_working_admin(session, "Revoking this admin grant")
    await audit.record(session, principal, "grant.revoked", "grant", grant_id, before=before,
                       after=grant_snapshot(revoked), correlation_id=correlation_id)
    return revoked


def _authorise_revoke(access: Access, role: Role, brand_id, account_id) -> None:
    if access.admin or access.org_ladder is Role.account_admin and role not in ORG_ONLY:
        return
    if role in ORG_ONLY:
        raise CannotGrant(f"Only an admin can revoke the {role.value} role.")
    if not access.authorising_grants(brand_id, account_id):
        raise CannotGrant("Only an account admin of this scope, or an admin, can revoke here.")


async def list_grants(session: AsyncSession, principal: Principal, *, user_id=None, account_id=None,
                      brand_id=None, active: bool | None = None, needs_review: bool | None = None,
                      page: PageParams) -> list[tuple[AccessGrant, bool]]:
    """Grants the caller may see, each with whether it needs review."""
    access = await effective_access(session, principal)
    return await repository.list_grants(
        session, user_id=user_id, account_id=account_id, brand_id=brand_id, active=active, review=needs_review,
        visible=access.grants_visible(principal.id if principal.is_user else None),
        require_training=get_settings().require_training, after=cursor_after(page), limit=page.limit + 1)


@dataclass
class AccessEntry:
    grant: AccessGrant
    brand_id: uuid.UUID | None
    effective_role: Role | None
    effective: bool
    reason: str | None
    needs_review: bool = False


async def user_access(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> tuple[dict, list[AccessEntry]]:
    """Every unrevoked grant of a user that the caller may see, with whether it counts now and
    why not. The caller checked that it may see the user."""
    user = await repository.user_facts(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    access = await effective_access(session, principal)
    visible = access.grants_visible(principal.id if principal.is_user else None)
    now = await clock.transaction_time(session)
    trained = training_valid(user["training_valid_until"], user["today"])
    required = get_settings().require_training
    out = []
    for g, brand, review in await repository.grants_of_user(session, user_id, required):
        if visible is not None and not visible.sees(g.user_id, brand, g.account_id):
            continue  # another brand's grant: 404 everywhere else, so not here either
        role = Role(g.role)
        eff = effective_role(role, trained=trained, require_training=required)
        if user["status"] != "active":
            out.append(AccessEntry(g, brand, None, False, f"user_{user['status']}", review))
        elif g.expires_at is not None and g.expires_at <= now:
            out.append(AccessEntry(g, brand, None, False, "expired", review))
        else:
            out.append(AccessEntry(g, brand, eff, True, "training_expired" if eff != role else None, review))
    return user, out


async def current_time(session: AsyncSession) -> datetime:
    """The database's clock: expiry is judged by it, never by a replica's local time."""
    return await clock.transaction_time(session)


async def revoke_all_for_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID, *, reason: str,
                              correlation_id: str | None = None) -> list[uuid.UUID]:
    """Stamp every unrevoked grant of a user (suspension, offboarding) in one statement, audited
    as one bulk ``grants.revoked`` record naming every grant (as the freeze does for posts: 200
    grants, one record, every id in the hash chain; the audit by grant finds it). The caller
    authorised."""
    return await repository.revoke_all_for_user(
        session, user_id, by_kind=str(principal.kind), by_id=principal.id, reason=reason,
        audit_sql=audit.bulk_insert_from(
            "revoked", actor=principal, action="grants.revoked", subject_type="user", subject_id=user_id,
            subjects_type="grant", id_expr="id", before={"revoked_at": None},
            after_expr="jsonb_build_object('revoked', true, 'reason', CAST(:reason AS text))",
            correlation_id=correlation_id))


async def holders(session: AsyncSession, role: Role, *, brand_id: uuid.UUID, account_id: uuid.UUID) -> list[uuid.UUID]:
    """Who could act in ``role`` on this account now (admins aside): for "pending on whom"."""
    roles = [r.value for r in LADDER[LADDER.index(role):]] if role in LADDER else [role.value]
    return await repository.holders(session, roles, [r.value for r in TRAINED_ROLES], get_settings().require_training,
                                    brand_id, account_id)


# --- admin continuity -----------------------------------------------------------------------

async def lock_admins(session: AsyncSession) -> None:
    """Serialise with every other change that could remove the last working admin."""
    await repository.lock_admins(session)


async def working_admin_exists(session: AsyncSession) -> bool:
    """Somebody can administer over the API now: an active user with a live admin grant and a
    live admin-scoped token, or a live admin-scoped service token."""
    return await repository.working_admin_exists(session)


async def holds_live_admin(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return await repository.holds_live_admin(session, user_id)


async def require_working_admin(session: AsyncSession, change: str) -> None:
    """Called after a change that may have removed administration (an admin suspended or
    offboarded, an admin grant or admin token revoked), in its transaction: refuse it when
    nobody could administer afterwards. The lock makes concurrent removals see each other."""
    await repository.lock_admins(session)
    if not await repository.working_admin_exists(session):
        raise LastAdmin(
            f"{change} would leave nobody able to administer socialgov: no other active admin holds a "
            "working admin token. Give someone else the admin role and an admin token first.")
