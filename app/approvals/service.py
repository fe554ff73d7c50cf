"""Approval policies and the decisions taken under them."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import service as access_service
from app.access.policy import Access, Role
from app.approvals import repository
from app.approvals.errors import PolicyNameTaken, PolicyNotFound, UnknownApprover
from app.approvals.stages import BUILTIN_STAGES, Decision, Stage, applicable
from app.audit import service as audit
from app.errors import ConcurrentUpdate, Forbidden, PreconditionFailed
from app.models import Approval, ApprovalPolicy
from app.pagination import PageParams, cursor_after
from app.security import Principal


def snapshot(p: ApprovalPolicy) -> dict[str, Any]:
    return {"name": p.name, "description": p.description, "stages": p.stages}


async def _require_governor(session: AsyncSession, principal: Principal) -> Access:
    access = await access_service.effective_access(session, principal)
    if not (access.admin or access.has_role(Role.compliance)):
        raise Forbidden("Only admins and compliance officers manage approval policies.")
    return access


async def _check_approvers(session: AsyncSession, stages: list[dict[str, Any]]) -> None:
    named = [uuid.UUID(a) for s in stages for a in s.get("approvers", [])]
    if not named:
        return
    active = await repository.active_user_ids(session, named)
    for i, s in enumerate(stages):
        for j, a in enumerate(s.get("approvers", [])):
            if uuid.UUID(a) not in active:
                raise UnknownApprover(f"Approver {a} of stage {s['name']!r} is not an active user.",
                                      pointer=f"#/stages/{i}/approvers/{j}")


async def create_policy(session: AsyncSession, principal: Principal, *, name: str, description: str | None,
                        stages: list[dict[str, Any]]) -> ApprovalPolicy:
    await _require_governor(session, principal)
    await _check_approvers(session, stages)
    policy = await repository.insert_policy(session, {"id": uuid.uuid4(), "name": name, "description": description,
                                                      "stages": stages})
    if policy is None:
        raise PolicyNameTaken("Another approval policy has this name.", pointer="#/name")
    await audit.record(session, principal, "approval_policy.created", "approval_policy", policy.id,
                       after=snapshot(policy))
    return policy


async def get_policy(session: AsyncSession, policy_id: uuid.UUID) -> ApprovalPolicy:
    policy = await repository.get_policy(session, policy_id)
    if policy is None:
        raise PolicyNotFound("No such approval policy.")
    return policy


async def list_policies(session: AsyncSession, page: PageParams) -> list[ApprovalPolicy]:
    return await repository.list_policies(session, cursor_after(page), page.limit + 1)


async def replace_policy(session: AsyncSession, principal: Principal, policy_id: uuid.UUID, *, name: str,
                         description: str | None, stages: list[dict[str, Any]],
                         expected_version: int | None) -> ApprovalPolicy:
    """Changes apply to the next submissions; posts already in review keep the stages they got."""
    await _require_governor(session, principal)
    policy = await repository.get_policy(session, policy_id, for_update=True)
    if policy is None:
        raise PolicyNotFound("No such approval policy.")
    if expected_version is not None and expected_version != policy.version:
        raise PreconditionFailed(f"The policy is at version {policy.version}, not {expected_version}.",
                                 current_version=policy.version)
    await _check_approvers(session, stages)
    before = snapshot(policy)
    updated = await repository.replace_policy(session, policy_id, policy.version,
                                              {"name": name, "description": description, "stages": stages})
    if updated is repository.UNIQUE_VIOLATION:
        raise PolicyNameTaken("Another approval policy has this name.", pointer="#/name")
    if updated is None:
        raise ConcurrentUpdate("The policy changed while this request ran; read it again and retry.")
    await audit.record(session, principal, "approval_policy.updated", "approval_policy", policy_id, before=before,
                       after=snapshot(updated))
    return updated


async def default_policy_id(session: AsyncSession) -> uuid.UUID | None:
    return await repository.default_policy_id(session)


async def set_default_policy(session: AsyncSession, principal: Principal, policy_id: uuid.UUID | None) -> None:
    await _require_governor(session, principal)
    if policy_id is not None and await repository.get_policy(session, policy_id) is None:
        raise PolicyNotFound("No such approval policy.", pointer="#/policy_id")
    before = await repository.default_policy_id(session, for_update=True)
    if before == policy_id:
        return
    await repository.set_default_policy(session, policy_id)
    await audit.record(session, principal, "approval_policy.default_set", "organization", "default",
                       before={"default_approval_policy_id": before},
                       after={"default_approval_policy_id": policy_id})


async def check_attach(session: AsyncSession, access: Access, policy_id: uuid.UUID | None) -> None:
    """Accounts and brands attaching (or detaching) a policy. Which review a post gets is
    governance, not account administration: admins and compliance officers only."""
    if not (access.admin or access.has_role(Role.compliance)):
        raise Forbidden("Only admins and compliance officers attach approval policies.",
                        pointer="#/approval_policy_id")
    if policy_id is not None and await repository.get_policy(session, policy_id) is None:
        raise PolicyNotFound("No such approval policy.", pointer="#/approval_policy_id")


# --- stages and decisions -----------------------------------------------------------------

async def stages_for(session: AsyncSession, account_id: uuid.UUID, *, risk: str, labels: list[str],
                     crisis: bool) -> tuple[uuid.UUID | None, list[Stage]]:
    policy = await repository.effective_policy(session, account_id)
    raw = policy.stages if policy is not None else BUILTIN_STAGES
    return (policy.id if policy else None), applicable(raw, risk=risk, labels=labels, crisis=crisis)


def eligible(access: Access, principal: Principal, stage: Stage, *, brand_id: uuid.UUID,
             account_id: uuid.UUID) -> bool:
    if stage.role:
        return access.has_role(Role(stage.role), brand_id=brand_id, account_id=account_id)
    return principal.is_user and stage.names(principal.id)


def as_decision(a: Approval) -> Decision:
    return Decision(a.stage_index, a.decision, a.decided_by_kind, a.decided_by_id, a.created_at, a.comment)


async def decisions(session: AsyncSession, post_id: uuid.UUID, revision: int, round_: int) -> list[Approval]:
    return await repository.decisions(session, post_id, revision, round_)


async def decisions_for_posts(session: AsyncSession, keys: list[tuple[uuid.UUID, int, int]]) -> list[Approval]:
    return await repository.decisions_for_posts(session, keys)


async def history(session: AsyncSession, post_id: uuid.UUID) -> list[Approval]:
    return await repository.history(session, post_id)
