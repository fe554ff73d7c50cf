from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from app.audit import service
from app.audit.schemas import AuditRecordRead, VerifyRead
from app.db import UnitOfWorkRoute, request_session
from app.errors import ValidationFailed
from app.pagination import Page, Pagination, make_page
from app.security import AuditRead

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=UnitOfWorkRoute)


def audit_filter(
    subject_type: Annotated[str | None, Query(max_length=32, description="user, brand, account, grant ...")] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[uuid.UUID | None, Query(description="The user or service that acted")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. grant.revoked")] = None,
    correlation_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[datetime | None, Query(description="occurred_at >= since (no offset means UTC)")] = None,
    until: Annotated[datetime | None, Query(description="occurred_at < until (no offset means UTC)")] = None,
) -> service.AuditFilter:
    return service.AuditFilter(subject_type, subject_id, actor_id, action, correlation_id, _utc(since), _utc(until))


def _utc(moment: datetime | None) -> datetime | None:
    # A time without an offset means UTC (times are RFC 3339 UTC), not the server's local zone.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


Filter = Annotated[service.AuditFilter, Depends(audit_filter)]


@router.get("", response_model=Page[AuditRecordRead], summary="Audit records, oldest first")
async def list_audit(request: Request, _: AuditRead, f: Filter, page: Pagination):
    after = page.after[0] if page.after else None
    if after is not None and (isinstance(after, bool) or not isinstance(after, int)):
        # A cursor from another list must not silently restart this one from the top.
        raise ValidationFailed("cursor: not a cursor this service issued.", parameter="cursor")
    rows = await service.list_audit(request_session(request), f, after, page.limit + 1)
    items, cursor = make_page(rows, page, lambda r: (r.id,))
    return Page[AuditRecordRead](items=[AuditRecordRead.of(r) for r in items], next_cursor=cursor)


@router.get("/verify", response_model=VerifyRead, summary="Walk the hash chain; report the first broken link")
async def verify(request: Request, _: AuditRead):
    return VerifyRead(**dataclasses.asdict(await service.verify(request_session(request))))


@router.get(
    "/export",
    summary="All matching records as JSON Lines",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/jsonl": {}}}},
)
async def export(request: Request, _: AuditRead, f: Filter):
    maker = request.app.state.sessionmaker

    async def lines():
        async for rec in service.export(maker, f):
            yield AuditRecordRead.of(rec).model_dump_json() + "\n"

    return StreamingResponse(lines(), media_type="application/jsonl",
                             headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'})
