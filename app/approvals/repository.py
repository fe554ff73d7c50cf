"""Every SQL statement of the approvals domain (policies, the organisation default, decisions)."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, Approval, ApprovalPolicy, Brand, OrganizationSettings, User
from app.sql import Row

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


DECISION_FIELDS = ("id", "post_id", "revision", "round", "stage_index", "stage_name", "decision", "decided_by_kind",
                   "decided_by_id", "content_hash", "comment")
# A decision, as a CTE of the statement that moves the post (app/posts/repository.save_statement):
# it returns a row only when it wrote one (the unique index decides a race with this person's
# other request). Parameters ``_d_<field>``.
INSERT_DECISION_SQL = (f"INSERT INTO approvals ({', '.join(DECISION_FIELDS)})"
                       f" VALUES ({', '.join(':_d_' + f for f in DECISION_FIELDS)})"
                       " ON CONFLICT DO NOTHING RETURNING id")


def decision_params(values: dict[str, Any]) -> dict[str, Any]:
    return {f"_d_{f}": values[f] for f in DECISION_FIELDS}


# The decisions of a post's current revision and round, joined to the statement that locks the
# post (app/posts/repository.lock_statement): one row per decision, columns ``d_*``.
DECISIONS_JOIN = ("LEFT JOIN approvals d ON d.post_id = {p}.id AND d.revision = {p}.revision"
                  " AND d.round = {p}.review_round")
DECISION_COLUMNS = "".join(f", d.{c.name} AS d_{c.name}" for c in Approval.__table__.columns)


def joined_decisions(rows: list[Any]) -> list[Row]:
    found = [Row(r, "d_") for r in rows if r["d_id"] is not None]
    return sorted(found, key=lambda a: (a.created_at, a.id))


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


# --- stuck reviews ---------------------------------------------------------------------------
# A named-approver stage nobody can ever decide: for ``any``, no named approver approved it and
# none is able to; for ``all``, one who has not approved it is unable to. Able: an active user,
# not the author, who decided no other stage of this revision and round (one person, one stage),
# and who can see the account (a live grant on it, its brand or the organisation). Admins cannot
# decide a named stage for someone else, so without a reassignment such a post waits forever.

def _able_sql(p: str, idx: str, who: str) -> str:
    """``who`` (a uuid expression) could decide stage ``idx`` of ``{p}``'s current review."""
    return (f"(EXISTS (SELECT 1 FROM users u WHERE u.id = {who} AND u.status = 'active')"
            f" AND NOT ({p}.author_kind = 'user' AND {p}.author_id = {who})"
            f" AND NOT EXISTS (SELECT 1 FROM approvals d WHERE d.post_id = {p}.id AND d.revision = {p}.revision"
            f"   AND d.round = {p}.review_round AND d.decided_by_id = {who} AND d.stage_index <> {idx})"
            f" AND EXISTS (SELECT 1 FROM access_grants g WHERE g.user_id = {who} AND g.revoked_at IS NULL"
            f"   AND (g.expires_at IS NULL OR g.expires_at > now())"
            f"   AND (g.scope_kind = 'organization' OR g.account_id = {p}.account_id"
            f"        OR g.brand_id = (SELECT ac.brand_id FROM accounts ac WHERE ac.id = {p}.account_id))))")


def _stuck_stage_sql(p: str) -> str:
    """Predicate over ``{p}`` (posts) and ``st`` (one element of its current revision's stages)."""
    idx = "(st->>'index')::int"
    approved = (f"EXISTS (SELECT 1 FROM approvals a WHERE a.post_id = {p}.id AND a.revision = {p}.revision"
                f" AND a.round = {p}.review_round AND a.stage_index = {idx} AND a.decision = 'approve'"
                f" AND a.decided_by_id = x.id::uuid)")
    able = _able_sql(p, idx, "x.id::uuid")
    named = "jsonb_array_elements_text(st->'approvers') x(id)"
    return (f"(st ? 'approvers' AND CASE WHEN st->>'mode' = 'all'"
            f" THEN EXISTS (SELECT 1 FROM {named} WHERE NOT {approved} AND NOT {able})"
            f" ELSE NOT EXISTS (SELECT 1 FROM {named} WHERE {approved})"
            f"  AND NOT EXISTS (SELECT 1 FROM {named} WHERE {able}) END)")


_ABLE = text(f"""
    SELECT c.id FROM posts p CROSS JOIN unnest(CAST(:candidates AS uuid[])) c(id)
     WHERE p.id = :post_id AND {_able_sql("p", ":stage_index", "c.id")}
""")


async def able_to_decide(session: AsyncSession, post_id: uuid.UUID, stage_index: int,
                         candidates: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``candidates`` could decide this stage of the post's current review (the rule
    that makes a stage stuck, asked of people a reassignment would name)."""
    rows = await session.execute(_ABLE, {"post_id": post_id, "stage_index": stage_index,
                                         "candidates": list(candidates)})
    return set(rows.scalars())


_STUCK_STAGES = text(f"""
    SELECT p.id, (st->>'index')::int
      FROM posts p
      JOIN post_revisions r ON r.post_id = p.id AND r.number = p.revision
     CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.stages, '[]'::jsonb)) st
     WHERE p.id = ANY(:ids) AND p.status = 'in_review' AND {_stuck_stage_sql("p")}
""")

def stuck_indexes_sql(p: str, r: str) -> str:
    """An SQL expression: the indexes (int[]) of the stuck stages of post ``p`` whose current
    revision is ``r`` (table aliases), empty unless it is in review."""
    return (f"CASE WHEN {p}.status = 'in_review' THEN ARRAY(SELECT (st->>'index')::int"
            f" FROM jsonb_array_elements(coalesce({r}.stages, '[]'::jsonb)) st WHERE {_stuck_stage_sql(p)})"
            f" ELSE '{{}}'::int[] END")


def is_stuck_sql(p: str) -> str:
    """Predicate over posts ``p``: in review with a stage nobody can decide."""
    return f"""({p}.status = 'in_review' AND EXISTS (
    SELECT 1 FROM post_revisions r CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.stages, '[]'::jsonb)) st
     WHERE r.post_id = {p}.id AND r.number = {p}.revision AND {_stuck_stage_sql(p)}))"""


async def stuck_stages(session: AsyncSession, post_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[int]]:
    """The stages of these posts nobody can decide (one statement for any number of posts)."""
    if not post_ids:
        return {}
    out: dict[uuid.UUID, list[int]] = {}
    for post_id, index in (await session.execute(_STUCK_STAGES, {"ids": list(post_ids)})).all():
        out.setdefault(post_id, []).append(index)
    return out
