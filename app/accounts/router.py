from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request

from app.accounts import service
from app.accounts.schemas import AccountCreate, AccountRead, AccountUpdate, Platform
from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.idempotency import idempotent
from app.pagination import Page, Pagination, created_key, make_page
from app.security import AccessAdmin, DirectoryRead, Principal
from app.versioning import etag, parse_if_match

router = APIRouter(prefix="/v1/accounts", tags=["accounts"], route_class=UnitOfWorkRoute)


async def _account_now(session, principal: Principal, stored: dict) -> AccountRead:
    return AccountRead.model_validate(await service.get_account(session, principal, uuid.UUID(stored["id"])))


@router.post("", status_code=201, response_model=AccountRead, dependencies=[idempotent(_account_now)])
async def create_account(request: Request, principal: AccessAdmin, body: AccountCreate):
    account = await service.create_account(request_session(request), principal, body.model_dump(mode="python"))
    request.state.etag = etag(account.version)
    return AccountRead.model_validate(account)


@router.get("", response_model=Page[AccountRead], summary="Accounts you hold a grant on")
async def list_accounts(request: Request, principal: DirectoryRead, page: Pagination,
                        brand_id: uuid.UUID | None = None, platform: Platform | None = None,
                        status: Literal["active", "suspended", "archived"] | None = None,
                        needs_attention: bool | None = None):
    rows = await service.list_accounts(request_session(request), principal, page=page, brand_id=brand_id,
                                       platform=platform.value if platform else None, status=status,
                                       needs_attention=needs_attention)
    items, cursor = make_page(rows, page, created_key)
    return Page[AccountRead](items=[AccountRead.model_validate(a) for a in items], next_cursor=cursor)


@router.get("/{account_id}", response_model=AccountRead)
async def get_account(request: Request, principal: DirectoryRead, account_id: uuid.UUID):
    account = await service.get_account(request_session(request), principal, account_id)
    request.state.etag = etag(account.version)
    return AccountRead.model_validate(account)


@router.patch("/{account_id}", response_model=AccountRead)
async def update_account(request: Request, principal: AccessAdmin, account_id: uuid.UUID, body: AccountUpdate,
                         if_match: Annotated[str | None, Header()] = None):
    account = await service.update_account(request_session(request), principal, account_id,
                                           body.model_dump(exclude_unset=True), expected_version=parse_if_match(if_match))
    request.state.etag = etag(account.version)
    return AccountRead.model_validate(account)
