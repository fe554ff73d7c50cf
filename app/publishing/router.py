from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request

from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.posts import service as posts_service
from app.posts.schemas import PostRead, TransitionIn
from app.publishing import jobs, service
from app.versioning import etag, parse_if_match
from app.publishing.schemas import ConnectorIn, ConnectorRead, PublicationRead
from app.security import AccessAdmin, PostsWrite, PublishingRead

IfMatch = Annotated[str | None, Header(description="The post's ETag; a stale one answers 412")]

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


# Publishing by hand: paths under /v1/posts (the post's transitions), served here so that posts
# never import publishing (publishing drives posts' moves, app/posts/moves.py).

def _post(request: Request, view) -> PostRead:
    request.state.etag = etag(view.post.version)
    return PostRead.of(view)


@router.post("/v1/posts/{post_id}/publish", tags=["posts"], response_model=PostRead,
             summary="Publish an approved post now (during a crisis: responders, crisis responses only)")
async def publish(request: Request, principal: PostsWrite, post_id: uuid.UUID, if_match: IfMatch = None,
                  body: TransitionIn | None = None):
    session = request_session(request)
    await jobs.publish_after(session, request.app.state.sessionmaker, principal, post_id,
                                        expected_version=parse_if_match(if_match))
    return _post(request, await posts_service.get_post(session, principal, post_id))


@router.post("/v1/posts/{post_id}/retract", tags=["posts"], response_model=PostRead, summary="Retract a published post")
async def retract(request: Request, principal: PostsWrite, post_id: uuid.UUID, if_match: IfMatch = None,
                  body: TransitionIn | None = None):
    session = request_session(request)
    await service.retract(session, principal, post_id, expected_version=parse_if_match(if_match))
    return _post(request, await posts_service.get_post(session, principal, post_id))
