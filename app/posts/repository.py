"""Every SQL statement of the posts domain."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, Post, PostRevision
from app.posts.workflow import TRANSITIONS, Action, Outcome, State, sources, transition
from app.sql import Statement

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


async def get_revision(session: AsyncSession, post_id: uuid.UUID, number: int) -> PostRevision | None:
    stmt = (select(PostRevision).where(PostRevision.post_id == post_id, PostRevision.number == number)
            .execution_options(populate_existing=True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_revisions(session: AsyncSession, post_ids: list[uuid.UUID]) -> list[PostRevision]:
    stmt = (select(PostRevision).where(PostRevision.post_id.in_(post_ids))
            .order_by(PostRevision.post_id, PostRevision.number))
    return list((await session.execute(stmt)).scalars())


async def set_review(session: AsyncSession, post_id: uuid.UUID, number: int, values: dict[str, Any]) -> None:
    """The review facts a submit attaches to a revision (findings, risk, stages, policy), and a
    reassigned stage."""
    await session.execute(update(PostRevision).where(PostRevision.post_id == post_id, PostRevision.number == number)
                          .values(**values).execution_options(synchronize_session=False))


# --- the hot reads: one prebuilt statement each (app/sql.py) -------------------------------------

def _columns(table, alias: str, prefix: str = "") -> str:
    return ", ".join(f"{alias}.{c.name} AS {prefix}{c.name}" for c in table.columns)


_MISSED_SQL = f"(p.missed_schedule OR coalesce(p.status IN {MISSING_STATES!r} AND p.scheduled_at <= now(), false))"


_POST_AND_REVISION = f"{_columns(Post.__table__, 'p')}, {_columns(PostRevision.__table__, 'r', 'r_')}"


def _view_sql(crises_sql: str, stuck_sql: str, source: str = "posts") -> str:
    """A post (of ``source``: the table, or a CTE of changed rows) with its current revision
    (columns ``r_*``), its account's brand and platform, whether it missed its slot, the
    crises in force over it and its stuck stages."""
    return f"""
    SELECT {_POST_AND_REVISION}, a.brand_id AS account_brand_id, a.platform AS account_platform,
           {_MISSED_SQL} AS is_missed, {crises_sql} AS crisis_ids, {stuck_sql} AS stuck_indexes
      FROM {source} p
      JOIN post_revisions r ON r.post_id = p.id AND r.number = p.revision
      JOIN accounts a ON a.id = p.account_id"""


def read_statement(crises_sql: str, stuck_sql: str) -> Statement:
    """``crises_sql``/``stuck_sql``: the other domains' SQL over ``p``, ``r`` and ``a``."""
    return Statement(_view_sql(crises_sql, stuck_sql) + "\n     WHERE p.id = :post_id")


# Every change of one post starts here: its row locked (serialising transitions, edits and
# decisions), then — in a second statement, so that it sees what the holders of the lock before
# us committed — its current revision and its account's brand and platform. ``joined``: another
# domain's LEFT JOIN and columns over ``p`` (one row per joined row: a decide reads the current
# review's decisions with it).
LOCK = Statement("SELECT p.* FROM posts p WHERE p.id = :post_id FOR UPDATE")


def context_statement(joined: str = "", columns: str = "") -> Statement:
    return Statement(f"""
    SELECT {_columns(PostRevision.__table__, "r", "r_")}, a.brand_id AS account_brand_id,
           a.platform AS account_platform{columns}
      FROM (SELECT CAST(:post_id AS uuid) AS id, CAST(:revision AS int) AS revision,
                   CAST(:review_round AS int) AS review_round, CAST(:account_id AS uuid) AS account_id) p
      JOIN post_revisions r ON r.post_id = p.id AND r.number = p.revision
      LEFT JOIN accounts a ON a.id = p.account_id {joined}""")


def save_statement(keys: tuple[str, ...], crises_sql: str, stuck_sql: str, audit_sql: str,
                   first: str | None = None) -> Statement:
    """A change of one locked post in one statement: compare-and-set on version (the second
    fence), its audit record (``audit_sql`` over ``saved``: written only if the row changed),
    and the post read back as ``read_statement`` reads it. No row: the version moved.
    ``first``: another domain's write that must happen for the post to change (a decision:
    the unique index decides a race), as a CTE ``first`` returning a row when it wrote."""
    sets = "".join(f"{k} = :{k}, " for k in keys)
    guard = " AND EXISTS (SELECT 1 FROM first)" if first else ""
    return Statement(f"""
    WITH {f"first AS ({first})," if first else ""}
    saved AS (
        UPDATE posts p SET {sets}version = p.version + 1, updated_at = now()
         WHERE p.id = :post_id AND p.version = :version{guard}
        RETURNING p.*),
    audited AS ({audit_sql})
    {_view_sql(crises_sql, stuck_sql, "saved")}""")


