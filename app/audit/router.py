from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from app.audit import service
from app.audit.schemas import AuditRecordRead, VerifyRead
from app.db import UnitOfWorkRoute, request_session
from app.pagination import Page, Pagination, make_page
from app.security import AuditRead

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=UnitOfWorkRoute)


def audit_filter(
    subject_type: Annotated[str | None, Query(max_length=32)] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    correlation_id: Annotated[str | None, Query(max_length=128)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> service.AuditFilter:
    return service.AuditFilter(subject_type, subject_id, actor_id, action, correlation_id, since, until)


Filter = Annotated[service.AuditFilter, Depends(audit_filter)]


@router.get("", response_model=Page[AuditRecordRead], summary="Audit records, oldest first")
async def list_audit(request: Request, _: AuditRead, f: Filter, page: Pagination):
    after = page.after[0] if page.after else None
    if after is not None and not isinstance(after, int):
        after = None
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
