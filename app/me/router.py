"""GET /v1/me: who the token is, its scopes, its effective access, active crises."""
from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from pydantic import BaseModel

from app.db import request_session
from app.me import service
from app.uow import UnitOfWorkRoute
from app.security import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["me"], route_class=UnitOfWorkRoute)


class MeGrant(BaseModel):
    grant_id: uuid.UUID
    role: str
    effective_role: str
    scope_kind: str
    brand_id: uuid.UUID | None
    account_id: uuid.UUID | None
    expires_at: str | None


class MeRead(BaseModel):
    kind: str
    id: uuid.UUID | None
    name: str
    email: str | None
    token_id: uuid.UUID | None
    scopes: list[str]
    admin: bool
    grants: list[MeGrant]
    active_crises: list[dict] = []


@router.get("/me", response_model=MeRead)
async def me(request: Request, principal: CurrentPrincipal):
    session = request_session(request)
    me = await service.whoami(session, principal)
    crises = await service.active_crises(session, me)
    return MeRead(
        kind=principal.kind.value, id=principal.id, name=principal.name, email=principal.email,
        token_id=principal.token_id, scopes=sorted(principal.scopes), admin=me.access.admin,
        grants=[MeGrant(grant_id=g.id, role=g.role.value, effective_role=g.effective_role.value,
                        scope_kind=g.scope_kind.value, brand_id=service.grant_brand_id(g),
                        account_id=g.account_id, expires_at=g.expires_at.isoformat() if g.expires_at else None)
                for g in me.grants],
        active_crises=[{"id": str(c.id), "severity": c.severity, "reason": c.reason, "scope_kind": c.scope_kind,
                        "brand_ids": [str(b) for b in c.brand_ids or []],
                        "account_ids": [str(a) for a in c.account_ids or []],
                        "declared_at": c.declared_at.isoformat(), "ends_at": c.ends_at.isoformat() if c.ends_at else None}
                       for c in crises],
    )