LIST_FILTERS = {
    "account_id": "p.account_id = :account_id",
    "status": "p.status = ANY(:status)",
    "author_id": "p.author_id = :author_id",
    "label": "p.labels @> ARRAY[CAST(:label AS varchar)]",
    "scheduled_from": "p.scheduled_at >= :scheduled_from",
    "scheduled_to": "p.scheduled_at < :scheduled_to",
}
# A restricted caller: the accounts their grants name and every account of the brands they see.
# One array of account ids (an initplan): each account's range of ix_posts_account_created is
# read; an IN (subquery) inside an OR would scan every post instead (migration 0010).
VISIBLE_SQL = {  # by whether the caller sees whole brands
    False: "p.account_id = ANY(:account_ids)",
    True: ("p.account_id = ANY(ARRAY(SELECT unnest(CAST(:account_ids AS uuid[]))"
           " UNION SELECT v.id FROM accounts v WHERE v.brand_id = ANY(:brand_ids)))"),
}


def list_statement(crises_sql: str, stuck_sql: str, *, restricted: bool, brands: bool, filters: tuple[str, ...],
                   missed: bool | None, extra: str | None, after: bool) -> Statement:
    """One statement per combination of filters (a bounded number, each compiled once): a page
    of posts in (created_at, id) order, each read as ``read_statement`` reads one."""
    where = [VISIBLE_SQL[brands]] if restricted else []
    where += [LIST_FILTERS[f] for f in filters]
    if missed is not None:
        where.append(_MISSED_SQL if missed else f"NOT {_MISSED_SQL}")
    if extra:
        where.append(extra)
    if after:
        where.append("(p.created_at, p.id) > (:after_created_at, :after_id)")
    clause = " AND ".join(where) or "true"
    # The page is chosen from posts alone (index order), then joined with what it shows.
    page = f"(SELECT * FROM posts p WHERE {clause} ORDER BY p.created_at, p.id LIMIT :limit)"
    return Statement(_view_sql(crises_sql, stuck_sql, page) + "\n     ORDER BY p.created_at, p.id")


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



