"""Posts: content, revisions and the workflow (app/posts/workflow.py) with its approvals.

Every change of a post locks its row first, so transitions, edits and decisions on one
post are serialised by the database; versions (ETags) fence stale callers.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
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
    post: Post
    access: Access
    brand_id: uuid.UUID
    platform: str


def _state(post: Post) -> State:
    return State(post.status)


def _snapshot(post: Post) -> dict[str, Any]:
    return {"status": post.status, "revision": post.revision, "scheduled_at": post.scheduled_at,
            "labels": post.labels, "risk": post.risk, "review_round": post.review_round}


async def _load(session: AsyncSession, principal: Principal, post_id: uuid.UUID, *, lock: bool) -> Ctx:
    post = await repository.get_post(session, post_id, for_update=lock)
    if post is None:
        raise PostNotFound("No such post.")
    access = await access_service.effective_access(session, principal)
    facts = await accounts_service.facts(session, post.account_id)
    if facts is None or not access.sees(facts.brand_id, post.account_id):
        raise PostNotFound("No such post.")
    return Ctx(post, access, facts.brand_id, facts.platform)




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


async def _save(session: AsyncSession, post: Post, values: dict[str, Any]) -> Post:
    updated = await repository.update_post(session, post.id, post.version, values)
    if updated is None:
        raise ConcurrentUpdate("The post changed while this request ran; read it again and retry.")
    return updated


async def _future(session: AsyncSession, when: datetime, pointer: str = "#/scheduled_at") -> None:
    if when <= await clock.transaction_time(session):
        raise ScheduleInvalid("scheduled_at must be in the future.", pointer=pointer)


async def _view(session: AsyncSession, post: Post) -> PostView:
    rev = await repository.get_revision(session, post.id, post.revision)
    assert rev is not None
    facts = await accounts_service.facts(session, post.account_id)
    crises = await crises_service.in_force_for(session, post.account_id, facts.brand_id) if facts else []
    stuck = await _stuck(session, [post])
    return PostView(post, rev, await _missed(session, post), [c.id for c in crises], stuck.get(post.id, []))


async def _stuck(session: AsyncSession, posts: list[Post]) -> dict[uuid.UUID, list[int]]:
    return await review.stuck_stages(session, [p.id for p in posts if p.status == State.in_review])


async def _missed(session: AsyncSession, post: Post) -> bool:
    if post.missed_schedule:
        return True
    return (post.status in repository.MISSING_STATES and post.scheduled_at is not None
            and post.scheduled_at <= await clock.transaction_time(session))


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


async def get_post(session: AsyncSession, principal: Principal, post_id: uuid.UUID) -> PostView:
    ctx = await _load(session, principal, post_id, lock=False)
    return await _view(session, ctx.post)


async def list_posts(session: AsyncSession, principal: Principal, *, page: PageParams, **filters) -> list[PostView]:
    access = await access_service.effective_access(session, principal)
    visible = None if access.sees_everything else (access.visible_brand_ids, access.visible_account_ids)
    stuck = filters.pop("stuck", None)
    if filters.get("label"):
        filters["label"] = filters["label"].casefold()  # labels are stored casefolded
    posts = await repository.list_posts(session, visible, after=cursor_after(page), limit=page.limit + 1,
                                        where=review.stuck_clause(stuck) if stuck is not None else None, **filters)
    revs = {(r.post_id, r.number): r for r in await repository.revisions_of(
        session, [(p.id, p.revision) for p in posts])}
    now = await clock.transaction_time(session)
    crises = [c for c in await crises_service.open_crises(session) if crises_service.in_force(c, now)]
    brands = await repository.account_brands(session, list({p.account_id for p in posts})) if crises else {}
    stuck = await _stuck(session, posts)
    return [PostView(p, revs[(p.id, p.revision)], p.missed_schedule or (
        p.status in repository.MISSING_STATES and p.scheduled_at is not None and p.scheduled_at <= now),
        [c.id for c in crises if crises_service.covers(c, p.account_id, brands.get(p.account_id))],
        stuck.get(p.id, [])) for p in posts]


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
    rev = await repository.get_revision(session, post.id, post.revision)
    assert rev is not None
    content = {f: changes[f] for f in CONTENT_FIELDS if f in changes and changes[f] != getattr(rev, f)}
    if "body" in content and content["body"] is None:
        raise ValidationFailed("body cannot be removed.", pointer="#/body")
    reschedule = "scheduled_at" in changes and changes["scheduled_at"] != post.scheduled_at
    if not content and not reschedule:
        return await _view(session, post)
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
    updated = await _save(session, post, values)
    await audit.record(session, principal, action, "post", post.id, before=before, after=_snapshot(updated))
    return await _view(session, updated)


# --- transitions --------------------------------------------------------------------------

async def submit(session: AsyncSession, principal: Principal, post_id: uuid.UUID, *,
                 expected_version: int | None) -> PostView:
    ctx = await _load(session, principal, post_id, lock=True)
    post = ctx.post
    _require_editor(ctx, principal)
    _check_version(post, expected_version)
    target = _move(post, Action.submit)
    rev = await repository.get_revision(session, post.id, post.revision)
    assert rev is not None
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
    before = _snapshot(post)
    updated = await _save(session, post, {"status": target.value, "review_round": post.review_round + 1,
                                          "risk": checked.risk})
    await audit.record(session, principal, "post.submitted", "post", post.id, before=before,
                       after={**_snapshot(updated), "stages": [s.name for s in stages], "policy_id": policy_id})
    return await _view(session, updated)


async def decide(session: AsyncSession, principal: Principal, post_id: uuid.UUID, action: Action, *,
                 revision: int | None, expected_version: int | None, comment: str | None) -> PostView:
    """approve, reject or request_changes, on the revision the caller names. The post's lock,
    versions and transition are here; the stage decided and the rules of deciding are the
    approvals domain's (app/approvals/review.py)."""
    ctx = await _load(session, principal, post_id, lock=True)
    post = ctx.post
    _check_revision(post, revision, expected_version, "decide")
    if not can(_state(post), action):
        raise _illegal(post, action)
    rev = await repository.get_revision(session, post.id, post.revision)
    assert rev is not None
    decided = await review.decide(session, principal, ctx.access, post=post, rev=rev, brand_id=ctx.brand_id,
                                  decision=action.value, comment=comment)
    values: dict[str, Any] = {}
    if action is Action.approve:
        outcome = Outcome.stages_complete if decided.complete else Outcome.stages_pending
        values["status"] = _move(post, action, outcome).value
        if decided.complete:
            values.update(approved_revision=rev.number, approved_content_hash=rev.content_hash)
    else:
        values["status"] = _move(post, action).value
    before = _snapshot(post)
    updated = await _save(session, post, values)
    await audit.record(session, principal, f"post.{action.value}", "post", post.id, before=before,
                       after={**_snapshot(updated), "stage": decided.stage.name, "decided_revision": rev.number,
                              "content_hash": rev.content_hash, "comment": comment})
    return await _view(session, updated)


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
    rev = await repository.get_revision(session, post.id, post.revision)
    assert rev is not None
    moved = await review.reassign(session, principal, post=post, rev=rev, index=index, approvers=approvers, mode=mode)
    await repository.set_review(session, post.id, rev.number, {"stages": [s.to_dict() for s in moved.stages]})
    updated = await _save(session, post, {})
    await audit.record(session, principal, "post.stage_reassigned", "post", post.id,
                       before={"approvers": list(moved.old.approvers), "mode": moved.old.mode},
                       after={"stage_index": index, "stage": moved.new.name, "approvers": list(moved.new.approvers),
                              "mode": moved.new.mode, "revision": rev.number, "reason": reason})
    return await _view(session, updated)


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
    rev = await repository.get_revision(session, post.id, post.revision)
    if rev is None or post.approved_content_hash != rev.content_hash:
        raise ApprovalStale("The approved content is not the post's current content.")
    before = _snapshot(post)
    updated = await _save(session, post, {"status": target.value, "scheduled_at": when, "missed_schedule": False})
    await audit.record(session, principal, "post.scheduled", "post", post.id, before=before, after=_snapshot(updated))
    return await _view(session, updated)


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
    before = {**_snapshot(post), "author_id": post.author_id}
    updated = await _save(session, post, {"status": target.value, "author_kind": "user", "author_id": author_id,
                                          "pause_reason": None, "approved_revision": None,
                                          "approved_content_hash": None})
    await audit.record(session, principal, "post.reassigned", "post", post.id, before=before,
                       after={**_snapshot(updated), "author_id": author_id, "reason": reason})
    return await _view(session, updated)


