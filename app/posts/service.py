"""Posts: content, revisions and the workflow (app/posts/workflow.py) with its approvals.

Every change of a post locks its row first, so transitions, edits and decisions on one
post are serialised by the database; versions (ETags) fence stale callers.
"""
from __future__ import annotations

import functools
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock, fence
from app.access import service as access_service
from app.access.policy import Access, Role
from app.accounts import service as accounts_service
from app.approvals import review
from app.approvals import service as approvals_service
from app.approvals.errors import SelfApproval
from app.audit import service as audit
from app.content import service as content_service
from app.crises import service as crises_service
from app.errors import ConcurrentUpdate, NotFound, PreconditionFailed, PreconditionRequired, ValidationFailed
from app.models import Post, PostRevision
from app.pagination import PageParams, cursor_after
from app.posts import repository
from app.posts.errors import (
    ApprovalStale, ContentBlocked, InvalidTransition, PostActionForbidden, PostNotFound, RevisionMismatch,
    ScheduleInvalid,
)
from app.posts.workflow import Action, IllegalTransition, Outcome, State, allowed, can, transition
from app.security import Principal
from app.sql import Row, Statement

CONTENT_FIELDS = ("body", "link", "media", "labels")


def content_hash(account_id: uuid.UUID, body: str, link: str | None, media: list[str], labels: list[str]) -> str:
    """What an approval is bound to: change any of these and it no longer counts."""
    doc = {"account_id": str(account_id), "body": body, "link": link, "media": list(media),
           "labels": sorted(labels)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


@dataclass
class PostView:
    post: Post
    revision: PostRevision
    missed_schedule: bool
    active_crises: list[uuid.UUID] = field(default_factory=list)
    # Named-approver stages nobody can decide any more (a leaver): an account admin reassigns them.
    stuck_stages: list[int] = field(default_factory=list)


@dataclass
class Ctx:
    post: Post  # read-only: a row of the locking statement (app/sql.Row), not an ORM object
    access: Access
    brand_id: uuid.UUID
    platform: str
    revision: PostRevision  # the current one (also a row)
    rows: list[Any] = field(default_factory=list)  # the statement's rows (joined decisions: decide)


def _state(post: Post) -> State:
    return State(post.status)


def _snapshot(post: Post) -> dict[str, Any]:
    return {"status": post.status, "revision": post.revision, "scheduled_at": post.scheduled_at,
            "labels": post.labels, "risk": post.risk, "review_round": post.review_round}


@functools.cache
def _context_statement(with_decisions: bool) -> Statement:
    return repository.context_statement(*review.decisions_join_sql("p")) if with_decisions \
        else repository.context_statement()


async def _load(session: AsyncSession, principal: Principal, post_id: uuid.UUID, *, lock: bool,
                decisions: bool = False) -> Ctx:
    """The post (locked when ``lock``: every change starts here), its current revision and
    its account's brand; a post the caller cannot see is not found."""
    access = await access_service.effective_access(session, principal)
    if lock:
        post = await repository.LOCK.fetchrow(session, post_id=post_id)
        rows = [] if post is None else await _context_statement(decisions).fetch(
            session, post_id=post_id, revision=post["revision"], review_round=post["review_round"],
            account_id=post["account_id"])
    else:
        post = await _read_statement().fetchrow(session, post_id=post_id)
        rows = [post] if post is not None else []
    if not rows or rows[0]["account_brand_id"] is None or not access.sees(rows[0]["account_brand_id"],
                                                                          post["account_id"]):
        raise PostNotFound("No such post.")
    first = rows[0]
    return Ctx(Row(post), access, first["account_brand_id"], first["account_platform"], Row(first, "r_"), rows)


def _require_editor(ctx: Ctx, principal: Principal) -> None:
    """The author (still a contributor here) or a publisher of the account."""
    a, p = ctx.access, ctx.post
    if review.is_author(principal, p) and a.has_role(Role.contributor, brand_id=ctx.brand_id, account_id=p.account_id):
        return
    if a.has_role(Role.publisher, brand_id=ctx.brand_id, account_id=p.account_id):
        return
    raise PostActionForbidden("Only the author or a publisher of this account may do this.")


def _require_publisher(ctx: Ctx) -> None:
    if not ctx.access.has_role(Role.publisher, brand_id=ctx.brand_id, account_id=ctx.post.account_id):
        raise PostActionForbidden("Only a publisher of this account may do this.")


def _check_version(post: Post, expected: int | None) -> None:
    if expected is not None and expected != post.version:
        raise PreconditionFailed(f"The post is at version {post.version}, not {expected}.",
                                 current_version=post.version, header="If-Match")


def _check_revision(post: Post, revision: int | None, expected: int | None, what: str) -> None:
    """A review decision names the revision it is about (If-Match, or ``revision``): missing 428."""
    if expected is None and revision is None:
        raise PreconditionRequired(f"Name the revision you {what}: If-Match with the post's ETag, or "
                                   "'revision' in the body.", header="If-Match")
    _check_version(post, expected)
    if revision is not None and revision != post.revision:
        raise RevisionMismatch(f"You {what} revision {revision}; the post is at revision {post.revision}.",
                               current_revision=post.revision, pointer="#/revision")


def _illegal(post: Post, action: Action) -> InvalidTransition:
    return InvalidTransition(
        f"Cannot {action.value.replace('_', ' ')} a post that is {post.status}.",
        current_status=post.status, allowed_transitions=[a.value for a in allowed(_state(post))],
    )


def _move(post: Post, action: Action, outcome: Outcome | None = None) -> State:
    try:
        return transition(_state(post), action, outcome)
    except IllegalTransition:
        raise _illegal(post, action) from None


@functools.cache
def _save_statement(keys: tuple[str, ...], first: str | None) -> Statement:
    return repository.save_statement(keys, *_other_domains_sql(), audit.record_sql("saved"), first)


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


async def _commit(session: AsyncSession, principal: Principal, post: Post, values: dict[str, Any], action: str, *,
                  before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
                  first: tuple[str, dict[str, Any]] | None = None) -> PostView | None:
    """Write ``values`` to the locked post (compare-and-set on its version), audit ``action``
    (``before``: the post's snapshot; ``after``: the snapshot with ``values``, plus ``after``)
    and read the post back: one statement. ``first``: another domain's write (SQL, params)
    the change depends on; None when it wrote nothing (then nothing changed)."""
    snapshot = _snapshot(post)
    changed = {**snapshot, **{k: _utc(values[k]) for k in snapshot if k in values}}
    params = audit.record_params(principal, action, "post", post.id, before=snapshot if before is None else before,
                                 after={**changed, **(after or {})})
    keys = tuple(sorted(values))
    row = await _save_statement(keys, first[0] if first else None).fetchrow(
        session, **{k: values[k] for k in keys}, **params, **(first[1] if first else {}),
        post_id=post.id, version=post.version)
    if row is None:
        if first is not None:
            return None
        raise ConcurrentUpdate("The post changed while this request ran; read it again and retry.")
    return _row_view(row)


async def _future(session: AsyncSession, when: datetime, pointer: str = "#/scheduled_at") -> None:
    if when <= await clock.transaction_time(session):
        raise ScheduleInvalid("scheduled_at must be in the future.", pointer=pointer)


async def _view(session: AsyncSession, post_id: uuid.UUID) -> PostView:
    row = await _read_statement().fetchrow(session, post_id=post_id)
    assert row is not None
    return _row_view(row)


# --- create, read, edit -------------------------------------------------------------------

async def create_post(session: AsyncSession, principal: Principal, *, account_id: uuid.UUID, body: str,
                      link: str | None, media: list[str], labels: list[str],
                      scheduled_at: datetime | None, source: str = "api",
                      external_ref: str | None = None) -> PostView:
    access = await access_service.effective_access(session, principal)
    facts = await accounts_service.facts(session, account_id)
    if facts is None or not access.sees(facts.brand_id, account_id):
        raise NotFound("No such account.", pointer="#/account_id")
    if not access.has_role(Role.contributor, brand_id=facts.brand_id, account_id=account_id):
        raise PostActionForbidden("Only contributors of this account write posts for it.")
    if scheduled_at is not None:
        await _future(session, scheduled_at)
    post_id = uuid.uuid4()
    post = await repository.insert_post(session, {
        "id": post_id, "account_id": account_id, "author_kind": str(principal.kind), "author_id": principal.id,
        "source": source, "external_ref": external_ref, "status": State.draft.value, "revision": 1,
        "labels": labels, "scheduled_at": scheduled_at,
    })
    rev = await repository.insert_revision(session, {
        "post_id": post_id, "number": 1, "body": body, "link": link, "media": media, "labels": labels,
        "content_hash": content_hash(account_id, body, link, media, labels),
        "created_by_kind": str(principal.kind), "created_by_id": principal.id,
    })
    await audit.record(session, principal, "post.created", "post", post_id,
                       after={**_snapshot(post), "account_id": account_id, "content_hash": rev.content_hash})
    return PostView(post, rev, False)


# The hot reads: the post, its revision, its account's brand, the crises in force over it and
# its stuck stages in one prebuilt statement (the other domains contribute their SQL once).

@functools.cache
def _other_domains_sql() -> tuple[str, str]:
    return (crises_service.in_force_ids_sql("p.account_id", "a.brand_id"), review.stuck_indexes_sql("p", "r"))


@functools.cache
def _read_statement() -> Statement:
    return repository.read_statement(*_other_domains_sql())


@functools.cache
def _list_statement(restricted: bool, brands: bool, filters: tuple[str, ...], missed: bool | None,
                    stuck: bool | None, after: bool) -> Statement:
    return repository.list_statement(*_other_domains_sql(), restricted=restricted, brands=brands, filters=filters,
                                     missed=missed,
                                     extra=review.stuck_filter_sql("p", stuck) if stuck is not None else None,
                                     after=after)


def _row_view(row) -> PostView:
    return PostView(Row(row), Row(row, "r_"), row["is_missed"], list(row["crisis_ids"]), list(row["stuck_indexes"]))


async def get_post(session: AsyncSession, principal: Principal, post_id: uuid.UUID) -> PostView:
    """A post as its reader sees it (read-only: the view's post and revision are rows, not ORM
    objects)."""
    access = await access_service.effective_access(session, principal)
    row = await _read_statement().fetchrow(session, post_id=post_id)
    if row is None or not access.sees(row["account_brand_id"], row["account_id"]):
        raise PostNotFound("No such post.")
    return _row_view(row)


async def list_posts(session: AsyncSession, principal: Principal, *, page: PageParams, stuck: bool | None = None,
                     missed_schedule: bool | None = None, **filters) -> list[PostView]:
    access = await access_service.effective_access(session, principal)
    params: dict[str, Any] = {k: v for k, v in filters.items() if v}
    if "label" in params:
        params["label"] = params["label"].casefold()  # labels are stored casefolded
    restricted = not access.sees_everything
    brands = restricted and bool(access.visible_brand_ids)
    if restricted:
        params["account_ids"] = list(access.visible_account_ids)
        if brands:
            params["brand_ids"] = list(access.visible_brand_ids)
    after = cursor_after(page)
    if after is not None:
        params["after_created_at"], params["after_id"] = after
    statement = _list_statement(restricted, brands, tuple(k for k in repository.LIST_FILTERS if k in params),
                                missed_schedule, stuck, after is not None)
    return [_row_view(row) for row in await statement.fetch(session, **params, limit=page.limit + 1)]


async def revisions(session: AsyncSession, principal: Principal, post_id: uuid.UUID) -> list[PostRevision]:
    await _load(session, principal, post_id, lock=False)
    return await repository.list_revisions(session, [post_id])


async def edit_post(session: AsyncSession, principal: Principal, post_id: uuid.UUID, changes: dict[str, Any],
                    *, expected_version: int | None) -> PostView:
    if changes.get("scheduled_at") is not None:  # a new slot: not past a freeze under way (see schedule)
        await fence.share_until_commit(session)
    ctx = await _load(session, principal, post_id, lock=True)
    post = ctx.post
    _require_editor(ctx, principal)
    _check_version(post, expected_version)
    rev = ctx.revision
    content = {f: changes[f] for f in CONTENT_FIELDS if f in changes and changes[f] != getattr(rev, f)}
    if "body" in content and content["body"] is None:
        raise ValidationFailed("body cannot be removed.", pointer="#/body")
    reschedule = "scheduled_at" in changes and changes["scheduled_at"] != post.scheduled_at
    if not content and not reschedule:
        return await _view(session, post.id)
    values: dict[str, Any] = {}
    if reschedule:
        when = changes["scheduled_at"]
        if when is not None:
            await _future(session, when)
            if post.status == State.scheduled:
                await crises_service.check_schedulable(session, post.account_id, ctx.brand_id, when)
        elif post.status == State.scheduled:
            raise ScheduleInvalid("A scheduled post needs a time; unschedule it instead.", pointer="#/scheduled_at")
        values.update(scheduled_at=when, missed_schedule=False if when is not None else post.missed_schedule)
    before = _snapshot(post)
    if content:
        values["status"] = _move(post, Action.edit).value
        merged = {f: content.get(f, getattr(rev, f)) for f in CONTENT_FIELDS}
        new = await repository.insert_revision(session, {
            "post_id": post.id, "number": post.revision + 1, **merged,
            "content_hash": content_hash(post.account_id, merged["body"], merged["link"], merged["media"],
                                         merged["labels"]),
            "created_by_kind": str(principal.kind), "created_by_id": principal.id,
        })
        # Earlier approvals stay in history but no longer count: they name an older revision.
        values.update(revision=new.number, labels=merged["labels"], risk=None, approved_revision=None,
                      approved_content_hash=None)
        action = "post.edited"
    else:
        values["status"] = _move(post, Action.reschedule).value
        action = "post.rescheduled"
    return await _commit(session, principal, post, values, action, before=before)


# --- transitions --------------------------------------------------------------------------

async def submit(session: AsyncSession, principal: Principal, post_id: uuid.UUID, *,
                 expected_version: int | None) -> PostView:
    ctx = await _load(session, principal, post_id, lock=True)
    post = ctx.post
    _require_editor(ctx, principal)
    _check_version(post, expected_version)
    target = _move(post, Action.submit)
    rev = ctx.revision
    checked = await content_service.check_post(session, account_id=post.account_id, body=rev.body, link=rev.link,
                                               media=rev.media, labels=rev.labels)
    if checked.blocked:
        raise ContentBlocked("The post breaks a blocking content rule; see findings.",
                             findings=[f for f in checked.findings if f["severity"] == "block"],
                             all_findings=checked.findings, pointer="#/body")
    crises = await crises_service.in_force_for(session, post.account_id, ctx.brand_id)
    policy_id, stages = await approvals_service.stages_for(session, post.account_id, risk=checked.risk,
                                                           labels=rev.labels, crisis=bool(crises))
    await repository.set_review(session, post.id, rev.number, {
        "findings": checked.findings, "risk": checked.risk, "stages": [s.to_dict() for s in stages],
        "policy_id": policy_id, "submitted_at": await crises_service.now(session),
        # Submitted under a crisis: its crisis stages applied, so once approved it is a crisis response.
        "crisis_id": crises[-1].id if crises else None,
    })
    return await _commit(session, principal, post, {"status": target.value, "review_round": post.review_round + 1,
                                                    "risk": checked.risk}, "post.submitted",
                         after={"stages": [s.name for s in stages], "policy_id": policy_id})


async def decide(session: AsyncSession, principal: Principal, post_id: uuid.UUID, action: Action, *,
                 revision: int | None, expected_version: int | None, comment: str | None) -> PostView:
    """approve, reject or request_changes, on the revision the caller names. The post's lock,
    versions and transition are here; the stage decided and the rules of deciding are the
    approvals domain's (app/approvals/review.py)."""
    ctx = await _load(session, principal, post_id, lock=True, decisions=True)
    post = ctx.post
    _check_revision(post, revision, expected_version, "decide")
    if not can(_state(post), action):
        raise _illegal(post, action)
    rev = ctx.revision
    decided = await review.decide(session, principal, ctx.access, post=post, rev=rev, brand_id=ctx.brand_id,
                                  decision=action.value, comment=comment, taken=review.joined_decisions(ctx.rows))
    values: dict[str, Any] = {}
    if action is Action.approve:
        outcome = Outcome.stages_complete if decided.complete else Outcome.stages_pending
        values["status"] = _move(post, action, outcome).value
        if decided.complete:
            values.update(approved_revision=rev.number, approved_content_hash=rev.content_hash)
    else:
        values["status"] = _move(post, action).value
    view = await _commit(session, principal, post, values, f"post.{action.value}",
                         after={"stage": decided.stage.name, "decided_revision": rev.number,
                                "content_hash": rev.content_hash, "comment": comment}, first=decided.write)
    if view is None:  # the version cannot have moved (we hold the lock): the decision lost its race
        raise review.already_decided()
    return view


async def reassign_stage(session: AsyncSession, principal: Principal, post_id: uuid.UUID, index: int, *,
                         approvers: list[uuid.UUID], mode: str | None, reason: str, revision: int | None,
                         expected_version: int | None) -> PostView:
    """A named stage nobody can decide any more (its approvers left, lost access, or already
    decided another stage) gets new approvers from an account admin of the account (or an
    admin), never from the post's author. The stage rules: app/approvals/review.py."""
    ctx = await _load(session, principal, post_id, lock=True)
    post = ctx.post
    if not ctx.access.has_role(Role.account_admin, brand_id=ctx.brand_id, account_id=post.account_id):
        raise PostActionForbidden("Only an account admin of this account, or an admin, reassigns a stage.")
    if review.is_author(principal, post):
        raise SelfApproval("Authors never choose who decides their own posts.")
    _check_revision(post, revision, expected_version, "reassign a stage of")
    if post.status != State.in_review:
        raise InvalidTransition(f"Only a post in review has stages to reassign; this one is {post.status}.",
                                current_status=post.status, allowed_transitions=[a.value for a in allowed(_state(post))])
    rev = ctx.revision
    moved = await review.reassign(session, principal, post=post, rev=rev, index=index, approvers=approvers, mode=mode)
    await repository.set_review(session, post.id, rev.number, {"stages": [s.to_dict() for s in moved.stages]})
    return await _commit(session, principal, post, {}, "post.stage_reassigned",
                         before={"approvers": list(moved.old.approvers), "mode": moved.old.mode},
                         after={"stage_index": index, "stage": moved.new.name, "approvers": list(moved.new.approvers),
                                "mode": moved.new.mode, "revision": rev.number, "reason": reason})


async def schedule(session: AsyncSession, principal: Principal, post_id: uuid.UUID, *,
                   scheduled_at: datetime | None, expected_version: int | None) -> PostView:
    # Before the row lock: a declaration running now either freezes this post too, or is
    # seen by the crisis check below (app/fence.py).
    await fence.share_until_commit(session)
    ctx = await _load(session, principal, post_id, lock=True)
    post = ctx.post
    _require_publisher(ctx)
    _check_version(post, expected_version)
    target = _move(post, Action.schedule)
    when = scheduled_at or post.scheduled_at
    if when is None:
        raise ScheduleInvalid("Give scheduled_at: the post has no time yet.", pointer="#/scheduled_at")
    await _future(session, when)
    await crises_service.check_schedulable(session, post.account_id, ctx.brand_id, when)
    if post.approved_content_hash != ctx.revision.content_hash:
        raise ApprovalStale("The approved content is not the post's current content.")
    return await _commit(session, principal, post, {"status": target.value, "scheduled_at": when,
                                                    "missed_schedule": False}, "post.scheduled")


async def _leavers_post(session: AsyncSession, principal: Principal, post_id: uuid.UUID, action: Action,
                        expected_version: int | None) -> tuple[Ctx, State]:
    """A post set aside because its author left (offboarding): account admins of the account
    (or admins) hand it to another author or send it back to review — never a post a crisis
    holds (that one waits for the crisis's resolution)."""
    ctx = await _load(session, principal, post_id, lock=True)
    post = ctx.post
    if not ctx.access.has_role(Role.account_admin, brand_id=ctx.brand_id, account_id=post.account_id):
        raise PostActionForbidden("Only an account admin of this account, or an admin, reassigns or releases it.")
    _check_version(post, expected_version)
    if post.status != State.paused or post.pause_reason != repository.AUTHOR_OFFBOARDED:
        held = f" (a crisis holds it: {post.paused_by_crisis_id})" if post.paused_by_crisis_id else ""
        raise InvalidTransition(f"Only a post paused because its author left is reassigned or released; this one is "
                                f"{post.status}{held}.", current_status=post.status,
                                allowed_transitions=[a.value for a in allowed(_state(post))])
    return ctx, _move(post, action)


async def reassign_post(session: AsyncSession, principal: Principal, post_id: uuid.UUID, *, author_id: uuid.UUID,
                        reason: str | None, expected_version: int | None) -> PostView:
    """The new author (a contributor of the account) owns it as a draft: they see it, edit it
    and submit it; nothing goes out under the leaver's name."""
    ctx, target = await _leavers_post(session, principal, post_id, Action.reassign, expected_version)
    post = ctx.post
    holders = await access_service.holders(session, Role.contributor, brand_id=ctx.brand_id,
                                           account_id=post.account_id)
    if author_id not in holders:
        raise ValidationFailed("The new author must be an active contributor of this account.", pointer="#/author_id")
    return await _commit(session, principal, post, {
        "status": target.value, "author_kind": "user", "author_id": author_id, "pause_reason": None,
        "approved_revision": None, "approved_content_hash": None}, "post.reassigned",
        before={**_snapshot(post), "author_id": post.author_id}, after={"author_id": author_id, "reason": reason})


async def release_post(session: AsyncSession, principal: Principal, post_id: uuid.UUID, *, reason: str | None,
                       expected_version: int | None) -> PostView:
    """Back to review, every approval voided (a new round): someone with authority looks again
    before it goes out."""
    ctx, target = await _leavers_post(session, principal, post_id, Action.release, expected_version)
    post = ctx.post
    return await _commit(session, principal, post, {
        "status": target.value, "review_round": post.review_round + 1, "pause_reason": None,
        "approved_revision": None, "approved_content_hash": None}, "post.released", after={"reason": reason})


async def simple_transition(session: AsyncSession, principal: Principal, post_id: uuid.UUID, action: Action, *,
                            expected_version: int | None, comment: str | None = None) -> PostView:
    """unschedule (publishers) and withdraw (the author or a publisher)."""
    ctx = await _load(session, principal, post_id, lock=True)
    post = ctx.post
    if action is Action.unschedule:
        _require_publisher(ctx)
    else:
        _require_editor(ctx, principal)
    _check_version(post, expected_version)
    target = _move(post, action)
    return await _commit(session, principal, post, {"status": target.value}, f"post.{action.value}",
                         after={"comment": comment})


# --- the review view (app/approvals/review.py) ---------------------------------------------

async def approvals(session: AsyncSession, principal: Principal, post_id: uuid.UUID) -> review.ReviewView:
    ctx = await _load(session, principal, post_id, lock=False)
    return await review.review(session, ctx.post, ctx.revision, ctx.brand_id, ctx.post.status == State.in_review)


async def approvals_for_posts(session: AsyncSession, views: list[PostView]) -> list[review.ReviewView]:
    """Batch form of ``approvals`` for posts the caller has already read (GraphQL loaders):
    no authorisation here."""
    brands = await repository.account_brands(session, list({v.post.account_id for v in views}))
    return await review.reviews(session, [(v.post, v.revision, brands[v.post.account_id]) for v in views],
                                in_review=lambda p: p.status == State.in_review)


async def revisions_for_posts(session: AsyncSession, post_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[PostRevision]]:
    """Batch form of ``revisions`` for posts the caller has already read: no authorisation here."""
    out: dict[uuid.UUID, list[PostRevision]] = {p: [] for p in post_ids}
    for r in await repository.list_revisions(session, post_ids):
        out[r.post_id].append(r)
    return out


async def flag_missed_schedules(session: AsyncSession, principal: Principal) -> int:
    """Worker: stamp posts whose slot passed while still under review. They never go out
    on their own; the flag tells people a new time is needed."""
    flagged = await repository.flag_missed(session)
    await audit.record_many(session, principal, [
        audit.Entry("post.missed_schedule", "post", p.id, before={"missed_schedule": False},
                    after={"missed_schedule": True, "scheduled_at": p.scheduled_at, "status": p.status})
        for p in flagged])
    return len(flagged)
