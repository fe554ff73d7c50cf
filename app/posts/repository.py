"""Every SQL statement of the posts domain."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, Post, PostRevision

# Posts still being decided whose slot has passed: they never go out on their own.
MISSING_STATES = ("in_review", "changes_requested")


async def insert_post(session: AsyncSession, values: dict[str, Any]) -> Post:
    return (await session.execute(insert(Post).values(**values).returning(Post))).scalar_one()


async def insert_revision(session: AsyncSession, values: dict[str, Any]) -> PostRevision:
    return (await session.execute(insert(PostRevision).values(**values).returning(PostRevision))).scalar_one()


async def get_post(session: AsyncSession, post_id: uuid.UUID, *, for_update: bool = False) -> Post | None:
    """``for_update`` serialises every change of one post: transitions, edits, decisions."""
    stmt = select(Post).where(Post.id == post_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def account_facts(session: AsyncSession, account_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
    row = (await session.execute(select(Account.brand_id, Account.platform).where(Account.id == account_id))).first()
    return (row[0], row[1]) if row else None


async def get_revision(session: AsyncSession, post_id: uuid.UUID, number: int) -> PostRevision | None:
    stmt = (select(PostRevision).where(PostRevision.post_id == post_id, PostRevision.number == number)
            .execution_options(populate_existing=True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def revisions_of(session: AsyncSession, keys: list[tuple[uuid.UUID, int]]) -> list[PostRevision]:
    """Batch form: many (post, number) at once (loaders, lists)."""
    if not keys:
        return []
    stmt = select(PostRevision).where(
        func.row(PostRevision.post_id, PostRevision.number).in_([func.row(*k) for k in keys]))
    return list((await session.execute(stmt)).scalars())


async def list_revisions(session: AsyncSession, post_ids: list[uuid.UUID]) -> list[PostRevision]:
    stmt = (select(PostRevision).where(PostRevision.post_id.in_(post_ids))
            .order_by(PostRevision.post_id, PostRevision.number))
    return list((await session.execute(stmt)).scalars())


async def set_review(session: AsyncSession, post_id: uuid.UUID, number: int, values: dict[str, Any]) -> None:
    """The review facts a submit attaches to a revision (findings, risk, stages, policy), and a
    reassigned stage."""
    await session.execute(update(PostRevision).where(PostRevision.post_id == post_id, PostRevision.number == number)
                          .values(**values).execution_options(synchronize_session=False))


async def update_post(session: AsyncSession, post_id: uuid.UUID, version: int, values: dict[str, Any]) -> Post | None:
    """Compare-and-set on version (the row is already locked; this is the second fence)."""
    stmt = (update(Post).where(Post.id == post_id, Post.version == version)
            .values(**values, version=Post.version + 1, updated_at=text("now()"))
            .returning(Post).execution_options(populate_existing=True, synchronize_session=False))
    return (await session.execute(stmt)).scalar_one_or_none()


def readable(visible: tuple[set[uuid.UUID], set[uuid.UUID]] | None):
    if visible is None:
        return text("true")
    brand_ids, account_ids = visible
    clauses = []
    if brand_ids:
        clauses.append(Post.account_id.in_(select(Account.id).where(Account.brand_id.in_(brand_ids))))
    if account_ids:
        clauses.append(Post.account_id.in_(account_ids))
    return or_(*clauses) if clauses else text("false")


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

_IS_STUCK_SQL = f"""(posts.status = 'in_review' AND EXISTS (
    SELECT 1 FROM post_revisions r CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.stages, '[]'::jsonb)) st
     WHERE r.post_id = posts.id AND r.number = posts.revision AND {_stuck_stage_sql("posts")}))"""
_IS_STUCK = {True: text(_IS_STUCK_SQL), False: text("NOT " + _IS_STUCK_SQL)}


async def stuck_stages(session: AsyncSession, post_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[int]]:
    """The stages of these posts nobody can decide (one statement for any number of posts)."""
    if not post_ids:
        return {}
    out: dict[uuid.UUID, list[int]] = {}
    for post_id, index in (await session.execute(_STUCK_STAGES, {"ids": list(post_ids)})).all():
        out.setdefault(post_id, []).append(index)
    return out


async def list_posts(session: AsyncSession, visible, *, account_id: uuid.UUID | None, status: list[str] | None,
                     author_id: uuid.UUID | None, label: str | None, scheduled_from: datetime | None,
                     scheduled_to: datetime | None, missed_schedule: bool | None,
                     after: tuple[datetime, uuid.UUID] | None, limit: int, stuck: bool | None = None) -> list[Post]:
    stmt = select(Post).where(readable(visible)).order_by(Post.created_at, Post.id).limit(limit)
    if account_id:
        stmt = stmt.where(Post.account_id == account_id)
    if status:
        stmt = stmt.where(Post.status.in_(status))
    if author_id:
        stmt = stmt.where(Post.author_id == author_id)
    if label:
        stmt = stmt.where(Post.labels.contains([label]))
    if scheduled_from:
        stmt = stmt.where(Post.scheduled_at >= scheduled_from)
    if scheduled_to:
        stmt = stmt.where(Post.scheduled_at < scheduled_to)
    if missed_schedule is not None:
        missed = or_(Post.missed_schedule, and_(Post.status.in_(MISSING_STATES), Post.scheduled_at <= func.now()))
        stmt = stmt.where(missed if missed_schedule else ~missed)
    if stuck is not None:
        stmt = stmt.where(_IS_STUCK[stuck])
    if after is not None:
        stmt = stmt.where(func.row(Post.created_at, Post.id) > func.row(*after))
    return list((await session.execute(stmt)).scalars())


async def flag_missed(session: AsyncSession, limit: int = 1000) -> list[Post]:
    """Stamp posts whose slot passed while still under review (set-based, skip locked rows)."""
    # review_due_at (generated, app/models/posts.py): the slot of an unflagged post in review.
    due = (select(Post.id).where(Post.review_due_at <= func.now(), Post.status.in_(MISSING_STATES),
                                 Post.missed_schedule.is_(False))
           .limit(limit).with_for_update(skip_locked=True))
    stmt = (update(Post).where(Post.id.in_(due.scalar_subquery()))
            .values(missed_schedule=True, version=Post.version + 1, updated_at=text("now()"))
            .returning(Post).execution_options(synchronize_session=False))
    return list((await session.execute(stmt)).scalars())


async def now(session: AsyncSession) -> datetime:
    return (await session.execute(select(func.now()))).scalar_one()


async def account_brands(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    if not ids:
        return {}
    return dict((await session.execute(select(Account.id, Account.brand_id).where(Account.id.in_(ids)))).all())
