from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.security import Scope
from app.types import Text, Timestamp


class TokenCreate(BaseModel):
    """For a user (``user_id``) or a service principal (``service_name``, created on first use)."""

    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID | None = None
    service_name: Text(100, 1) | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    name: Text(200, 1) | None = None
    expires_at: Timestamp | None = None

    @model_validator(mode="after")
    def _one_principal(self):
        if (self.user_id is None) == (self.service_name is None):
            raise ValueError("give exactly one of user_id or service_name")
        return self


class TokenRead(BaseModel):
    id: uuid.UUID
    prefix: str
    name: str | None
    principal_kind: str
    user_id: uuid.UUID | None
    service_id: uuid.UUID | None
    service_name: str | None
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str | None = Field(description="The secret. Shown once; only its SHA-256 is stored. An idempotent "
                                          "replay of this call answers null: the secret is never kept.")
