from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from app.crises import service
from app.models import CrisisStatus
from app.crises.schemas import (
    CrisisCreate, CrisisDetail, CrisisRead, CrisisResolve, DeclareRead, PreviewRead, ResolveRead, ScopeRead,
    TimelineEntry,
)
from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.errors import ValidationFailed
from app.idempotency import idempotent
from app.pagination import Page, Pagination, make_page
from app.security import CrisesDeclare, CrisesRead, CrisesResolve, Principal

router = APIRouter(prefix="/v1/crises", tags=["crises"], route_class=UnitOfWorkRoute)



def crisis_read(c) -> dict:
    return dict(
        id=c.id, severity=c.severity,
        scope=ScopeRead(organization=c.scope_kind == "organization", brand_ids=c.brand_ids or [],
                        account_ids=c.account_ids or []),
        reason=c.reason, responders=c.responders or [], status=c.status, starts_at=c.starts_at, ends_at=c.ends_at,
        declared_by_kind=c.declared_by_kind, declared_by_id=c.declared_by_id, declared_at=c.declared_at,
        activated_at=c.activated_at, paused_count=c.paused_count, resolved_at=c.resolved_at,
        resolution=c.resolution, resolution_note=c.resolution_note, outcome=c.outcome, version=c.version,
    )


def declaration(body: CrisisCreate) -> service.Declaration:
    return service.Declaration(
        severity=body.severity, scope_kind=body.scope.kind, brand_ids=body.scope.brand_ids or [],
        account_ids=body.scope.account_ids or [], reason=body.reason, responders=body.responders,
        starts_at=body.starts_at, ends_at=body.ends_at)


async def _declared_now(session, principal: Principal, stored: dict) -> DeclareRead | None:
    """A replayed declaration answers the crisis as it is now (resolved since? it says so),
    with the publishes that were in flight when it was declared."""
    if "id" not in stored:
        return None  # a dry run: nothing was made
    crisis, _ = await service.get_crisis(session, principal, uuid.UUID(stored["id"]))
    return DeclareRead(**crisis_read(crisis), in_flight_published=stored.get("in_flight_published") or [])


@router.post("", status_code=201, response_model=DeclareRead, dependencies=[idempotent(_declared_now)],
             responses={200: {"model": PreviewRead, "description": "dry_run=true: what would pause"}},
             summary="Declare a crisis: every scheduled post in scope pauses before this returns")
async def declare(request: Request, principal: CrisesDeclare, body: CrisisCreate,
                  dry_run: Annotated[bool, Query(description="Only count what would pause")] = False):
    session = request_session(request)
    d = declaration(body)
    if dry_run:
        count = await service.preview(session, principal, d)
        scope = ScopeRead(organization=d.scope_kind == "organization", brand_ids=d.brand_ids,
                          account_ids=d.account_ids)
        return JSONResponse(PreviewRead(would_pause=count, scope=scope, starts_at=d.starts_at,
                                        ends_at=d.ends_at).model_dump(mode="json"))
    crisis, in_flight = await service.declare(session, principal, d)
    return DeclareRead(**crisis_read(crisis), in_flight_published=in_flight)


@router.get("", response_model=Page[CrisisRead],
            summary="Crises over anything you can see (organisation-wide ones for everyone), newest first")
async def list_crises(request: Request, principal: CrisesRead, page: Pagination,
                      status: Annotated[list[str] | None, Query(description="scheduled | active | resolved")] = None):
    if status and not set(status) <= {s.value for s in CrisisStatus}:
        raise ValidationFailed("status: one of scheduled, active, resolved.", parameter="status")
    rows = await service.list_crises(request_session(request), principal, status=status, page=page)
    items, cursor = make_page(rows, page, lambda c: (c.declared_at.isoformat(), c.id))
    return Page[CrisisRead](items=[CrisisRead(**crisis_read(c)) for c in items], next_cursor=cursor)


@router.get("/{crisis_id}", response_model=CrisisDetail, summary="A crisis with its timeline")
async def get_crisis(request: Request, principal: CrisesRead, crisis_id: uuid.UUID):
    crisis, events = await service.get_crisis(request_session(request), principal, crisis_id)
    return CrisisDetail(**crisis_read(crisis), timeline=[
        TimelineEntry(at=e.at, kind=e.kind, actor_kind=e.actor_kind, actor_id=e.actor_id, detail=e.detail)
        for e in events])


@router.post("/{crisis_id}/resolve", response_model=ResolveRead,
             summary="Resolve: review (default) | resume | cancel what it paused; counts per outcome")
async def resolve(request: Request, principal: CrisesResolve, crisis_id: uuid.UUID, body: CrisisResolve | None = None):
    body = body or CrisisResolve()
    crisis, counts = await service.resolve(request_session(request), principal, crisis_id, body.resolution, body.note)
    return ResolveRead(**crisis_read(crisis), counts=counts)
