from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.types import Text


class BrandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text(200, 1)
    description: Text(4000, multiline=True) | None = None


class BrandUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text(200, 1) | None = None
    description: Text(4000, multiline=True) | None = None
    approval_policy_id: uuid.UUID | None = Field(
        default=None, description="null detaches: the organisation's default policy applies")


class BrandRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    approval_policy_id: uuid.UUID | None = None
    id: uuid.UUID
    name: str
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime
