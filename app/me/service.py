"""``me``: who the token is, its scopes, its effective access and the crises in force over what
it can see — the same facts for GET /v1/me and GraphQL ``me``."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import service as access_service
from app.access.policy import Access, GrantFact
from app.crises import service as crises_service
from app.models import Crisis
from app.security import Principal


@dataclass
class Me:
    principal: Principal
    access: Access

    @property
    def grants(self) -> list[GrantFact]:
        return self.access.grants


async def whoami(session: AsyncSession, principal: Principal) -> Me:
    return Me(principal, await access_service.effective_access(session, principal))


async def active_crises(session: AsyncSession, me: Me) -> list[Crisis]:
    return await crises_service.visible_in_force(session, me.access)


def grant_brand_id(g: GrantFact):
    """A grant's own brand scope (an account grant's brand is the account's, not its scope)."""
    return g.brand_id if g.scope_kind.value != "account" else None
