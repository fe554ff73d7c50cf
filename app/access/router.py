from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.access import service
from app.access.schemas import GrantConfirm, GrantCreate, GrantRead, GrantRevoke
from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.idempotency import idempotent
from app.pagination import Page, Pagination, created_key, make_page
from app.security import AccessAdmin, AccessRead, Principal

router = APIRouter(prefix="/v1/grants", tags=["access"], route_class=UnitOfWorkRoute)


async def _grant_now(session, principal: Principal, stored: dict) -> GrantRead:
    grant, review = await service.get_grant(session, principal, uuid.UUID(stored["id"]))
    return GrantRead.of(grant, await service.current_time(session), review)


@router.post("", status_code=201, response_model=GrantRead, dependencies=[idempotent(_grant_now)],
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
    needs_review: Annotated[bool | None, Query(description="true: live grants whose granter (or last confirmer) "
                                                           "could not grant them now")] = None,
):
    session = request_session(request)
    rows = await service.list_grants(session, principal, user_id=user_id, account_id=account_id,
                                     brand_id=brand_id, active=active, needs_review=needs_review, page=page)
    now = await service.current_time(session)
    items, cursor = make_page(rows, page, lambda row: created_key(row[0]))
    return Page[GrantRead](items=[GrantRead.of(g, now, review) for g, review in items], next_cursor=cursor)


@router.get("/{grant_id}", response_model=GrantRead)
async def get_grant(request: Request, principal: AccessRead, grant_id: uuid.UUID):
    session = request_session(request)
    grant, review = await service.get_grant(session, principal, grant_id)
    return GrantRead.of(grant, await service.current_time(session), review)


@router.post("/{grant_id}/revoke", response_model=GrantRead, summary="Revoke (stamps; never deletes)")
async def revoke_grant(request: Request, principal: AccessAdmin, grant_id: uuid.UUID, body: GrantRevoke):
    grant = await service.revoke_grant(request_session(request), principal, grant_id, body.reason)
    return GrantRead.of(grant)


@router.post("/{grant_id}/confirm", response_model=GrantRead,
             summary="Access review: vouch for a grant (it then rests on your authority)")
async def confirm_grant(request: Request, principal: AccessAdmin, grant_id: uuid.UUID, body: GrantConfirm | None = None):
    session = request_session(request)
    grant = await service.confirm_grant(session, principal, grant_id, (body or GrantConfirm()).reason)
    return GrantRead.of(grant, await service.current_time(session))
