"""GraphQL adapter for content rules and findings (same service calls as app/content/router.py)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from app.content import service
from app.content.findings_graphql import FindingType, SpanType  # noqa: F401 - re-exported
from app.content.schemas import ContentRuleCreate
from app.graphql import mutation
from app.graphql.errors import Problem
from app.graphql.paging import FIRST, Page, page_params
from app.models import ContentRule
from app.pagination import created_key, make_page
from app.security import Scopes

RULES_READ = Scopes.DIRECTORY_READ
RULES_WRITE = Scopes.RULES_WRITE


@strawberry.type(name="ContentRule")
class ContentRuleType:
    row: strawberry.Private[ContentRule]

    @strawberry.field
    def id(self) -> uuid.UUID:
        return self.row.id

    @strawberry.field
    def kind(self) -> str:
        return self.row.kind

    @strawberry.field
    def terms(self) -> list[str]:
        return list(self.row.terms or ())

    @strawberry.field
    def severity(self) -> str:
        return self.row.severity

    @strawberry.field
    def account_id(self) -> uuid.UUID | None:
        return self.row.account_id

    @strawberry.field
    def brand_id(self) -> uuid.UUID | None:
        return self.row.brand_id

    @strawberry.field(description="organization | brand | account")
    def scope(self) -> str:
        return "account" if self.row.account_id else "brand" if self.row.brand_id else "organization"

    @strawberry.field
    def platforms(self) -> list[str]:
        return list(self.row.platforms or ())

    @strawberry.field
    def max_length(self) -> int | None:
        return self.row.max_length

    @strawberry.field
    def label(self) -> str | None:
        return self.row.label

    @strawberry.field
    def description(self) -> str | None:
        return self.row.description

    @strawberry.field
    def created_by_kind(self) -> str:
        return self.row.created_by_kind

    @strawberry.field
    def created_by_id(self) -> uuid.UUID | None:
        return self.row.created_by_id

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def deleted_at(self) -> datetime | None:
        return self.row.deleted_at


@strawberry.input
class ContentRuleFilter:
    account_id: uuid.UUID | None = strawberry.field(default=None, description="Rules scoped to this account")
    brand_id: uuid.UUID | None = strawberry.field(default=None, description="Rules scoped to this brand")
    kind: str | None = None
    include_deleted: bool = False
    applies_to: uuid.UUID | None = strawberry.field(
        default=None, description="An account id: the rules that apply to it (organisation, its brand, itself)")


@strawberry.input
class CreateContentRuleInput:
    kind: str = strawberry.field(description="banned_term | sensitive_term | required_disclosure | link_allowlist"
                                             " | max_length | personal_data | internal_marker")
    severity: str = strawberry.field(description="block | high | medium | info")
    terms: list[str] = strawberry.field(default_factory=list)
    account_id: uuid.UUID | None = None
    brand_id: uuid.UUID | None = None
    platforms: list[str] = strawberry.field(default_factory=list)
    max_length: int | None = None
    label: str | None = None
    description: str | None = None


@strawberry.type
class ContentRulePayload:
    rule: ContentRuleType


CreateContentRuleResult = Annotated[ContentRulePayload | Problem, strawberry.union("CreateContentRuleResult")]


def _kind(kind: str | None) -> str | None:
    """The REST query parameter is an enum; here a string checked the same way."""
    if kind is None:
        return None
    return mutation.validated(ContentRuleCreate, {"kind": kind, "severity": "info"}).kind


@strawberry.type
class ContentQuery:
    @strawberry.field(description="Organisation rules and the rules of brands and accounts you see")
    async def content_rules(self, info: strawberry.Info,
                            where: Annotated[ContentRuleFilter | None, strawberry.argument(name="filter")] = None,
                            first: int = FIRST, after: str | None = None) -> Page[ContentRuleType]:
        ctx = info.context
        principal = ctx.require(*RULES_READ)
        f = where or ContentRuleFilter()
        page = page_params(first, after)
        async with ctx.db() as session:
            rows = await service.list_rules(session, principal, page=page, account_id=f.account_id,
                                            brand_id=f.brand_id, kind=_kind(f.kind),
                                            include_deleted=f.include_deleted, applies_to=f.applies_to)
        items, cursor = make_page(rows, page, created_key)
        return Page(items=[ContentRuleType(row=r) for r in items], next_cursor=cursor)

    @strawberry.field
    async def content_rule(self, info: strawberry.Info, id: uuid.UUID) -> ContentRuleType | None:
        ctx = info.context
        principal = ctx.require(*RULES_READ)
        async with ctx.db() as session:
            return ContentRuleType(row=await service.get_rule(session, principal, id))


@strawberry.type
class ContentMutation:
    @strawberry.mutation(description="Add a content rule to an account, a brand or the organisation")
    async def create_content_rule(self, info: strawberry.Info,
                                  input: CreateContentRuleInput) -> CreateContentRuleResult | None:
        async def work(session, principal):
            body = mutation.validated(ContentRuleCreate, {
                "kind": input.kind, "severity": input.severity, "terms": input.terms,
                "account_id": input.account_id, "brand_id": input.brand_id, "platforms": input.platforms,
                "max_length": input.max_length, "label": input.label, "description": input.description})
            return ContentRulePayload(rule=ContentRuleType(row=await service.create_rule(session, principal,
                                                                                    body.model_dump())))

        return await mutation.run(info, RULES_WRITE, work)
