"""Bearer tokens: shown once, stored as SHA-256, scoped, revocable."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import service as access_service
from app.access.errors import UserNotActive
from app.audit import service as audit
from app.errors import Forbidden, NotFound, ValidationFailed
from app.models import ApiToken
from app.pagination import PageParams, cursor_after
from app.security import Principal, Scope, hash_token, new_token, token_display_prefix
from app.tokens import repository
from app.tokens.errors import TokenNotFound


@dataclass
class NewToken:
    row: ApiToken
    secret: str
    service_name: str | None


def _snapshot(t: ApiToken) -> dict:
    return {"prefix": t.prefix, "user_id": t.user_id, "service_id": t.service_id, "scopes": sorted(t.scopes),
            "expires_at": t.expires_at, "revoked_at": t.revoked_at, "name": t.name}


async def create_token(session: AsyncSession, principal: Principal, *, user_id: uuid.UUID | None,
                       service_name: str | None, scopes: list[Scope], name: str | None = None,
                       expires_at: datetime | None = None, secret: str | None = None) -> NewToken:
    wanted = {Scope(s).value for s in scopes}
    for_self = principal.is_user and user_id == principal.id
    if for_self:
        # A token never carries more than the token that made it.
        if not principal.has_scope(Scope.admin) and not wanted <= set(principal.scopes):
            raise Forbidden("A token can only be given scopes the calling token holds.", pointer="#/scopes",
                            missing_scopes=sorted(wanted - set(principal.scopes)))
    else:
        access = await access_service.effective_access(session, principal)
        if not (access.admin and principal.has_scope(Scope.admin)):
            raise Forbidden("Only an admin creates tokens for other users and for services.")
    if expires_at is not None and expires_at <= await access_service.current_time(session):
        raise ValidationFailed("expires_at must be in the future.", pointer="#/expires_at")
    service_id = None
    if user_id is not None:
        status = await repository.user_status(session, user_id)
        if status is None:
            raise NotFound("No such user.", pointer="#/user_id")
        if status != "active":
            raise UserNotActive(f"The user is {status}; tokens are only for active users.", pointer="#/user_id")
    else:
        service_id = await repository.upsert_service(session, service_name)
    secret = secret or new_token()
    row = await repository.insert_token(session, {
        "id": uuid.uuid4(), "prefix": token_display_prefix(secret), "token_hash": hash_token(secret),
        "name": name, "user_id": user_id, "service_id": service_id, "scopes": sorted(wanted),
        "created_by_kind": str(principal.kind), "created_by_id": principal.id, "expires_at": expires_at,
    })
    await audit.record(session, principal, "token.created", "token", row.id, after=_snapshot(row))
    return NewToken(row, secret, service_name)


async def list_tokens(session: AsyncSession, principal: Principal, *, user_id: uuid.UUID | None,
                      service_name: str | None, include_revoked: bool, page: PageParams) -> list[ApiToken]:
    access = await access_service.effective_access(session, principal)
    if not (access.admin and principal.has_scope(Scope.admin)):
        if not principal.is_user or service_name is not None or user_id not in (None, principal.id):
            return []
        user_id = principal.id
    after = cursor_after(page)
    return await repository.list_tokens(session, user_id=user_id, service_name=service_name,
                                        include_revoked=include_revoked, after=after, limit=page.limit + 1)


async def service_names(session: AsyncSession, tokens: list[ApiToken]) -> dict[uuid.UUID, str]:
    return await repository.service_names(session, {t.service_id for t in tokens if t.service_id})


async def get_token(session: AsyncSession, principal: Principal, token_id: uuid.UUID) -> ApiToken:
    """Your own tokens; an admin (with an admin-scoped token) sees everyone's."""
    token = await repository.get_token(session, token_id)
    if token is None:
        raise TokenNotFound("No such token.")
    if not (principal.is_user and token.user_id == principal.id):
        access = await access_service.effective_access(session, principal)
        if not (access.admin and principal.has_scope(Scope.admin)):
            raise TokenNotFound("No such token.")
    return token


async def revoke_token(session: AsyncSession, principal: Principal, token_id: uuid.UUID) -> None:
    await get_token(session, principal, token_id)
    revoked = await repository.revoke_token(session, token_id)
    if revoked is not None:
        if Scope.admin in revoked.scopes:
            await access_service.require_working_admin(session, "Revoking this admin token")
        await audit.record(session, principal, "token.revoked", "token", token_id,
                           before={"revoked_at": None}, after={"revoked_at": revoked.revoked_at})


async def revoke_all_for_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID, *,
                              reason: str, correlation_id: str | None = None) -> list[uuid.UUID]:
    """Every live token of the user revoked in one statement, audited as one bulk
    ``tokens.revoked`` record naming them all."""
    sql, params = audit.bulk_insert_from(
        "revoked", actor=principal, action="tokens.revoked", subject_type="user", subject_id=user_id,
        subjects_type="token", id_expr="id", before={"revoked_at": None},
        after_expr="jsonb_build_object('revoked', true, 'reason', CAST(:_t_reason AS text))",
        correlation_id=correlation_id)
    return await repository.revoke_user_tokens(session, user_id, (sql, {**params, "_t_reason": reason}))


async def restore_token(session: AsyncSession, principal: Principal, secret: str, *, user_id: uuid.UUID,
                        scopes: list[Scope], reason: str) -> ApiToken | None:
    """Bring back the token with this secret for ``user_id`` (live, these scopes, no expiry),
    whatever state its row is in; None when no token has this secret. For the bootstrap: the
    operator's configured token must work again after a lockout, and a second row with the
    same secret cannot exist."""
    before = await repository.token_by_hash(session, hash_token(secret))
    if before is None:
        return None
    snapshot = _snapshot(before)
    row = await repository.restore_token(session, before.id, user_id=user_id, scopes=sorted(s.value for s in scopes))
    await audit.record(session, principal, "token.restored", "token", row.id, before=snapshot,
                       after={**_snapshot(row), "reason": reason})
    return row
