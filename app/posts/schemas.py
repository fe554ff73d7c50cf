from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from app.posts.workflow import Action, State, allowed
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

    def content(self) -> dict[str, Any]:
        """What the service takes, normalised once for both adapters (URLs as strings)."""
        return {"account_id": self.account_id, "body": self.body, "link": str(self.link) if self.link else None,
                "media": [str(m) for m in self.media], "labels": self.labels, "scheduled_at": self.scheduled_at}


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

    def changes(self) -> dict[str, Any]:
        """The fields the caller gave, normalised once for both adapters: URLs as strings, and
        null media or labels clear them."""
        changes = self.model_dump(exclude_unset=True)
        if changes.get("link") is not None:
            changes["link"] = str(self.link)
        if "media" in changes:
            changes["media"] = [str(m) for m in self.media or []]
        if "labels" in changes:
            changes["labels"] = self.labels or []
        return changes


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
    """One immutable version of a post's content (GraphQL's Revision is derived from it)."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    body: str
    link: str | None
    media: list[str]
    labels: list[str]
    content_hash: str = Field(description="What approvals are bound to (body, link, media, labels, account)")
    risk: str | None = Field(description="Set by submit: the highest non-blocking severity found")
    findings: list[dict[str, Any]] | None = Field(description="Set by submit: every finding of the content checks")
    created_by_kind: str
    created_by_id: uuid.UUID | None
    created_at: datetime


class PostReassign(BaseModel):
    """A leaver's paused post, handed to another author (it becomes their draft)."""

    model_config = ConfigDict(extra="forbid")

    author_id: uuid.UUID
    reason: Text(2000, 1) | None = None


class PostRelease(BaseModel):
    """A leaver's paused post, sent back to review."""

    model_config = ConfigDict(extra="forbid")

    reason: Text(2000, 1) | None = None


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
    revision: int = Field(description="The current revision's number")
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
    version: int = Field(description="Pass as If-Match (GraphQL: expectedVersion) to fence stale writes")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view) -> PostRead:
        """The one mapping of a post (app/posts/service.PostView) to its fields: REST answers it,
        GraphQL's Post is derived from it (app/posts/graphql.py)."""
        p, r = view.post, view.revision
        return cls(
            id=p.id, account_id=p.account_id, author_kind=p.author_kind, author_id=p.author_id, source=p.source,
            external_ref=p.external_ref, status=State(p.status), revision=p.revision, body=r.body, link=r.link,
            media=list(r.media), labels=list(r.labels), content_hash=r.content_hash, scheduled_at=p.scheduled_at,
            risk=p.risk, missed_schedule=view.missed_schedule, approved_revision=p.approved_revision,
            review_round=p.review_round, allowed_transitions=allowed(State(p.status)),
            active_crises=list(view.active_crises), paused_by_crisis_id=p.paused_by_crisis_id,
            pause_reason=p.pause_reason if p.status == State.paused else None,
            publish_attempts=p.publish_attempts, last_error=p.last_error, published_at=p.published_at,
            stuck=bool(view.stuck_stages), stuck_stages=list(view.stuck_stages), version=p.version,
            created_at=p.created_at, updated_at=p.updated_at,
        )
