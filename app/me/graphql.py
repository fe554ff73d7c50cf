"""GraphQL adapter for ``me`` (the same facts as GET /v1/me, app/me/service.py)."""
from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app.crises.graphql import ActiveCrisisType
from app.me import service


@strawberry.type(name="EffectiveGrant", description="A grant as it counts now (role capped when training lapsed)")
class EffectiveGrantType:
    grant_id: uuid.UUID = strawberry.field(description="The grant (REST: grant_id)")
    id: uuid.UUID = strawberry.field(deprecation_reason="Use grantId (the REST name).")
    role: str
    effective_role: str
    scope_kind: str
    brand_id: uuid.UUID | None
    account_id: uuid.UUID | None
    expires_at: datetime | None


@strawberry.type(name="Me")
class MeType:
    kind: str
    id: uuid.UUID | None
    name: str
    email: str | None
    token_id: uuid.UUID | None = strawberry.field(description="The token this request came with")
    scopes: list[str]
    admin: bool
    grants: list[EffectiveGrantType]
    me: strawberry.Private[service.Me]

    @strawberry.field(description="Crises in force over anything you can see: publishing there is frozen")
    async def active_crises(self, info: strawberry.Info) -> list[ActiveCrisisType]:
        async with info.context.db() as session:
            crises = await service.active_crises(session, self.me)
        return [ActiveCrisisType.of(c) for c in crises]


@strawberry.type
class MeQuery:
    @strawberry.field(description="Who the token is, its scopes and effective grants")
    async def me(self, info: strawberry.Info) -> MeType:
        ctx = info.context
        principal = ctx.principal
        async with ctx.db() as session:
            me = await service.whoami(session, principal)
        return MeType(
            kind=principal.kind.value, id=principal.id, name=principal.name, email=principal.email,
            token_id=principal.token_id, scopes=sorted(principal.scopes), admin=me.access.admin,
            grants=[EffectiveGrantType(grant_id=g.id, id=g.id, role=g.role.value, effective_role=g.effective_role.value,
                                       scope_kind=g.scope_kind.value, brand_id=service.grant_brand_id(g),
                                       account_id=g.account_id, expires_at=g.expires_at) for g in me.grants],
            me=me,
        )
