from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from app.types import Text


class BrandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text(200, 1)
    description: Text(4000) | None = None


class BrandUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text(200, 1) | None = None
    description: Text(4000) | None = None


class BrandRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime
