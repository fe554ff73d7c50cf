from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request

from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.idempotency import idempotent
from app.pagination import Page, Pagination, created_key, make_page
from app.posts import service
from app.approvals.schemas import ApprovalsRead
from app.posts.schemas import (
    Decide, DecideWithReason, PostCreate, PostRead, PostReassign, PostRelease, PostUpdate, RevisionRead, ScheduleIn,
    StageReassign, TransitionIn,
)
from app.posts.workflow import Action, State
from app.security import PostsRead, PostsWrite, Principal
from app.types import Text
from app.versioning import etag, parse_if_match

router = APIRouter(prefix="/v1/posts", tags=["posts"], route_class=UnitOfWorkRoute)

IfMatch = Annotated[str | None, Header(description="The post's ETag; a stale one answers 412")]


def read(view: service.PostView) -> PostRead:
    return PostRead.of(view)


def answer(request: Request, view: service.PostView) -> PostRead:
    request.state.etag = etag(view.post.version)
    return read(view)


async def _post_now(session, principal: Principal, stored: dict) -> PostRead:
    return read(await service.get_post(session, principal, uuid.UUID(stored["id"])))


@router.post("", status_code=201, response_model=PostRead, dependencies=[idempotent(_post_now)],
             summary="Write a draft")
async def create_post(request: Request, principal: PostsWrite, body: PostCreate):
    return answer(request, await service.create_post(request_session(request), principal, **body.content()))


@router.get("", response_model=Page[PostRead], summary="Posts on accounts you can see")
async def list_posts(
    request: Request, principal: PostsRead, page: Pagination,
    account_id: uuid.UUID | None = None,
    status: Annotated[list[State] | None, Query(description="Repeat for several")] = None,
    author_id: uuid.UUID | None = None,
    label: Annotated[Text(64, 1) | None, Query()] = None,
    scheduled_from: Annotated[datetime | None, Query(description="scheduled_at >= this")] = None,
    scheduled_to: Annotated[datetime | None, Query(description="scheduled_at < this")] = None,
    missed_schedule: bool | None = None,
    stuck: Annotated[bool | None, Query(description="true: in review with a stage nobody can decide any more")] = None,
):
    views = await service.list_posts(
        request_session(request), principal, page=page, account_id=account_id,
        status=[s.value for s in status] if status else None, author_id=author_id,
        label=label, scheduled_from=scheduled_from, scheduled_to=scheduled_to,
        missed_schedule=missed_schedule, stuck=stuck)
    items, cursor = make_page(views, page, lambda v: created_key(v.post))
    return Page[PostRead](items=[read(v) for v in items], next_cursor=cursor)


@router.get("/{post_id}", response_model=PostRead)
async def get_post(request: Request, principal: PostsRead, post_id: uuid.UUID):
    return answer(request, await service.get_post(request_session(request), principal, post_id))


@router.patch("/{post_id}", response_model=PostRead,
              summary="Edit: content makes a new revision (back to draft); scheduled_at alone keeps approvals")
async def edit_post(request: Request, principal: PostsWrite, post_id: uuid.UUID, body: PostUpdate,
                    if_match: IfMatch = None):
    view = await service.edit_post(request_session(request), principal, post_id, body.changes(),
                                   expected_version=parse_if_match(if_match))
    return answer(request, view)


@router.get("/{post_id}/revisions", response_model=list[RevisionRead], summary="Every revision, oldest first")
async def list_revisions(request: Request, principal: PostsRead, post_id: uuid.UUID):
    return [RevisionRead.model_validate(r) for r in
            await service.revisions(request_session(request), principal, post_id)]


@router.get("/{post_id}/approvals", response_model=ApprovalsRead,
            summary="Each stage: required, decided, by whom, pending on whom")
async def get_approvals(request: Request, principal: PostsRead, post_id: uuid.UUID):
    return ApprovalsRead.of(await service.approvals(request_session(request), principal, post_id))


@router.post("/{post_id}/submit", response_model=PostRead, summary="Run the checks and send for review")
async def submit(request: Request, principal: PostsWrite, post_id: uuid.UUID, if_match: IfMatch = None,
                 body: TransitionIn | None = None):
    view = await service.submit(request_session(request), principal, post_id,
                                expected_version=parse_if_match(if_match))
    return answer(request, view)


async def _decide(request: Request, principal: Principal, post_id: uuid.UUID, action: Action, body: Decide | None,
                  if_match: str | None) -> PostRead:
    view = await service.decide(request_session(request), principal, post_id, action,
                                revision=body.revision if body else None, expected_version=parse_if_match(if_match),
                                comment=body.comment if body else None)
    return answer(request, view)


@router.post("/{post_id}/approve", response_model=PostRead,
             summary="Approve the open stage of the named revision (If-Match or revision required)")
async def approve(request: Request, principal: PostsWrite, post_id: uuid.UUID, if_match: IfMatch = None,
                  body: Decide | None = None):
    return await _decide(request, principal, post_id, Action.approve, body, if_match)


@router.post("/{post_id}/reject", response_model=PostRead, summary="Reject (a comment is required)")
async def reject(request: Request, principal: PostsWrite, post_id: uuid.UUID, body: DecideWithReason,
                 if_match: IfMatch = None):
    return await _decide(request, principal, post_id, Action.reject, body, if_match)


@router.post("/{post_id}/request-changes", response_model=PostRead, summary="Send back to the author (comment required)")
async def request_changes(request: Request, principal: PostsWrite, post_id: uuid.UUID, body: DecideWithReason,
                          if_match: IfMatch = None):
    return await _decide(request, principal, post_id, Action.request_changes, body, if_match)


@router.post("/{post_id}/schedule", response_model=PostRead, summary="Schedule an approved post")
async def schedule(request: Request, principal: PostsWrite, post_id: uuid.UUID, if_match: IfMatch = None,
                   body: ScheduleIn | None = None):
    view = await service.schedule(request_session(request), principal, post_id,
                                  scheduled_at=body.scheduled_at if body else None,
                                  expected_version=parse_if_match(if_match))
    return answer(request, view)


@router.post("/{post_id}/unschedule", response_model=PostRead, summary="Back to approved; nothing goes out")
async def unschedule(request: Request, principal: PostsWrite, post_id: uuid.UUID, if_match: IfMatch = None,
                     body: TransitionIn | None = None):
    view = await service.simple_transition(request_session(request), principal, post_id, Action.unschedule,
                                           expected_version=parse_if_match(if_match),
                                           comment=body.comment if body else None)
    return answer(request, view)


@router.post("/{post_id}/withdraw", response_model=PostRead, summary="Withdraw for good")
async def withdraw(request: Request, principal: PostsWrite, post_id: uuid.UUID, if_match: IfMatch = None,
                   body: TransitionIn | None = None):
    view = await service.simple_transition(request_session(request), principal, post_id, Action.withdraw,
                                           expected_version=parse_if_match(if_match),
                                           comment=body.comment if body else None)
    return answer(request, view)


@router.post("/{post_id}/stages/{index}/reassign", response_model=PostRead,
             summary="Give a stuck named-approver stage new approvers (account admins, admins)")
async def reassign_stage(request: Request, principal: PostsWrite, post_id: uuid.UUID, index: int,
                         body: StageReassign, if_match: IfMatch = None):
    view = await service.reassign_stage(request_session(request), principal, post_id, index,
                                        approvers=body.approvers, mode=body.mode, reason=body.reason,
                                        revision=body.revision, expected_version=parse_if_match(if_match))
    return answer(request, view)


@router.post("/{post_id}/reassign", response_model=PostRead,
             summary="A leaver's paused post to another author (their draft; account admins)")
async def reassign_post(request: Request, principal: PostsWrite, post_id: uuid.UUID, body: PostReassign,
                        if_match: IfMatch = None):
    view = await service.reassign_post(request_session(request), principal, post_id, author_id=body.author_id,
                                       reason=body.reason, expected_version=parse_if_match(if_match))
    return answer(request, view)


@router.post("/{post_id}/release", response_model=PostRead,
             summary="A leaver's paused post back to review, approvals voided (account admins)")
async def release_post(request: Request, principal: PostsWrite, post_id: uuid.UUID, if_match: IfMatch = None,
                       body: PostRelease | None = None):
    view = await service.release_post(request_session(request), principal, post_id,
                                      reason=body.reason if body else None, expected_version=parse_if_match(if_match))
    return answer(request, view)
