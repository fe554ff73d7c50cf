"""Pure authorisation rules: roles, their order, what a set of grants means. No I/O."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Role(StrEnum):
    viewer = "viewer"
    contributor = "contributor"
    approver = "approver"
    publisher = "publisher"
    account_admin = "account_admin"
    compliance = "compliance"
    legal = "legal"
    crisis_lead = "crisis_lead"
    admin = "admin"


class ScopeKind(StrEnum):
    organization = "organization"
    brand = "brand"
    account = "account"


# Each ladder role implies the ones before it.
LADDER: tuple[Role, ...] = (Role.viewer, Role.contributor, Role.approver, Role.publisher, Role.account_admin)
LEVEL = {r: i + 1 for i, r in enumerate(LADDER)}
REVIEW_ROLES = frozenset({Role.compliance, Role.legal, Role.crisis_lead})
# Organisation-wide only; and only an admin may hand them out.
ORG_ONLY = REVIEW_ROLES | {Role.admin}
TRAINED_ROLES = frozenset({Role.approver, Role.publisher, Role.account_admin})
UNTRAINED_CAP = Role.contributor


def training_valid(valid_until: date | None, today: date) -> bool:
    return valid_until is not None and valid_until >= today


@dataclass(frozen=True)
class GrantFact:
    """One live grant as the rules see it (already filtered: not revoked, not expired)."""

    id: uuid.UUID
    role: Role
    scope_kind: ScopeKind
    brand_id: uuid.UUID | None  # for account grants: the account's brand
    account_id: uuid.UUID | None
    expires_at: datetime | None
    # What the grant is worth now; differs from ``role`` when training has lapsed.
    effective_role: Role

    def covers(self, brand_id: uuid.UUID | None, account_id: uuid.UUID | None) -> bool:
        if self.scope_kind is ScopeKind.organization:
            return True
        if self.scope_kind is ScopeKind.brand:
            return brand_id is not None and self.brand_id == brand_id
        return account_id is not None and self.account_id == account_id


def effective_role(role: Role, *, trained: bool, require_training: bool) -> Role:
    if require_training and role in TRAINED_ROLES and not trained:
        return UNTRAINED_CAP
    return role


@dataclass(frozen=True)
class GrantsVisible:
    """The grants a principal who does not see them all may see: their own, and those in the
    scopes they administer (a brand's covers its accounts). One rule for every view of grants."""

    me: uuid.UUID | None
    brand_ids: frozenset[uuid.UUID]
    account_ids: frozenset[uuid.UUID]

    def sees(self, user_id: uuid.UUID, brand_id: uuid.UUID | None, account_id: uuid.UUID | None) -> bool:
        return ((self.me is not None and user_id == self.me) or (brand_id is not None and brand_id in self.brand_ids)
                or (account_id is not None and account_id in self.account_ids))


@dataclass
class Access:
    """What a principal may do now. Built by ``app.access.service.effective_access``."""

    admin: bool = False
    grants: list[GrantFact] = field(default_factory=list)
    # Services hold no grants: their scopes map to organisation-wide roles.
    org_ladder: Role | None = None
    # A service (monitoring, on-call scripts, the CMS): an organisation-wide integration.
    service: bool = False

    def _covering(self, brand_id, account_id) -> list[GrantFact]:
        return [g for g in self.grants if g.covers(brand_id, account_id)]

    def level_on(self, brand_id: uuid.UUID | None, account_id: uuid.UUID | None = None) -> int:
        if self.admin:
            return LEVEL[Role.account_admin]
        levels = [LEVEL[g.effective_role] for g in self._covering(brand_id, account_id) if g.effective_role in LEVEL]
        if self.org_ladder is not None:
            levels.append(LEVEL[self.org_ladder])
        return max(levels, default=0)

    def has_role(self, role: Role, *, brand_id: uuid.UUID | None = None,
                 account_id: uuid.UUID | None = None) -> bool:
        if self.admin:
            return True
        if role in LEVEL:
            return self.level_on(brand_id, account_id) >= LEVEL[role]
        return any(g.effective_role == role for g in self._covering(brand_id, account_id))

    def sees(self, brand_id: uuid.UUID | None, account_id: uuid.UUID | None = None) -> bool:
        """Any grant on the account, its brand or the organisation makes it visible."""
        if self.admin or self.org_ladder is not None:
            return True
        return bool(self._covering(brand_id, account_id))

    def sees_brand(self, brand_id: uuid.UUID) -> bool:
        if self.sees(brand_id):
            return True
        # A grant on one account of the brand shows the brand too.
        return any(g.scope_kind is ScopeKind.account and g.brand_id == brand_id for g in self.grants)

    @property
    def sees_everything(self) -> bool:
        return self.admin or self.org_ladder is not None or any(
            g.scope_kind is ScopeKind.organization for g in self.grants)

    @property
    def visible_brand_ids(self) -> set[uuid.UUID]:
        return {g.brand_id for g in self.grants if g.scope_kind is ScopeKind.brand and g.brand_id}

    @property
    def visible_account_ids(self) -> set[uuid.UUID]:
        return {g.account_id for g in self.grants if g.scope_kind is ScopeKind.account and g.account_id}

    @property
    def administers_anything(self) -> bool:
        return self.admin or self.org_ladder is Role.account_admin or any(
            g.effective_role is Role.account_admin for g in self.grants)

    def grants_visible(self, me: uuid.UUID | None) -> GrantsVisible | None:
        """None: every grant (admins, organisation-wide account admins, services reading access)."""
        if self.admin or self.org_ladder is not None:
            return None
        admin_of = [g for g in self.grants if g.effective_role is Role.account_admin]
        if any(g.scope_kind is ScopeKind.organization for g in admin_of):
            return None
        return GrantsVisible(
            me, frozenset(g.brand_id for g in admin_of if g.scope_kind is ScopeKind.brand and g.brand_id),
            frozenset(g.account_id for g in admin_of if g.scope_kind is ScopeKind.account and g.account_id))

    def authorising_grants(self, brand_id, account_id) -> list[GrantFact]:
        """The account_admin grants that let this principal administer the target."""
        return [g for g in self._covering(brand_id, account_id) if g.effective_role is Role.account_admin]
