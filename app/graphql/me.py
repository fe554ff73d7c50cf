"""GraphQL adapter for ``me`` (same facts as GET /v1/me)."""
from __future__ import annotations

import uuid

import strawberry

from app.access import service as access_service
from app.access.policy import Access
from app.crises import service as crises_service
from app.crises.graphql import ActiveCrisisType


@strawberry.type(name="Grant")
class MeGrantType:
    id: uuid.UUID
    role: str
    effective_role: str
    scope_kind: str
    brand_id: uuid.UUID | None
    account_id: uuid.UUID | None


@strawberry.type(name="Me")
class MeType:
    kind: str
    id: uuid.UUID | None
    name: str
    email: str | None
    scopes: list[str]
    admin: bool
    grants: list[MeGrantType]
    access: strawberry.Private[Access]

    @strawberry.field(description="Crises in force over anything you can see: publishing there is frozen")
    async def active_crises(self, info: strawberry.Info) -> list[ActiveCrisisType]:
        async with info.context.db() as session:
            crises = await crises_service.visible_in_force(session, self.access)
        return [ActiveCrisisType.of(c) for c in crises]


@strawberry.type
class MeQuery:
    @strawberry.field(description="Who the token is, its scopes and effective grants")
    async def me(self, info: strawberry.Info) -> MeType:
        ctx = info.context
        principal = ctx.principal
        async with ctx.db() as session:
            access = await access_service.effective_access(session, principal)
        return MeType(
            kind=principal.kind.value, id=principal.id, name=principal.name, email=principal.email,
            scopes=sorted(principal.scopes), admin=access.admin,
            grants=[MeGrantType(id=g.id, role=g.role.value, effective_role=g.effective_role.value,
                                scope_kind=g.scope_kind.value,
                                brand_id=g.brand_id if g.scope_kind.value != "account" else None,
                                account_id=g.account_id) for g in access.grants],
            access=access,
        )
