from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.content import service
from app.content.schemas import ContentCheckRead, ContentCheckRequest, ContentRuleCreate, ContentRuleRead, RuleKind
from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.idempotency import idempotent
from app.pagination import Page, Pagination, created_key, make_page
from app.security import DirectoryRead, PostsRead, Principal, RulesWrite

router = APIRouter(tags=["content"], route_class=UnitOfWorkRoute)



async def _rule_now(session, principal: Principal, stored: dict) -> ContentRuleRead:
    return ContentRuleRead.model_validate(await service.get_rule(session, principal, uuid.UUID(stored["id"])))


@router.post("/v1/content-rules", status_code=201, response_model=ContentRuleRead,
             dependencies=[idempotent(_rule_now)],
             summary="Add a content rule to an account, a brand or the organisation")
async def create_rule(request: Request, principal: RulesWrite, body: ContentRuleCreate):
    rule = await service.create_rule(request_session(request), principal, body.model_dump())
    return ContentRuleRead.model_validate(rule)


@router.get("/v1/content-rules", response_model=Page[ContentRuleRead],
            summary="Organisation rules and the rules of brands and accounts you see")
async def list_rules(
    request: Request, principal: DirectoryRead, page: Pagination,
    account_id: Annotated[uuid.UUID | None, Query(description="rules scoped to this account")] = None,
    brand_id: Annotated[uuid.UUID | None, Query(description="rules scoped to this brand")] = None,
    kind: RuleKind | None = None,
    include_deleted: bool = False,
    applies_to: Annotated[uuid.UUID | None, Query(
        description="an account id: the rules that apply to it (organisation, its brand, itself)")] = None,
):
    rows = await service.list_rules(request_session(request), principal, page=page, account_id=account_id,
                                    brand_id=brand_id, kind=kind, include_deleted=include_deleted,
                                    applies_to=applies_to)
    items, cursor = make_page(rows, page, created_key)
    return Page[ContentRuleRead](items=[ContentRuleRead.model_validate(r) for r in items], next_cursor=cursor)


@router.get("/v1/content-rules/{rule_id}", response_model=ContentRuleRead)
async def get_rule(request: Request, principal: DirectoryRead, rule_id: uuid.UUID):
    return ContentRuleRead.model_validate(await service.get_rule(request_session(request), principal, rule_id))


@router.delete("/v1/content-rules/{rule_id}", status_code=204, response_class=Response,
               summary="Retire a rule (soft delete: stamps deleted_at)")
async def delete_rule(request: Request, principal: RulesWrite, rule_id: uuid.UUID):
    await service.delete_rule(request_session(request), principal, rule_id)
    return Response(status_code=204)


@router.post("/v1/content-checks", response_model=ContentCheckRead,
             summary="Dry run: what the content checks find in this content for this account")
async def check_content(request: Request, principal: PostsRead, body: ContentCheckRequest):
    result = await service.check_content(request_session(request), principal, account_id=body.account_id,
                                         body=body.body, link=body.link, media=body.media, labels=body.labels)
    return ContentCheckRead.model_validate(result.to_dict())
