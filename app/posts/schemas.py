from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from app.posts.workflow import Action, State
from app.types import Text, Timestamp

Label = Text(64, 1)


def _urls(values: list[AnyHttpUrl] | None) -> list[str] | None:
    return [str(v) for v in values] if values is not None else None


class PostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    body: Text(20000, 1, multiline=True)
    link: AnyHttpUrl | None = None
    media: list[AnyHttpUrl] = Field(default_factory=list, max_length=20)
    labels: list[Label] = Field(default_factory=list, max_length=20)
    scheduled_at: Timestamp | None = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        return sorted({v.casefold() for v in value})


class PostUpdate(BaseModel):
    """Content fields make a new revision; ``scheduled_at`` alone keeps approvals."""

    model_config = ConfigDict(extra="forbid")

    body: Text(20000, 1, multiline=True) | None = None
    link: AnyHttpUrl | None = None
    media: list[AnyHttpUrl] | None = Field(default=None, max_length=20)
    labels: list[Label] | None = Field(default=None, max_length=20)
    scheduled_at: Timestamp | None = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        return sorted({v.casefold() for v in value}) if value is not None else None


class Decide(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: int | None = Field(default=None, ge=1, le=2_000_000_000,
                                 description="The revision you decide (or send If-Match with the post's ETag)")
    comment: Text(2000, multiline=True) | None = None


class DecideWithReason(Decide):
    comment: Text(2000, 1, multiline=True)


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheduled_at: Timestamp | None = Field(default=None, description="Defaults to the post's scheduled_at")


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Text(2000, multiline=True) | None = None


class Finding(BaseModel):
    rule_id: str
    kind: str
    severity: str
    message: str
    field: str | None = None
    span: dict[str, int] | None = None
    match: str | None = None


class RevisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    body: str
    link: str | None
    media: list[str]
    labels: list[str]
    content_hash: str
    risk: str | None
    findings: list[dict[str, Any]] | None
    created_by_kind: str
    created_by_id: uuid.UUID | None
    created_at: datetime


class StageReassign(BaseModel):
    """New approvers for a stuck named stage."""

    model_config = ConfigDict(extra="forbid")

    approvers: list[uuid.UUID] = Field(min_length=1, max_length=50)
    mode: Literal["any", "all"] | None = Field(None, description="Keeps the stage's mode when left out")
    reason: Text(2000, 1)
    revision: int | None = Field(None, description="The revision whose stage you reassign (or If-Match)")


class PostRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    author_kind: str
    author_id: uuid.UUID
    source: str
    external_ref: str | None
    status: State
    revision: int
    body: str
    link: str | None
    media: list[str]
    labels: list[str]
    content_hash: str
    scheduled_at: datetime | None
    risk: str | None
    missed_schedule: bool
    approved_revision: int | None
    review_round: int
    allowed_transitions: list[Action]
    active_crises: list[uuid.UUID] = Field(default_factory=list,
                                           description="Crises in force over this post's account")
    paused_by_crisis_id: uuid.UUID | None = Field(
        None, description="While paused: the crisis holding it (its slot stays in scheduled_at)")
    pause_reason: str | None = Field(None, description=(
        "While paused for something other than a crisis: why (author_offboarded: its author left; an account "
        "admin reassigns or releases it)"))
    publish_attempts: int = Field(0, description="Connector calls made so far")
    last_error: str | None = Field(None, description="Why the last attempt failed (failed: why it gave up)")
    published_at: datetime | None = Field(None, description="When the connector accepted it")
    stuck: bool = Field(False, description=(
        "In review with a named-approver stage nobody can decide any more (its approvers left, lost access "
        "to the account or decided another stage): an account admin reassigns it "
        "(POST /v1/posts/{id}/stages/{index}/reassign)"))
    stuck_stages: list[int] = Field(default_factory=list, description="The indexes of those stages")
    version: int
    created_at: datetime
    updated_at: datetime
