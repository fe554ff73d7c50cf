"""GraphQL adapter for crises: the same service calls, scopes and input rules as
app/crises/router.py. REST's ``POST /v1/crises?dry_run=true`` is its own mutation here,
``previewCrisis`` (same input as ``declareCrisis``), so that each result union has exactly
one success member."""
from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from app.crises import service
from app.crises.schemas import CrisisCreate, CrisisResolve
from app.graphql import mutation
from app.graphql.errors import Problem
from app.graphql.paging import FIRST, Page, page_params
from app import models
from app.models import Crisis, CrisisEvent
from app.pagination import make_page
from app.security import Scopes

DECLARE = Scopes.CRISIS_DECLARE
RESOLVE = Scopes.CRISIS_RESOLVE
READ = Scopes.CRISIS_READ


# Value names as the posts' enums have them: the same lowercase words as REST.
CrisisStatus = strawberry.enum(models.CrisisStatus, name="CrisisStatus",
                               description="scheduled: a blackout window ahead; active: in force; resolved")


@strawberry.enum(description="What happens to the posts a crisis paused")
class CrisisResolution(StrEnum):
    review = "review"
    resume = "resume"
    cancel = "cancel"


@strawberry.type(name="CrisisScope", description="The whole organisation, some brands, or some accounts")
class CrisisScopeType:
    organization: bool
    brand_ids: list[uuid.UUID]
    account_ids: list[uuid.UUID]

    @classmethod
    def of(cls, scope_kind: str, brand_ids: list[uuid.UUID] | None,
           account_ids: list[uuid.UUID] | None) -> CrisisScopeType:
        return cls(organization=scope_kind == "organization", brand_ids=list(brand_ids or []),
                   account_ids=list(account_ids or []))


@strawberry.type(name="ResolutionCounts",
                 description="What became of the paused posts; only the resolution's own outcomes are set")
class ResolutionCountsType:
    review: int | None = strawberry.field(description="review: back to in_review, approvals voided")
    resumed: int | None = strawberry.field(description="resume: back to scheduled")
    unscheduled: int | None = strawberry.field(description="resume: their time had passed, approved unscheduled")
    cancelled: int | None = strawberry.field(description="cancel: withdrawn")
    still_paused: int = strawberry.field(description="Held on by another crisis still in force over them")

    @classmethod
    def of(cls, counts: dict[str, Any]) -> ResolutionCountsType:
        return cls(review=counts.get("review"), resumed=counts.get("resumed"), unscheduled=counts.get("unscheduled"),
                   cancelled=counts.get("cancelled"), still_paused=counts.get("still_paused", 0))


@strawberry.type(name="CrisisEvent", description="One entry of a crisis's timeline")
class CrisisEventType:
    at: datetime
    kind: str = strawberry.field(description="declared | window_declared | window_started | resolved ...")
    actor_kind: str
    actor_id: uuid.UUID | None
    detail: JSON

    @classmethod
    def of(cls, e: CrisisEvent) -> CrisisEventType:
        return cls(at=e.at, kind=e.kind, actor_kind=e.actor_kind, actor_id=e.actor_id, detail=dict(e.detail or {}))


