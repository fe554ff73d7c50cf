"""GraphQL types of content-check findings: what the checks report, shared by posts' revisions
and by the ``content-blocked`` Problem (so neither has to import the content adapter)."""
from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type(name="Span", description="Character offsets into the body, end exclusive")
class SpanType:
    start: int
    end: int


@strawberry.type(name="Finding", description="One content-check finding (app/content/checks.py)")
class FindingType:
    rule_id: str = strawberry.field(description='The rule\'s id, or "builtin:<kind>"')
    kind: str
    severity: str
    message: str
    field: str | None
    match: str | None
    span: SpanType | None

    @classmethod
    def of(cls, f: dict[str, Any]) -> FindingType:
        span = f.get("span")
        return cls(rule_id=str(f.get("rule_id")), kind=str(f.get("kind")), severity=str(f.get("severity")),
                   message=str(f.get("message", "")), field=f.get("field"), match=f.get("match"),
                   span=SpanType(start=span["start"], end=span["end"]) if span else None)
