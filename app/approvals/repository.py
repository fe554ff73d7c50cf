"""Every SQL statement of the approvals domain (policies, the organisation default, decisions)."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, Approval, ApprovalPolicy, Brand, OrganizationSettings, User

UNIQUE_VIOLATION: Any = object()


async def insert_policy(session: AsyncSession, values: dict[str, Any]) -> ApprovalPolicy | None:
    stmt = insert(ApprovalPolicy).values(**values).on_conflict_do_nothing().returning(ApprovalPolicy)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_policy(session: AsyncSession, policy_id: uuid.UUID, *, for_update: bool = False) -> ApprovalPolicy | None:
    stmt = select(ApprovalPolicy).where(ApprovalPolicy.id == policy_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_policies(session: AsyncSession, after, limit: int) -> list[ApprovalPolicy]:
    stmt = select(ApprovalPolicy).order_by(ApprovalPolicy.created_at, ApprovalPolicy.id).limit(limit)
    if after is not None:
        stmt = stmt.where(func.row(ApprovalPolicy.created_at, ApprovalPolicy.id) > func.row(*after))
    return list((await session.execute(stmt)).scalars())


async def replace_policy(session: AsyncSession, policy_id: uuid.UUID, version: int, values: dict[str, Any]) -> Any:
    stmt = (update(ApprovalPolicy).where(ApprovalPolicy.id == policy_id, ApprovalPolicy.version == version)
            .values(**values, version=ApprovalPolicy.version + 1, updated_at=text("now()"))
            .returning(ApprovalPolicy).execution_options(populate_existing=True, synchronize_session=False))
    try:
        async with session.begin_nested():
            return (await session.execute(stmt)).scalar_one_or_none()
    except IntegrityError:
        return UNIQUE_VIOLATION


async def default_policy_id(session: AsyncSession, *, for_update: bool = False) -> uuid.UUID | None:
    stmt = select(OrganizationSettings.default_approval_policy_id).where(OrganizationSettings.id == 1)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar()


async def set_default_policy(session: AsyncSession, policy_id: uuid.UUID | None) -> None:
    await session.execute(update(OrganizationSettings).where(OrganizationSettings.id == 1)
                          .values(default_approval_policy_id=policy_id, updated_at=text("now()")))


async def effective_policy(session: AsyncSession, account_id: uuid.UUID) -> ApprovalPolicy | None:
    """The account's policy, else its brand's, else the organisation default."""
    chosen = (
        select(func.coalesce(Account.approval_policy_id, Brand.approval_policy_id,
                             select(OrganizationSettings.default_approval_policy_id)
                             .where(OrganizationSettings.id == 1).scalar_subquery()))
        .join(Brand, Brand.id == Account.brand_id)
        .where(Account.id == account_id)
        .scalar_subquery()
    )
    return (await session.execute(select(ApprovalPolicy).where(ApprovalPolicy.id == chosen))).scalar_one_or_none()


async def active_user_ids(session: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.execute(select(User.id).where(User.id.in_(ids), User.status == "active"))
    return set(rows.scalars())


async def insert_decision(session: AsyncSession, values: dict[str, Any]) -> Approval | None:
    """None when this person already decided this revision (the unique index decides races)."""
    stmt = insert(Approval).values(**values).on_conflict_do_nothing().returning(Approval)
    return (await session.execute(stmt)).scalar_one_or_none()


async def decisions(session: AsyncSession, post_id: uuid.UUID, revision: int, round_: int) -> list[Approval]:
    stmt = (select(Approval).where(Approval.post_id == post_id, Approval.revision == revision,
                                   Approval.round == round_).order_by(Approval.created_at, Approval.id))
    return list((await session.execute(stmt)).scalars())


async def decisions_for_posts(session: AsyncSession, keys: list[tuple[uuid.UUID, int, int]]) -> list[Approval]:
    """Batch form for loaders: the decisions of many (post, revision, round) at once."""
    if not keys:
        return []
    stmt = (select(Approval)
            .where(func.row(Approval.post_id, Approval.revision, Approval.round).in_([func.row(*k) for k in keys]))
            .order_by(Approval.created_at, Approval.id))
    return list((await session.execute(stmt)).scalars())


async def history(session: AsyncSession, post_id: uuid.UUID) -> list[Approval]:
    stmt = select(Approval).where(Approval.post_id == post_id).order_by(Approval.created_at, Approval.id)
    return list((await session.execute(stmt)).scalars())