@strawberry.type(name="Crisis")
class CrisisType:
    id: uuid.UUID
    severity: int
    scope: CrisisScopeType
    reason: str
    responders: list[uuid.UUID]
    status: CrisisStatus
    starts_at: datetime | None
    ends_at: datetime | None
    declared_by_kind: str
    declared_by_id: uuid.UUID | None
    declared_at: datetime
    activated_at: datetime | None
    paused_count: int
    resolved_at: datetime | None
    resolution: CrisisResolution | None
    resolution_note: str | None
    outcome: ResolutionCountsType | None = strawberry.field(description="Once resolved: the counts of its resolve")
    version: int
    events: strawberry.Private[list[CrisisEvent] | None] = None

    @classmethod
    def of(cls, c: Crisis, events: list[CrisisEvent] | None = None) -> CrisisType:
        # Copied now: the ORM row may be refreshed in place by a later statement of the request.
        return cls(id=c.id, severity=c.severity, scope=CrisisScopeType.of(c.scope_kind, c.brand_ids, c.account_ids),
                   reason=c.reason, responders=list(c.responders or []), status=CrisisStatus(c.status),
                   starts_at=c.starts_at, ends_at=c.ends_at, declared_by_kind=c.declared_by_kind,
                   declared_by_id=c.declared_by_id, declared_at=c.declared_at, activated_at=c.activated_at,
                   paused_count=c.paused_count, resolved_at=c.resolved_at,
                   resolution=CrisisResolution(c.resolution) if c.resolution else None,
                   resolution_note=c.resolution_note,
                   outcome=ResolutionCountsType.of(c.outcome) if c.outcome is not None else None,
                   version=c.version, events=list(events) if events is not None else None)

    @strawberry.field(description="What happened, oldest first (as GET /v1/crises/{id})")
    async def timeline(self, info: strawberry.Info) -> list[CrisisEventType]:
        events = self.events
        if events is None:
            # The service has no batch form of the timeline yet: one read per crisis selected
            # outside crisis(id), so a page of crises with timelines costs a read per item.
            async with info.context.db() as session:  # the crisis itself was read with its visibility checked
                events = await service.timeline(session, self.id)
        return [CrisisEventType.of(e) for e in events]


@strawberry.type(name="ActiveCrisis", description="A crisis in force over something you can see (as in GET /v1/me)")
class ActiveCrisisType:
    id: uuid.UUID
    severity: int
    reason: str
    scope_kind: str = strawberry.field(description="organization | brands | accounts")
    brand_ids: list[uuid.UUID]
    account_ids: list[uuid.UUID]
    declared_at: datetime
    ends_at: datetime | None

    @classmethod
    def of(cls, c: Crisis) -> ActiveCrisisType:
        return cls(id=c.id, severity=c.severity, reason=c.reason, scope_kind=c.scope_kind,
                   brand_ids=list(c.brand_ids or []), account_ids=list(c.account_ids or []),
                   declared_at=c.declared_at, ends_at=c.ends_at)


# --- queries ------------------------------------------------------------------------------

@strawberry.type
class CrisesQuery:
    @strawberry.field(description="Crises over anything you can see (organisation-wide ones for everyone), newest first")
    async def crises(self, info: strawberry.Info, status: list[CrisisStatus] | None = None, first: int = FIRST,
                     after: str | None = None) -> Page[CrisisType]:
        ctx = info.context
        ctx.require(*READ)
        page = page_params(first, after)
        async with ctx.db() as session:
            rows = await service.list_crises(session, ctx.principal,
                                             status=[s.value for s in status] if status else None, page=page)
        items, cursor = make_page(rows, page, lambda c: (c.declared_at.isoformat(), c.id))
        return Page(items=[CrisisType.of(c) for c in items], next_cursor=cursor)

    @strawberry.field(description="A crisis with its timeline")
    async def crisis(self, info: strawberry.Info, id: uuid.UUID) -> CrisisType | None:
        ctx = info.context
        ctx.require(*READ)
        async with ctx.db() as session:
            crisis, events = await service.get_crisis(session, ctx.principal, id)
        return CrisisType.of(crisis, events)


# --- mutations ----------------------------------------------------------------------------

@strawberry.input(description="Exactly one of organization: true, brandIds or accountIds")
class CrisisScopeInput:
    organization: bool | None = None
    brand_ids: list[uuid.UUID] | None = None
    account_ids: list[uuid.UUID] | None = None


@strawberry.input(description="Declare now, or ahead of time as a blackout window (startsAt/endsAt)")
class DeclareCrisisInput:
    scope: CrisisScopeInput
    reason: str
    severity: int = 2
    responders: list[uuid.UUID] = strawberry.field(default_factory=list,
                                                   description="Users who may publish crisis responses")
    starts_at: datetime | None = strawberry.field(default=None, description="A blackout window ahead of time")
    ends_at: datetime | None = strawberry.field(default=None, description="The window resolves itself (review) then")


@strawberry.input
class ResolveCrisisInput:
    crisis_id: uuid.UUID
    resolution: CrisisResolution = CrisisResolution.review
    note: str | None = None


