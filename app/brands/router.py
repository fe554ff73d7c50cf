from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request

from app.brands import service
from app.brands.schemas import BrandCreate, BrandRead, BrandUpdate
from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.idempotency import idempotent
from app.pagination import Page, Pagination, created_key, make_page
from app.security import AccessAdmin, DirectoryRead, Principal
from app.versioning import etag, parse_if_match

router = APIRouter(prefix="/v1/brands", tags=["brands"], route_class=UnitOfWorkRoute)


async def _brand_now(session, principal: Principal, stored: dict) -> BrandRead:
    return BrandRead.model_validate(await service.get_brand(session, principal, uuid.UUID(stored["id"])))


@router.post("", status_code=201, response_model=BrandRead, dependencies=[idempotent(_brand_now)])
async def create_brand(request: Request, principal: AccessAdmin, body: BrandCreate):
    brand = await service.create_brand(request_session(request), principal, body.model_dump())
    request.state.etag = etag(brand.version)
    return BrandRead.model_validate(brand)


@router.get("", response_model=Page[BrandRead])
async def list_brands(request: Request, principal: DirectoryRead, page: Pagination):
    rows = await service.list_brands(request_session(request), principal, page)
    items, cursor = make_page(rows, page, created_key)
    return Page[BrandRead](items=[BrandRead.model_validate(b) for b in items], next_cursor=cursor)


@router.get("/{brand_id}", response_model=BrandRead)
async def get_brand(request: Request, principal: DirectoryRead, brand_id: uuid.UUID):
    brand = await service.get_brand(request_session(request), principal, brand_id)
    request.state.etag = etag(brand.version)
    return BrandRead.model_validate(brand)


@router.patch("/{brand_id}", response_model=BrandRead)
async def update_brand(request: Request, principal: AccessAdmin, brand_id: uuid.UUID, body: BrandUpdate,
                       if_match: Annotated[str | None, Header()] = None):
    brand = await service.update_brand(request_session(request), principal, brand_id,
                                       body.model_dump(exclude_unset=True), expected_version=parse_if_match(if_match))
    request.state.etag = etag(brand.version)
    return BrandRead.model_validate(brand)
