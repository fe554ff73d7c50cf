from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request

from app.access import service as access_service
from app.access.schemas import AccessEntryRead, GrantRead, UserAccessRead
from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.idempotency import idempotent
from app.models import UserStatus
from app.pagination import Page, Pagination, created_key, make_page
from app.security import AccessAdmin, DirectoryRead, Principal
from app.types import Text
from app.users import service
from app.users.schemas import UserCreate, UserRead, UserUpdate
from app.versioning import etag, parse_if_match

router = APIRouter(prefix="/v1/users", tags=["users"], route_class=UnitOfWorkRoute)


async def _user_now(session, principal: Principal, stored: dict) -> UserRead:
    return UserRead.model_validate(await service.get_user(session, principal, uuid.UUID(stored["id"])))


@router.post("", status_code=201, response_model=UserRead, dependencies=[idempotent(_user_now)])
async def create_user(request: Request, principal: AccessAdmin, body: UserCreate):
    user = await service.create_user(request_session(request), principal, body.model_dump())
    return UserRead.model_validate(user)


@router.get("", response_model=Page[UserRead])
async def list_users(request: Request, principal: DirectoryRead, page: Pagination,
                     status: UserStatus | None = None,
                     q: Annotated[Text(200, 1) | None, Query(description="email, name or external_id")] = None):
    rows = await service.list_users(request_session(request), principal, status=status, q=q, page=page)
    items, cursor = make_page(rows, page, created_key)
    return Page[UserRead](items=[UserRead.model_validate(u) for u in items], next_cursor=cursor)


@router.get("/{user_id}", response_model=UserRead)
async def get_user(request: Request, principal: DirectoryRead, user_id: uuid.UUID):
    user = await service.get_user(request_session(request), principal, user_id)
    request.state.etag = etag(user.version)
    return UserRead.model_validate(user)


@router.patch("/{user_id}", response_model=UserRead,
              summary="Change a user; suspending or offboarding revokes every grant and token")
async def update_user(request: Request, principal: AccessAdmin, user_id: uuid.UUID, body: UserUpdate,
                      if_match: Annotated[str | None, Header()] = None):
    user = await service.update_user(request_session(request), principal, user_id,
                                     body.model_dump(exclude_unset=True), expected_version=parse_if_match(if_match))
    request.state.etag = etag(user.version)
    return UserRead.model_validate(user)


@router.get("/{user_id}/access", response_model=UserAccessRead, summary="Effective access now")
async def user_access(request: Request, principal: DirectoryRead, user_id: uuid.UUID):
    session = request_session(request)
    await service.get_user(session, principal, user_id)  # visibility
    user, entries = await access_service.user_access(session, principal, user_id)
    now = await access_service.current_time(session)
    rows = [AccessEntryRead(grant=GrantRead.of(e.grant, now, e.needs_review), brand_id=e.brand_id, effective=e.effective,
                            effective_role=e.effective_role, not_effective_because=e.reason) for e in entries]
    return UserAccessRead(
        user_id=user_id, status=user["status"],
        training_valid_until=user["training_valid_until"].isoformat() if user["training_valid_until"] else None,
        effective=[r for r in rows if r.effective], not_effective=[r for r in rows if not r.effective],
    )
