from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request

from app.approvals import service
from app.approvals.schemas import DefaultPolicyIn, DefaultPolicyRead, PolicyIn, PolicyRead
from app.approvals.stages import BUILTIN_STAGES
from app.db import request_session
from app.uow import UnitOfWorkRoute
from app.idempotency import idempotent
from app.pagination import Page, Pagination, created_key, make_page
from app.security import PoliciesRead, PoliciesWrite
from app.versioning import etag, parse_if_match

router = APIRouter(prefix="/v1/approval-policies", tags=["approvals"], route_class=UnitOfWorkRoute)



def _read(policy, default_id) -> PolicyRead:
    out = PolicyRead.model_validate(policy)
    out.is_default = policy.id == default_id
    return out


@router.get("/default", response_model=DefaultPolicyRead, summary="The organisation's default policy")
async def get_default(request: Request, _: PoliciesRead):
    session = request_session(request)
    default_id = await service.default_policy_id(session)
    policy = await service.get_policy(session, default_id) if default_id else None
    return DefaultPolicyRead(policy_id=default_id, policy=_read(policy, default_id) if policy else None,
                             builtin_stages=BUILTIN_STAGES)


@router.put("/default", response_model=DefaultPolicyRead,
            summary="Set (or clear) the organisation default; accounts and brands without a policy use it")
async def set_default(request: Request, principal: PoliciesWrite, body: DefaultPolicyIn):
    session = request_session(request)
    await service.set_default_policy(session, principal, body.policy_id)
    policy = await service.get_policy(session, body.policy_id) if body.policy_id else None
    return DefaultPolicyRead(policy_id=body.policy_id, policy=_read(policy, body.policy_id) if policy else None,
                             builtin_stages=BUILTIN_STAGES)


async def _policy_now(session, principal, stored: dict) -> PolicyRead:
    return _read(await service.get_policy(session, uuid.UUID(stored["id"])), await service.default_policy_id(session))


@router.post("", status_code=201, response_model=PolicyRead, dependencies=[idempotent(_policy_now)])
async def create_policy(request: Request, principal: PoliciesWrite, body: PolicyIn):
    session = request_session(request)
    policy = await service.create_policy(session, principal, name=body.name, description=body.description,
                                         stages=[s.stored() for s in body.stages])
    request.state.etag = etag(policy.version)
    return _read(policy, await service.default_policy_id(session))


@router.get("", response_model=Page[PolicyRead])
async def list_policies(request: Request, _: PoliciesRead, page: Pagination):
    session = request_session(request)
    rows = await service.list_policies(session, page)
    items, cursor = make_page(rows, page, created_key)
    default_id = await service.default_policy_id(session)
    return Page[PolicyRead](items=[_read(p, default_id) for p in items], next_cursor=cursor)


@router.get("/{policy_id}", response_model=PolicyRead)
async def get_policy(request: Request, _: PoliciesRead, policy_id: uuid.UUID):
    session = request_session(request)
    policy = await service.get_policy(session, policy_id)
    request.state.etag = etag(policy.version)
    return _read(policy, await service.default_policy_id(session))


@router.put("/{policy_id}", response_model=PolicyRead,
            summary="Replace a policy; posts already in review keep the stages they were given")
async def replace_policy(request: Request, principal: PoliciesWrite, policy_id: uuid.UUID, body: PolicyIn,
                         if_match: Annotated[str | None, Header()] = None):
    session = request_session(request)
    policy = await service.replace_policy(session, principal, policy_id, name=body.name,
                                          description=body.description, stages=[s.stored() for s in body.stages],
                                          expected_version=parse_if_match(if_match))
    request.state.etag = etag(policy.version)
    return _read(policy, await service.default_policy_id(session))
