from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.publishing import service
from app.publishing.schemas import ConnectorIn, ConnectorRead, PublicationRead
from app.security import AccessAdmin, PublishingRead

router = APIRouter(tags=["publishing"], route_class=UnitOfWorkRoute)



@router.get("/v1/accounts/{account_id}/connector", response_model=ConnectorRead,
            summary="How this account publishes (log unless configured)")
async def get_connector(request: Request, principal: PublishingRead, account_id: uuid.UUID):
    return await service.get_connector(request_session(request), principal, account_id)


@router.put("/v1/accounts/{account_id}/connector", response_model=ConnectorRead,
            summary="Configure the account's connector (account admins)")
async def put_connector(request: Request, principal: AccessAdmin, account_id: uuid.UUID, body: ConnectorIn):
    return await service.put_connector(request_session(request), principal, account_id, kind=body.kind,
                                       url=str(body.url) if body.url else None, secret=body.secret,
                                       timeout_seconds=body.timeout_seconds, max_attempts=body.max_attempts)


@router.get("/v1/posts/{post_id}/publication", response_model=PublicationRead,
            summary="What went out: the exact content sent")
async def get_publication(request: Request, principal: PublishingRead, post_id: uuid.UUID):
    return await service.get_publication(request_session(request), principal, post_id)
