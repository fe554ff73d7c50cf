from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.access import service
from app.access.schemas import GrantCreate, GrantRead, GrantRevoke
from app.db import UnitOfWorkRoute, request_session
from app.idempotency import Idempotent
from app.pagination import Page, Pagination, created_key, make_page
from app.security import AccessAdmin, AccessRead

router = APIRouter(prefix="/v1/grants", tags=["access"], route_class=UnitOfWorkRoute)


@router.post("", status_code=201, response_model=GrantRead, dependencies=[Idempotent],
             summary="Grant a role on an account, a brand or the organisation")
async def create_grant(request: Request, principal: AccessAdmin, body: GrantCreate):
    session = request_session(request)
    grant = await service.create_grant(session, principal, service.GrantRequest(
        user_id=body.user_id, role=body.role, account_id=body.account_id, brand_id=body.brand_id,
        expires_at=body.expires_at, reason=body.reason,
    ))
    return GrantRead.of(grant)


@router.get("", response_model=Page[GrantRead], summary="Grants you may see")
async def list_grants(
    request: Request, principal: AccessRead, page: Pagination,
    user_id: uuid.UUID | None = None, account_id: uuid.UUID | None = None, brand_id: uuid.UUID | None = None,
    active: Annotated[bool | None, Query(description="true: live now; false: revoked or expired")] = None,
):
    session = request_session(request)
    rows = await service.list_grants(session, principal, user_id=user_id, account_id=account_id,
                                     brand_id=brand_id, active=active, page=page)
    now = await service.current_time(session)
    items, cursor = make_page(rows, page, created_key)
    return Page[GrantRead](items=[GrantRead.of(g, now) for g in items], next_cursor=cursor)


@router.get("/{grant_id}", response_model=GrantRead)
async def get_grant(request: Request, principal: AccessRead, grant_id: uuid.UUID):
    session = request_session(request)
    grant = await service.get_grant(session, principal, grant_id)
    return GrantRead.of(grant, await service.current_time(session))


@router.post("/{grant_id}/revoke", response_model=GrantRead, summary="Revoke (stamps; never deletes)")
async def revoke_grant(request: Request, principal: AccessAdmin, grant_id: uuid.UUID, body: GrantRevoke):
    grant = await service.revoke_grant(request_session(request), principal, grant_id, body.reason)
    return GrantRead.of(grant)
