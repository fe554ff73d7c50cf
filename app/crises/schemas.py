from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from app.types import Text, Timestamp


class CrisisScope(BaseModel):
    """``{"organization": true}`` or ``{"brand_ids": [...]}`` or ``{"account_ids": [...]}``."""

    model_config = ConfigDict(extra="forbid")

    organization: bool | None = None
    brand_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=500)
    account_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _one(self):
        given = [self.organization is True, self.brand_ids is not None, self.account_ids is not None]
        if sum(given) != 1 or self.organization is False:
            raise ValueError('give exactly one of {"organization": true}, "brand_ids" or "account_ids"')
        return self

    @property
    def kind(self) -> str:
        return "organization" if self.organization else "brands" if self.brand_ids else "accounts"


class CrisisCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity: int = Field(default=2, ge=1, le=4, strict=True)  # strict: true or "3" is not a severity
    scope: CrisisScope
    reason: Text(2000, 1)
    responders: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    starts_at: Timestamp | None = Field(default=None, description="A blackout window ahead of time")
    ends_at: Timestamp | None = Field(default=None, description="The window resolves itself (review) then")

    @field_validator("ends_at")
    @classmethod
    def _after_start(cls, ends_at, info: ValidationInfo):
        # A field validator (not a model one), so the error points at #/ends_at.
        starts_at = info.data.get("starts_at")
        if starts_at and ends_at and ends_at <= starts_at:
            raise ValueError("ends_at must be after starts_at")
        return ends_at


class CrisisResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: Literal["review", "resume", "cancel"] = "review"
    note: Text(2000, multiline=True) | None = None


class ScopeRead(BaseModel):
    organization: bool
    brand_ids: list[uuid.UUID]
    account_ids: list[uuid.UUID]


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    actor_kind: str
    actor_id: uuid.UUID | None
    detail: dict[str, Any]


class CrisisRead(BaseModel):
    id: uuid.UUID
    severity: int
    scope: ScopeRead
    reason: str
    responders: list[uuid.UUID]
    status: str
    starts_at: datetime | None
    ends_at: datetime | None
    declared_by_kind: str
    declared_by_id: uuid.UUID | None
    declared_at: datetime
    activated_at: datetime | None
    paused_count: int
    resolved_at: datetime | None
    resolution: str | None
    resolution_note: str | None
    outcome: dict[str, Any] | None
    version: int


class DeclareRead(CrisisRead):
    in_flight_published: list[uuid.UUID] = Field(
        description="Publishes that were under way when the freeze began and finished before it took hold")


class CrisisDetail(CrisisRead):
    timeline: list[TimelineEntry]


class PreviewRead(BaseModel):
    dry_run: Literal[True] = True
    would_pause: int
    scope: ScopeRead
    starts_at: datetime | None
    ends_at: datetime | None


class ResolveRead(CrisisRead):
    counts: dict[str, int]
