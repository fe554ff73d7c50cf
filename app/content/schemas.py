from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, computed_field

from app.content.checks import KINDS, SEVERITIES
from app.models import PLATFORMS
from app.types import Text

RuleKind = Literal[KINDS]  # type: ignore[valid-type]
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]
Platform = Literal[PLATFORMS]  # type: ignore[valid-type]
RiskLevel = Literal["high", "medium", "info", "none"]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Content is checked as sent: no stripping, or the spans would point elsewhere.
def Raw(max_length: int, min_length: int = 0):  # noqa: N802 - a type factory
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length), AfterValidator(_no_nul)]


MAX_BODY = 100_000


class ContentRuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RuleKind
    terms: list[Text(200, 1)] = Field(
        default_factory=list, max_length=500,
        description="banned/sensitive terms and internal markers; disclosures (required_disclosure); allowed "
                    "domains (link_allowlist); categories email|phone|id_number (personal_data)")
    severity: Severity
    account_id: uuid.UUID | None = None
    brand_id: uuid.UUID | None = None
    platforms: list[Platform] = Field(default_factory=list, max_length=len(PLATFORMS),
                                      description="only posts for these platforms; empty = all")
    max_length: int | None = Field(default=None, ge=1, le=MAX_BODY, description="max_length rules: the limit")
    label: Text(64, 1) | None = Field(default=None, description="required_disclosure: the label that needs it "
                                                                "(default sponsored)")
    description: Text(2000, multiline=True) | None = None


class ContentRuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    terms: list[str]
    severity: str
    account_id: uuid.UUID | None
    brand_id: uuid.UUID | None
    platforms: list[str]
    max_length: int | None
    label: str | None
    description: str | None
    created_by_kind: str
    created_by_id: uuid.UUID | None
    created_at: datetime
    deleted_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def scope(self) -> Literal["organization", "brand", "account"]:
        return "account" if self.account_id else "brand" if self.brand_id else "organization"


class ContentCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    body: Raw(MAX_BODY)
    link: Raw(2048, 1) | None = None
    media: list[Raw(2048, 1)] = Field(default_factory=list, max_length=50)
    labels: list[Text(64, 1)] = Field(default_factory=list, max_length=50)


class Span(BaseModel):
    start: int
    end: int


class FindingRead(BaseModel):
    rule_id: str = Field(description='the rule\'s id, or "builtin:<kind>"')
    kind: str
    severity: Severity
    message: str
    span: Span | None = Field(description="character offsets into the body; null for the link, labels or post")
    field: Literal["body", "link", "labels"]
    match: str


class ContentCheckRead(BaseModel):
    findings: list[FindingRead]
    risk: RiskLevel
    blocked: bool