async def release_post(session: AsyncSession, principal: Principal, post_id: uuid.UUID, *, reason: str | None,
                       expected_version: int | None) -> PostView:
    """Back to review, every approval voided (a new round): someone with authority looks again
    before it goes out."""
    ctx, target = await _leavers_post(session, principal, post_id, Action.release, expected_version)
    post = ctx.post
    before = _snapshot(post)
    updated = await _save(session, post, {"status": target.value, "review_round": post.review_round + 1,
                                          "pause_reason": None, "approved_revision": None,
                                          "approved_content_hash": None})
    await audit.record(session, principal, "post.released", "post", post.id, before=before,
                       after={**_snapshot(updated), "reason": reason})
    return await _view(session, updated)


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
    before = _snapshot(post)
    updated = await _save(session, post, {"status": target.value})
    await audit.record(session, principal, f"post.{action.value}", "post", post.id, before=before,
                       after={**_snapshot(updated), "comment": comment})
    return await _view(session, updated)


# --- the review view (app/approvals/review.py) ---------------------------------------------

async def approvals(session: AsyncSession, principal: Principal, post_id: uuid.UUID) -> review.ReviewView:
    ctx = await _load(session, principal, post_id, lock=False)
    rev = await repository.get_revision(session, ctx.post.id, ctx.post.revision)
    assert rev is not None
    return await review.review(session, ctx.post, rev, ctx.brand_id, ctx.post.status == State.in_review)


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
