from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.access.policy import Role
from app.types import Text, Timestamp


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    role: Role
    account_id: uuid.UUID | None = None
    brand_id: uuid.UUID | None = None
    expires_at: Timestamp | None = None
    reason: Text(2000, 1)


class GrantRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text(2000, 1)


class GrantConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text(2000, 1) | None = None


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    scope_kind: str
    brand_id: uuid.UUID | None
    account_id: uuid.UUID | None
    reason: str | None
    granted_by_kind: str | None
    granted_by_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by_kind: str | None
    revoked_by_id: uuid.UUID | None
    revoke_reason: str | None
    confirmed_by_kind: str | None = None
    confirmed_by_id: uuid.UUID | None = None
    confirmed_at: datetime | None = None
    confirm_reason: str | None = None
    active: bool = False
    needs_review: bool = Field(default=False, description=(
        "Live, but whoever granted it (or last confirmed it) could not grant it now: their own authority "
        "over its scope was revoked, expired or lapsed, or they left. Someone who may grant it confirms it "
        "(POST /v1/grants/{id}/confirm) or revokes it."))

    @classmethod
    def of(cls, grant, now: datetime | None = None, needs_review: bool = False) -> GrantRead:
        read = cls.model_validate(grant)
        read.active = grant.revoked_at is None and (
            grant.expires_at is None or now is None or grant.expires_at > now)
        read.needs_review = needs_review
        return read


class AccessEntryRead(BaseModel):
    grant: GrantRead
    brand_id: uuid.UUID | None
    effective: bool
    effective_role: Role | None
    not_effective_because: str | None


class UserAccessRead(BaseModel):
    user_id: uuid.UUID
    status: str
    training_valid_until: str | None
    effective: list[AccessEntryRead]
    not_effective: list[AccessEntryRead]
