from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models import PLATFORMS
from app.types import Text

Platform = StrEnum("Platform", {p: p for p in PLATFORMS})


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Platform
    handle: Text(200, 1)
    display_name: Text(200, 1) | None = None
    brand_id: uuid.UUID
    region: Text(16, 1) | None = Field(default=None, description="ISO 3166 code, e.g. CN, US, EU")
    owner_id: uuid.UUID | None = None
    two_factor_enabled: bool = False
    credential_custodian_id: uuid.UUID | None = None


class AccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handle: Text(200, 1) | None = None
    display_name: Text(200, 1) | None = None
    region: Text(16, 1) | None = None
    owner_id: uuid.UUID | None = None
    status: Literal["active", "suspended", "archived"] | None = None
    two_factor_enabled: bool | None = None
    credential_custodian_id: uuid.UUID | None = None
    needs_owner: bool | None = None
    credentials_rotation_required: bool | None = None
    approval_policy_id: uuid.UUID | None = Field(
        default=None, description="null detaches: the brand's, then the organisation's policy applies")


class AccountRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    approval_policy_id: uuid.UUID | None = None
    id: uuid.UUID
    platform: str
    handle: str
    display_name: str | None
    brand_id: uuid.UUID
    region: str | None
    owner_id: uuid.UUID | None
    status: str
    two_factor_enabled: bool
    credential_custodian_id: uuid.UUID | None
    needs_owner: bool
    credentials_rotation_required: bool
    version: int
    created_at: datetime
    updated_at: datetime