async def account_brands(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    if not ids:
        return {}
    return dict((await session.execute(select(Account.id, Account.brand_id).where(Account.id.in_(ids)))).all())


# --- set-based moves other domains drive (app/posts/moves.py) --------------------------------
# Every UPDATE of posts lives here. Each statement names the workflow action it performs; the
# states in its WHERE are that action's sources in workflow.TRANSITIONS and the states it
# writes are the action's targets (tests/posts/test_moves.py runs each one against a post in
# every state and fails on any move the workflow lacks).

def _lit(state: State) -> str:
    return f"'{state.value}'"


def post_scope(scope_kind: str) -> str:
    """Which posts ``p`` a crisis of this kind covers (parameters :brand_ids / :account_ids)."""
    if scope_kind == "organization":
        return "TRUE"
    if scope_kind == "brands":
        return "p.account_id IN (SELECT a.id FROM accounts a WHERE a.brand_id = ANY(CAST(:brand_ids AS uuid[])))"
    return "p.account_id = ANY(CAST(:account_ids AS uuid[]))"


def scope_params(brand_ids, account_ids) -> dict[str, Any]:
    return {"brand_ids": [str(b) for b in brand_ids or []], "account_ids": [str(a) for a in account_ids or []]}


# What a freeze pauses: scheduled posts, and claimed ones no send has begun for (a send under
# way holds the fence, so declare waits for it; one whose worker vanished mid-call has an
# unknown outcome and is never sent again, it fails). Each condition matches a partial index
# (ix_posts_due, ix_posts_claimed): no scan of the whole table under the exclusive fence.
_FREEZE_ALSO = {State.scheduled: "p.due_at IS NOT NULL",
                State.publishing: "(p.lease_until IS NOT NULL OR p.next_attempt_at IS NOT NULL)"
                                  " AND p.sending_since IS NULL"}
assert set(_FREEZE_ALSO) == set(sources(Action.freeze))
# scheduled first (workflow order): a claim committing between the two statements is then
# caught by the second (a new snapshot), so the count and the audit miss nothing.
_FREEZABLE = {s: f"{_FREEZE_ALSO[s]} AND p.status = {_lit(s)}" for s in sources(Action.freeze)}
_PAUSED = {transition(s, Action.freeze) for s in _FREEZABLE}.pop()


async def count_freezable(session: AsyncSession, scope_kind: str, params: dict[str, Any],
                          window: tuple[datetime | None, datetime | None] | None = None) -> int:
    freezable = " OR ".join(f"({w})" for w in _FREEZABLE.values())
    sql = f"SELECT count(*) FROM posts p WHERE ({freezable}) AND {post_scope(scope_kind)}"
    sql, params = _windowed(sql, params, window)
    return int((await session.execute(text(sql), params)).scalar())


def _windowed(sql: str, params: dict[str, Any], window) -> tuple[str, dict[str, Any]]:
    """Only posts whose slot falls in [starts, ends) (either end open when None)."""
    starts, ends = window or (None, None)
    if starts is not None:
        sql, params = sql + " AND p.scheduled_at >= :w_start", {**params, "w_start": starts}
    if ends is not None:
        sql, params = sql + " AND p.scheduled_at < :w_end", {**params, "w_end": ends}
    return sql, params


async def freeze(session: AsyncSession, crisis_id: uuid.UUID, scope_kind: str, params: dict[str, Any],
                 audit_sql, window=None) -> int:
    """Pause every scheduled (or claimed, not yet sent) post in scope, keeping its slot: one
    set-based statement per source state, audited in that same statement.
    ``audit_sql(old_status)`` gives the audit insert over the CTE ``paused`` (id).

    No index names a column this changes (app/models/posts.py), so every row is updated in
    place (HOT): that is what keeps 100,000 posts well under a second."""
    total = 0
    for old_status, freezable in _FREEZABLE.items():
        where = f"{freezable} AND {post_scope(scope_kind)}"
        where, bound = _windowed(where, params, window)
        audit_sql_text, audit_params = audit_sql(old_status.value)
        sql = f"""
        WITH paused AS (
            UPDATE posts p SET status = {_lit(_PAUSED)}, paused_by_crisis_id = CAST(:crisis_id AS uuid),
                   lease_until = NULL, next_attempt_at = NULL, version = p.version + 1, updated_at = now()
             WHERE {where}
            RETURNING p.id
        ), audited AS ({audit_sql_text})
        SELECT count(*) FROM paused
        """
        result = await session.execute(text(sql), {**bound, **audit_params, "crisis_id": str(crisis_id)})
        total += int(result.scalar())
    return total


# A crisis holds now when it is active, or when its window has begun but the worker has not
# switched it on yet (the same rule as app/crises/repository.py's).
_CRISIS_IN_FORCE = "(c.status = 'active' OR (c.status = 'scheduled' AND c.starts_at <= now()))"


async def hand_over(session: AsyncSession, crisis_id: uuid.UUID, audit_sql: tuple[str, dict[str, Any]],
                    *, windows_ahead: bool) -> int:
    """Posts this crisis paused that another crisis still holds: one in force whose horizon
    (``ends_at``) is past the post's slot, or — ``windows_ahead``, when posts go back on
    schedule — a window ahead whose span holds the slot. That one holds them now, whatever
    this one's resolution; they stay paused (no move). ``audit_sql`` audits the CTE
    ``handed`` (id, crisis_id)."""
    ahead = (" OR (c.status = 'scheduled' AND p.scheduled_at >= c.starts_at"
             " AND (c.ends_at IS NULL OR p.scheduled_at < c.ends_at))") if windows_ahead else ""
    other = f"""
        SELECT c.id FROM crises c JOIN accounts a ON a.id = p.account_id
         WHERE c.id <> CAST(:crisis_id AS uuid)
           AND (({_CRISIS_IN_FORCE} AND (c.ends_at IS NULL OR p.scheduled_at IS NULL OR p.scheduled_at < c.ends_at)){ahead})
           AND (c.scope_kind = 'organization' OR p.account_id = ANY(c.account_ids) OR a.brand_id = ANY(c.brand_ids))
    """
    audit_sql_text, audit_params = audit_sql
    sql = f"""
    WITH handed AS (
        UPDATE posts p SET paused_by_crisis_id = ({other} ORDER BY c.declared_at LIMIT 1),
               version = p.version + 1, updated_at = now()
         WHERE p.paused_by_crisis_id = CAST(:crisis_id AS uuid) AND p.status = {_lit(_PAUSED)} AND EXISTS ({other})
        RETURNING p.id, p.paused_by_crisis_id AS crisis_id
    ), audited AS ({audit_sql_text})
    SELECT count(*) FROM handed
    """
    return int((await session.execute(text(sql), {**audit_params, "crisis_id": str(crisis_id)})).scalar())


# A resolution's move out of paused, from the workflow: review voids every approval (a new
# round: the world changed); resume puts future slots back on schedule and leaves passed ones
# approved but unscheduled (never a burst); cancel withdraws.
RELEASE_ACTIONS = {"review": Action.review, "resume": Action.resume, "cancel": Action.withdraw}
assert all(State.paused in sources(a) for a in RELEASE_ACTIONS.values())
_RESUMED = TRANSITIONS[State.paused][Action.resume]
_RELEASE = {
    "review": f"status = {_lit(transition(State.paused, Action.review))}, review_round = p.review_round + 1,"
              " approved_revision = NULL, approved_content_hash = NULL",
    "resume": f"status = CASE WHEN p.scheduled_at > now() THEN {_lit(_RESUMED[Outcome.still_future])}"
              f" ELSE {_lit(_RESUMED[Outcome.slot_passed])} END",
    "cancel": f"status = {_lit(transition(State.paused, Action.withdraw))}",
}
RELEASE_OUTCOME = {State.in_review.value: "review", State.scheduled.value: "resumed",
                   State.approved.value: "unscheduled", State.withdrawn.value: "cancelled"}


async def release(session: AsyncSession, crisis_id: uuid.UUID, resolution: str,
                  audit_sql: tuple[str, dict[str, Any]]) -> dict[str, int]:
    audit_sql_text, audit_params = audit_sql
    sql = f"""
    WITH released AS (
        UPDATE posts p SET {_RELEASE[resolution]}, paused_by_crisis_id = NULL, version = p.version + 1,
               updated_at = now()
         WHERE p.paused_by_crisis_id = CAST(:crisis_id AS uuid) AND p.status = {_lit(State.paused)}
        RETURNING p.id, p.status, p.scheduled_at
    ), audited AS ({audit_sql_text})
    SELECT status, count(*) FROM released GROUP BY status
    """
    rows = await session.execute(text(sql), {**audit_params, "crisis_id": str(crisis_id)})
    return {RELEASE_OUTCOME[k]: int(v) for k, v in rows.all()}


async def published_since(session: AsyncSession, scope_kind: str, params: dict[str, Any],
                          since: datetime) -> list[uuid.UUID]:
    sql = (f"SELECT p.id FROM posts p WHERE p.published_at >= :since AND p.status = {_lit(State.published)}"
           f" AND {post_scope(scope_kind)} ORDER BY p.published_at")
    rows = await session.execute(text(sql), {**params, "since": since})
    return list(rows.scalars())


# The scheduler's claim: due scheduled posts (due), and publishing ones whose retry is due or
# whose claim was abandoned before any send began (retry). Locked and claimed in one
# statement; other workers skip them. ``due_at`` (a generated column, app/models/posts.py) is
# the queue key: the slot, or the retry time of a claim; paused posts keep theirs and are
# skipped here.
[_DUE_FROM] = sources(Action.due)
[_RETRY_FROM] = sources(Action.retry)
_CLAIMED = transition(_DUE_FROM, Action.due)
assert transition(_RETRY_FROM, Action.retry) is _CLAIMED
_CLAIM = text(f"""
UPDATE posts p SET status = {_lit(_CLAIMED)}, lease_until = now() + make_interval(secs => :lease),
       next_attempt_at = NULL, version = p.version + 1, updated_at = now()
 WHERE p.id IN (
    SELECT id FROM posts
     WHERE due_at <= now()
       AND (status = {_lit(_DUE_FROM)}
            OR (status = {_lit(_RETRY_FROM)} AND sending_since IS NULL AND (lease_until IS NULL OR lease_until < now())))
     ORDER BY due_at
     FOR UPDATE SKIP LOCKED
     LIMIT :limit)
RETURNING p.id, p.lease_until
""")


async def claim_due(session: AsyncSession, limit: int, lease_seconds: float) -> list[tuple[uuid.UUID, Any]]:
    rows = await session.execute(_CLAIM, {"limit": limit, "lease": lease_seconds})
    return [(r[0], r[1]) for r in rows.all()]


async def move_post(session: AsyncSession, post_id: uuid.UUID, from_state: State, values: dict[str, Any]) -> Post | None:
    """One post's publishing step (``values`` may set ``status``): only while it is still in
    ``from_state`` (the caller holds its row lock and checked it); None otherwise."""
    stmt = (update(Post).where(Post.id == post_id, Post.status == from_state.value)
            .values(**values, version=Post.version + 1, updated_at=func.now())
            .returning(Post).execution_options(populate_existing=True, synchronize_session=False))
    return (await session.execute(stmt)).scalar_one_or_none()


async def lease_for(session: AsyncSession, post_id: uuid.UUID, seconds: float) -> None:
    await session.execute(text("UPDATE posts SET lease_until = now() + make_interval(secs => :s) WHERE id = :id"),
                          {"s": seconds, "id": post_id})


async def retry_in(session: AsyncSession, post_id: uuid.UUID, seconds: float) -> None:
    await session.execute(text("UPDATE posts SET next_attempt_at = now() + make_interval(secs => :s) WHERE id = :id"),
                          {"s": seconds, "id": post_id})


[_SENDING] = sources(Action.fail)
_ABANDONED = transition(_SENDING, Action.fail)


async def fail_abandoned_sends(session: AsyncSession) -> list[Post]:
    """Sends whose worker vanished mid-call: the outcome is unknown, so they never go again."""
    stmt = (update(Post).where(Post.sending_since.is_not(None), Post.lease_until < func.now(),
                               Post.status == _SENDING.value)
            .values(status=_ABANDONED.value, sending_since=None, lease_until=None,
                    last_error="outcome unknown: the publishing worker stopped during the connector call; "
                               "check the platform before publishing again",
                    version=Post.version + 1, updated_at=func.now())
            .returning(Post).execution_options(synchronize_session=False))
    return list((await session.execute(stmt)).scalars())


# A leaver's posts (app/users/offboarding.py): what they had not yet sent for review or that
# is still being decided is withdrawn; what is scheduled (or claimed, not yet sent) pauses,
# its slot kept, until an account admin reassigns or releases it. Each statement audits
# itself (one bulk record naming every post) with the offboarding's correlation id.
LEAVER_WITHDRAWS = (State.draft, State.in_review, State.changes_requested)
assert all(s in sources(Action.withdraw) for s in LEAVER_WITHDRAWS)
AUTHOR_OFFBOARDED = "author_offboarded"


async def withdraw_authored(session: AsyncSession, user_id: uuid.UUID, audit_sql: tuple[str, dict[str, Any]]) -> int:
    states = ", ".join(_lit(s) for s in LEAVER_WITHDRAWS)
    audit_sql_text, audit_params = audit_sql
    sql = f"""
    WITH withdrawn AS (
        UPDATE posts p SET status = {_lit(transition(State.draft, Action.withdraw))},
               version = p.version + 1, updated_at = now()
         WHERE p.author_kind = 'user' AND p.author_id = CAST(:user_id AS uuid) AND p.status IN ({states})
        RETURNING p.id, p.status
    ), audited AS ({audit_sql_text})
    SELECT count(*) FROM withdrawn
    """
    return int((await session.execute(text(sql), {**audit_params, "user_id": str(user_id)})).scalar())


async def pause_authored(session: AsyncSession, user_id: uuid.UUID, audit_sql) -> int:
    """``audit_sql(old_status)`` audits the CTE ``paused`` (id)."""
    total = 0
    for old_status, freezable in _FREEZABLE.items():
        audit_sql_text, audit_params = audit_sql(old_status.value)
        sql = f"""
        WITH paused AS (
            UPDATE posts p SET status = {_lit(_PAUSED)}, pause_reason = :reason, lease_until = NULL,
                   next_attempt_at = NULL, version = p.version + 1, updated_at = now()
             WHERE {freezable} AND p.author_kind = 'user' AND p.author_id = CAST(:user_id AS uuid)
            RETURNING p.id
        ), audited AS ({audit_sql_text})
        SELECT count(*) FROM paused
        """
        result = await session.execute(text(sql), {**audit_params, "user_id": str(user_id),
                                                    "reason": AUTHOR_OFFBOARDED})
        total += int(result.scalar())
    return total