@strawberry.type(description="A declared crisis: every scheduled post in scope was paused before this answered")
class DeclareCrisisPayload:
    crisis: CrisisType
    in_flight_published: list[uuid.UUID] = strawberry.field(
        description="Publishes under way when the freeze began that finished before it took hold")

    def remember(self) -> dict[str, Any]:
        return {"crisis_id": str(self.crisis.id), "in_flight_published": [str(i) for i in self.in_flight_published]}

    @classmethod
    async def recall(cls, session, principal, stored: dict[str, Any]) -> DeclareCrisisPayload:
        crisis, events = await service.get_crisis(session, principal, uuid.UUID(stored["crisis_id"]))
        return cls(crisis=CrisisType.of(crisis, events),
                   in_flight_published=[uuid.UUID(i) for i in stored["in_flight_published"]])


@strawberry.type(name="CrisisPreview", description="What declaring would pause; nothing was changed")
class CrisisPreviewType:
    would_pause: int
    scope: CrisisScopeType
    starts_at: datetime | None
    ends_at: datetime | None


@strawberry.type(description="A resolved crisis and what became of the posts it paused")
class ResolveCrisisPayload:
    crisis: CrisisType
    counts: ResolutionCountsType


DeclareCrisisResult = Annotated[DeclareCrisisPayload | Problem, strawberry.union("DeclareCrisisResult")]
PreviewCrisisResult = Annotated[CrisisPreviewType | Problem, strawberry.union("PreviewCrisisResult")]
ResolveCrisisResult = Annotated[ResolveCrisisPayload | Problem, strawberry.union("ResolveCrisisResult")]


def _declaration(input: DeclareCrisisInput) -> service.Declaration:
    """Checked with REST's body model; as app/crises/router.py ``declaration`` (keep the two in step)."""
    body = mutation.validated(CrisisCreate, {
        "severity": input.severity, "reason": input.reason, "responders": input.responders,
        "starts_at": input.starts_at, "ends_at": input.ends_at,
        "scope": {k: v for k, v in vars(input.scope).items() if v is not None}})
    return service.Declaration(
        severity=body.severity, scope_kind=body.scope.kind, brand_ids=body.scope.brand_ids or [],
        account_ids=body.scope.account_ids or [], reason=body.reason, responders=body.responders,
        starts_at=body.starts_at, ends_at=body.ends_at)


@strawberry.type
class CrisesMutation:
    @strawberry.mutation(description="Declare a crisis: every scheduled post in scope pauses before this answers."
                                     " Pass idempotencyKey so that a retry after a timeout cannot declare twice")
    async def declare_crisis(self, info: strawberry.Info, input: DeclareCrisisInput,
                             idempotency_key: mutation.KeyArgument = None) -> DeclareCrisisResult | None:
        async def work(session, principal):
            crisis, in_flight = await service.declare(session, principal, _declaration(input))
            return DeclareCrisisPayload(crisis=CrisisType.of(crisis), in_flight_published=list(in_flight))

        return await mutation.run(info, DECLARE, work,
                                  keyed=mutation.Keyed(idempotency_key, input, DeclareCrisisPayload))

    @strawberry.mutation(description="Dry run of declareCrisis (same input): how many posts would pause")
    async def preview_crisis(self, info: strawberry.Info, input: DeclareCrisisInput) -> PreviewCrisisResult | None:
        async def work(session, principal):
            d = _declaration(input)
            count = await service.preview(session, principal, d)
            return CrisisPreviewType(would_pause=count, scope=CrisisScopeType.of(d.scope_kind, d.brand_ids,
                                                                                  d.account_ids),
                                     starts_at=d.starts_at, ends_at=d.ends_at)

        return await mutation.run(info, DECLARE, work)

    @strawberry.mutation(description="Resolve: review (default) | resume | cancel what it paused; counts per outcome")
    async def resolve_crisis(self, info: strawberry.Info, input: ResolveCrisisInput) -> ResolveCrisisResult | None:
        async def work(session, principal):
            body = mutation.validated(CrisisResolve, {"resolution": input.resolution.value, "note": input.note})
            crisis, counts = await service.resolve(session, principal, input.crisis_id, body.resolution, body.note)
            return ResolveCrisisPayload(crisis=CrisisType.of(crisis), counts=ResolutionCountsType.of(counts))

        return await mutation.run(info, RESOLVE, work)
