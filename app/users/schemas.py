from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, EmailStr

from app.models import UserKind, UserStatus
from app.types import Text


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    external_id: Text(128, 1) | None = None
    display_name: Text(200, 1)
    kind: UserKind = UserKind.employee
    training_valid_until: date | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    external_id: Text(128, 1) | None = None
    display_name: Text(200, 1) | None = None
    kind: UserKind | None = None
    status: UserStatus | None = None
    training_valid_until: date | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    external_id: str | None
    display_name: str
    kind: UserKind
    status: UserStatus
    training_valid_until: date | None
    status_changed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
