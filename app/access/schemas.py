from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

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
    active: bool = False

    @classmethod
    def of(cls, grant, now: datetime | None = None) -> GrantRead:
        read = cls.model_validate(grant)
        read.active = grant.revoked_at is None and (
            grant.expires_at is None or now is None or grant.expires_at > now)
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
