from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator
from fastapi.responses import StreamingResponse

from app.audit import service
from app.audit.schemas import AuditRecordRead, CheckpointPage, CheckpointRead, VerifyRead
from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.pagination import Page, Pagination, id_after, make_page
from app.security import AuditRead
from app.types import Text

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=UnitOfWorkRoute)


def _utc_representable(moment: datetime | None) -> datetime | None:
    # A time without an offset means UTC (times are RFC 3339 UTC), not the server's local zone.
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be between 0001-01-01 and 9999-12-31 in UTC") from None
    return moment


def audit_filter(
    subject_type: Annotated[Text(32, 1) | None, Query(description="user, brand, account, grant ...")] = None,
    subject_id: Annotated[Text(64, 1) | None, Query()] = None,
    actor_id: Annotated[uuid.UUID | None, Query(description="The user or service that acted")] = None,
    action: Annotated[Text(64, 1) | None, Query(description="e.g. grant.revoked")] = None,
    correlation_id: Annotated[Text(128, 1) | None, Query()] = None,
    since: Annotated[datetime | None, AfterValidator(_utc_representable),
                     Query(description="occurred_at >= since (no offset means UTC)")] = None,
    until: Annotated[datetime | None, AfterValidator(_utc_representable),
                     Query(description="occurred_at < until (no offset means UTC)")] = None,
) -> service.AuditFilter:
    return service.AuditFilter(subject_type, subject_id, actor_id, action, correlation_id, since, until)


Filter = Annotated[service.AuditFilter, Depends(audit_filter)]


@router.get("", response_model=Page[AuditRecordRead], summary="Audit records, oldest first")
async def list_audit(request: Request, _: AuditRead, f: Filter, page: Pagination):
    rows = await service.list_audit(request_session(request), f, id_after(page), page.limit + 1)
    items, cursor = make_page(rows, page, lambda r: (r.id,))
    return Page[AuditRecordRead](items=[AuditRecordRead.of(r) for r in items], next_cursor=cursor)


@router.get("/verify", response_model=VerifyRead,
            summary="Walk the hash chain, compare it with every stored checkpoint; report the first broken link")
async def verify(request: Request, _: AuditRead):
    key = service.checkpoint_public_key(request.app.state.settings, strict=False)
    return VerifyRead(**dataclasses.asdict(await service.verify(request_session(request), public_key=key)))


@router.get("/checkpoints", response_model=CheckpointPage,
            summary="Checkpoints of the chain's head, newest first, and the public key that verifies them")
async def list_checkpoints(request: Request, _: AuditRead, page: Pagination):
    rows = await service.list_checkpoints(request_session(request), id_after(page), page.limit + 1)
    items, cursor = make_page(rows, page, lambda r: (r.id,))
    public_key, key_id = service.verifier(request.app.state.settings)
    return CheckpointPage(items=[CheckpointRead.model_validate(r) for r in items], next_cursor=cursor,
                          public_key=public_key, key_id=key_id)


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
