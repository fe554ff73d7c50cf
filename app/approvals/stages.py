"""Approval stages, pure: which stages apply to a revision, and how far a review has come."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

RISK_ORDER = {"none": 0, "info": 1, "medium": 2, "high": 3}
WHEN_RE = re.compile(r"^(always|during_crisis|risk>=(medium|high)|label:[^\s,]{1,64})$")

# Used when no policy is attached anywhere, and when none of a policy's stages applies:
# nothing goes out that nobody with authority saw.
BUILTIN_STAGES: list[dict[str, Any]] = [{"name": "review", "role": "approver", "min_approvals": 1, "when": "always"}]


@dataclass(frozen=True)
class Stage:
    index: int
    name: str
    when: str
    role: str | None = None
    min_approvals: int = 1
    approvers: tuple[uuid.UUID, ...] = ()
    mode: str = "any"

    @classmethod
    def of(cls, index: int, raw: dict[str, Any]) -> Stage:
        return cls(index=index, name=raw["name"], when=raw.get("when", "always"), role=raw.get("role"),
                   min_approvals=int(raw.get("min_approvals") or 1),
                   approvers=tuple(uuid.UUID(str(a)) for a in raw.get("approvers") or ()),
                   mode=raw.get("mode") or "any")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "name": self.name, "when": self.when}
        if self.role:
            out.update(role=self.role, min_approvals=self.min_approvals)
        else:
            out.update(approvers=[str(a) for a in self.approvers], mode=self.mode)
        return out

    @property
    def required(self) -> int:
        if self.role:
            return self.min_approvals
        return 1 if self.mode == "any" else len(self.approvers)

    def names(self, user_id: uuid.UUID | None) -> bool:
        return user_id is not None and user_id in self.approvers


def applies(when: str, *, risk: str, labels: list[str], crisis: bool) -> bool:
    if when == "always":
        return True
    if when == "during_crisis":
        return crisis
    if when.startswith("risk>="):
        return RISK_ORDER.get(risk, 0) >= RISK_ORDER[when.removeprefix("risk>=")]
    if when.startswith("label:"):
        return when.removeprefix("label:").casefold() in {lbl.casefold() for lbl in labels}
    return False


def applicable(stages: list[dict[str, Any]], *, risk: str, labels: list[str], crisis: bool) -> list[Stage]:
    chosen = [Stage.of(i, s) for i, s in enumerate(stages) if applies(s.get("when", "always"), risk=risk,
                                                                       labels=labels, crisis=crisis)]
    return chosen or [Stage.of(0, s) for s in BUILTIN_STAGES]


@dataclass
class Decision:
    stage_index: int
    decision: str
    by_kind: str
    by_id: uuid.UUID
    at: Any = None
    comment: str | None = None


@dataclass
class StageProgress:
    stage: Stage
    approvals: list[Decision] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        if self.stage.role:
            return len(self.approvals) >= self.stage.required
        approved = {d.by_id for d in self.approvals}
        if self.stage.mode == "any":
            return bool(approved & set(self.stage.approvers))
        return set(self.stage.approvers) <= approved

    @property
    def remaining(self) -> int:
        return max(0, self.stage.required - len(self.approvals)) if not self.complete else 0


def progress(stages: list[Stage], decisions: list[Decision]) -> list[StageProgress]:
    by_stage = {s.index: StageProgress(s) for s in stages}
    for d in decisions:
        if d.decision == "approve" and d.stage_index in by_stage:
            by_stage[d.stage_index].approvals.append(d)
    return [by_stage[s.index] for s in stages]


def current(progresses: list[StageProgress]) -> StageProgress | None:
    """Stages are decided in order: the first incomplete one is open, later ones wait."""
    return next((p for p in progresses if not p.complete), None)
