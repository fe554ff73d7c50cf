from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.access.policy import Role
from app.approvals.stages import WHEN_RE
from app.posts.workflow import State
from app.types import Text

DECIDING_ROLES = (Role.approver, Role.publisher, Role.account_admin, Role.compliance, Role.legal,
                  Role.crisis_lead, Role.admin)


class StageIn(BaseModel):
    """Decided by N holders of a role, or by a named set of users (``any`` or ``all`` of them)."""

    model_config = ConfigDict(extra="forbid")

    name: Text(100, 1)
    role: Role | None = None
    min_approvals: int | None = Field(default=None, ge=1, le=20)
    approvers: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=50)
    mode: Literal["any", "all"] | None = None
    when: str = Field(default="always", max_length=80,
                      description="always | risk>=medium | risk>=high | label:<name> | during_crisis")

    @field_validator("when")
    @classmethod
    def _when(cls, value: str) -> str:
        value = value.strip()
        if not WHEN_RE.match(value):
            raise ValueError("must be always, risk>=medium, risk>=high, label:<name> or during_crisis")
        return value

    @model_validator(mode="after")
    def _decider(self):
        if (self.role is None) == (self.approvers is None):
            raise ValueError("a stage is decided by a role or by named approvers: give exactly one")
        if self.role is not None:
            if self.role not in DECIDING_ROLES:
                raise ValueError(f"role {self.role.value} cannot decide a stage")
            if self.mode is not None:
                raise ValueError("mode goes with approvers, not with role")
        else:
            if self.min_approvals is not None:
                raise ValueError("min_approvals goes with role; named approvers use mode any|all")
            if len(set(self.approvers)) != len(self.approvers):
                raise ValueError("approvers must not repeat")
        return self

    def stored(self) -> dict[str, Any]:
        if self.role is not None:
            return {"name": self.name, "role": self.role.value, "min_approvals": self.min_approvals or 1,
                    "when": self.when}
        return {"name": self.name, "approvers": [str(a) for a in self.approvers or []], "mode": self.mode or "any",
                "when": self.when}


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text(200, 1)
    description: Text(4000, multiline=True) | None = None
    stages: list[StageIn] = Field(min_length=1, max_length=10)

    @field_validator("stages")
    @classmethod
    def _unique_names(cls, stages: list[StageIn]) -> list[StageIn]:
        names = [s.name.casefold() for s in stages]
        if len(set(names)) != len(names):
            raise ValueError("stage names must be unique within a policy")
        return stages


class PolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    stages: list[dict[str, Any]]
    is_default: bool = False
    version: int
    created_at: datetime
    updated_at: datetime


class DefaultPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_id: uuid.UUID | None = Field(description="null clears the default (the built-in one-approver review applies)")


class DefaultPolicyRead(BaseModel):
    policy_id: uuid.UUID | None
    policy: PolicyRead | None
    builtin_stages: list[dict[str, Any]]


# --- the review of a revision (GET /v1/posts/{id}/approvals) ----------------------------

class DecisionRead(BaseModel):
    id: uuid.UUID
    stage_index: int
    stage_name: str
    decision: str
    decided_by_kind: str
    decided_by_id: uuid.UUID
    content_hash: str = Field(description="The content the decision is bound to")
    comment: str | None
    created_at: datetime = Field(description="When it was decided")

    @classmethod
    def of(cls, a) -> DecisionRead:
        return cls(id=a.id, stage_index=a.stage_index, stage_name=a.stage_name, decision=a.decision,
                   decided_by_kind=a.decided_by_kind, decided_by_id=a.decided_by_id, content_hash=a.content_hash,
                   comment=a.comment, created_at=a.created_at)


class StageRead(BaseModel):
    index: int
    name: str
    when: str
    role: str | None = None
    min_approvals: int | None = None
    approvers: list[uuid.UUID] | None = None
    mode: str | None = None
    required: int
    approved: int
    complete: bool
    open: bool = Field(description="The stage deciding now (stages are decided in order)")
    approved_by: list[DecisionRead]
    pending_on: list[uuid.UUID] = Field(description="Users who could decide it now (admins aside)")
    stuck: bool = Field(False, description="A named stage nobody can decide any more: reassign it")

    @classmethod
    def of(cls, s) -> StageRead:
        st = s.progress.stage
        return cls(**st.to_dict(), required=st.required, approved=len(s.progress.approvals),
                   complete=s.progress.complete, open=s.open, approved_by=[DecisionRead.of(a) for a in s.decisions],
                   pending_on=s.pending_on, stuck=s.stuck)


class ApprovalsRead(BaseModel):
    post_id: uuid.UUID
    status: State
    revision: int
    review_round: int
    submitted: bool
    risk: str | None
    policy_id: uuid.UUID | None
    stages: list[StageRead]
    decisions: list[DecisionRead]

    @classmethod
    def of(cls, v) -> ApprovalsRead:
        return cls(post_id=v.post.id, status=State(v.post.status), revision=v.revision.number,
                   review_round=v.post.review_round, submitted=v.revision.stages is not None, risk=v.revision.risk,
                   policy_id=v.revision.policy_id, stages=[StageRead.of(s) for s in v.stages],
                   decisions=[DecisionRead.of(a) for a in v.decisions])
