"""A revision's review: which stage a principal decides, recording the decision, the review
view (what each stage needs, who decided, who it is pending on), stuck stages and their
reassignment.

The posts service owns the post (its row lock, versions, the workflow transition and the
revision's stored stages); everything about stages and decisions is decided here, in one call
per use case.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import service as access_service
from app.access.policy import Access, Role
from app.approvals import repository
from app.approvals.errors import (
    AlreadyDecided, NotAnApprover, SelfApproval, SelfAssignment, StageNotReached, StageNotStuck, UnableApprover,
)
from app.approvals.service import as_decision, eligible
from app.approvals.stages import Decision, Stage, StageProgress, current, progress
from app.errors import NotFound
from app.models import Approval, Post, PostRevision
from app.security import Principal

APPROVE = "approve"


def stages_of(rev: PostRevision) -> list[Stage]:
    """The stages frozen on the revision at submit."""
    return [Stage.of(s["index"], s) for s in rev.stages or []]


def is_author(principal: Principal, post: Post) -> bool:
    return str(principal.kind) == post.author_kind and principal.id == post.author_id


# --- deciding ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decided:
    stage: Stage
    complete: bool  # an approval that completed the last stage: the revision is approved
    # The decision's row, written by the statement that moves the post (posts' save statement:
    # SQL of a CTE returning a row when it wrote, and its parameters). Nothing written: this
    # person's other request decided this revision first (the unique index): ``AlreadyDecided``.
    write: tuple[str, dict[str, Any]]


def decisions_join_sql(p: str) -> tuple[str, str]:
    """The join and columns the posts domain adds to the statement that reads a locked post
    ``p`` for a decision: the current review's decisions (``joined_decisions`` reads them)."""
    return repository.DECISIONS_JOIN.format(p=p), repository.DECISION_COLUMNS


def joined_decisions(rows: list) -> list:
    return repository.joined_decisions(rows)


def already_decided() -> AlreadyDecided:
    return AlreadyDecided("You already decided a stage of this revision; one person decides one stage.")


async def decide(session: AsyncSession, principal: Principal, access: Access, *, post: Post, rev: PostRevision,
                 brand_id: uuid.UUID, decision: str, comment: str | None, taken: list | None = None) -> Decided:
    """The stage this principal decides with ``decision`` (approve, reject, request_changes),
    and the decision to record. Separation of duties: never the author, one stage per person
    per revision. ``taken``: the decisions of this revision and round, when the caller read them
    after taking the post's lock."""
    if is_author(principal, post):
        raise SelfApproval("Authors never decide on their own posts.")
    if taken is None:
        taken = await repository.decisions(session, post.id, rev.number, post.review_round)
    if any(a.decided_by_kind == str(principal.kind) and a.decided_by_id == principal.id for a in taken):
        raise already_decided()
    stages = stages_of(rev)
    prog = progress(stages, [as_decision(a) for a in taken])
    stage = _stage_to_decide(access, principal, prog, decision, brand_id=brand_id, account_id=post.account_id)
    made = Decision(stage.index, decision, str(principal.kind), principal.id, None, comment)
    complete = decision == APPROVE and current(progress(stages, [*(as_decision(a) for a in taken), made])) is None
    return Decided(stage, complete, (repository.INSERT_DECISION_SQL, repository.decision_params({
        "id": uuid.uuid4(), "post_id": post.id, "revision": rev.number, "round": post.review_round,
        "stage_index": stage.index, "stage_name": stage.name, "decision": decision,
        "decided_by_kind": str(principal.kind), "decided_by_id": principal.id, "content_hash": rev.content_hash,
        "comment": comment,
    })))


def _stage_to_decide(access: Access, principal: Principal, prog: list[StageProgress], decision: str, *,
                     brand_id: uuid.UUID, account_id: uuid.UUID) -> Stage:
    def can(p: StageProgress) -> bool:
        return eligible(access, principal, p.stage, brand_id=brand_id, account_id=account_id)

    open_ = current(prog)
    if decision == APPROVE:
        if open_ is not None and can(open_):
            return open_.stage
        later = [p for p in prog if not p.complete and p is not open_ and can(p)]
        if later and open_ is not None:
            raise StageNotReached(f"Your stage ({later[0].stage.name}) opens after {open_.stage.name!r} is "
                                  "approved.", open_stage=open_.stage.name)
        raise NotAnApprover("You decide no open stage of this post.")
    # Rejecting or asking for changes: any reviewer of a stage still pending may stop the post.
    mine = [p for p in prog if not p.complete and can(p)]
    if not mine:
        raise NotAnApprover("You decide no pending stage of this post.")
    return mine[0].stage


# --- the review view --------------------------------------------------------------------------

@dataclass
class StageView:
    progress: StageProgress
    open: bool
    decisions: list[Approval]
    pending_on: list[uuid.UUID]
    stuck: bool = False


@dataclass
class ReviewView:
    post: Post
    revision: PostRevision
    stages: list[StageView]
    decisions: list[Approval]


async def review(session: AsyncSession, post: Post, rev: PostRevision, brand_id: uuid.UUID,
                 in_review: bool) -> ReviewView:
    """The review of the post's current revision. The caller checked the post is visible."""
    [view] = await reviews(session, [(post, rev, brand_id)], in_review=lambda _: in_review)
    return view


async def reviews(session: AsyncSession, items: list[tuple[Post, PostRevision, uuid.UUID]], *,
                  in_review) -> list[ReviewView]:
    """Batch form (GraphQL loaders): statements: two, plus one per distinct (role, account)
    still pending. ``in_review(post)`` says whether the post is being reviewed now."""
    posts = [p for p, _, _ in items]
    taken = await repository.decisions_for_posts(session, [(p.id, p.revision, p.review_round) for p in posts])
    by_key: dict[tuple[uuid.UUID, int, int], list[Approval]] = {}
    for a in taken:
        by_key.setdefault((a.post_id, a.revision, a.round), []).append(a)
    reviewing = [p for p in posts if in_review(p)]
    stuck = await repository.stuck_stages(session, [p.id for p in reviewing]) if reviewing else {}
    holders: dict[tuple[str, uuid.UUID], list[uuid.UUID]] = {}
    return [await _review(session, post, rev, brand_id, by_key.get((post.id, post.revision, post.review_round), []),
                          holders, in_review(post), set(stuck.get(post.id, ())))
            for post, rev, brand_id in items]


async def _review(session: AsyncSession, post: Post, rev: PostRevision, brand_id: uuid.UUID, taken: list[Approval],
                  holders: dict[tuple[str, uuid.UUID], list[uuid.UUID]], reviewing: bool,
                  stuck: set[int]) -> ReviewView:
    prog = progress(stages_of(rev), [as_decision(a) for a in taken])
    open_ = current(prog) if reviewing else None
    decided = {(a.decided_by_kind, a.decided_by_id) for a in taken}
    views = []
    for p in prog:
        pending: list[uuid.UUID] = []
        if not p.complete and reviewing:
            if p.stage.role:
                key = (p.stage.role, post.account_id)
                if key not in holders:
                    holders[key] = await access_service.holders(session, Role(p.stage.role), brand_id=brand_id,
                                                                account_id=post.account_id)
                pending = holders[key]
            else:
                pending = list(p.stage.approvers)
            pending = [u for u in pending if ("user", u) not in decided
                       and not (post.author_kind == "user" and u == post.author_id)]
        views.append(StageView(p, p is open_, [a for a in taken if a.stage_index == p.stage.index
                                                and a.decision == APPROVE], pending, p.stage.index in stuck))
    return ReviewView(post, rev, views, taken)


# --- stuck stages -----------------------------------------------------------------------------

def stuck_indexes_sql(p: str, r: str) -> str:
    """The stuck stages of post ``p`` (revision ``r``) as an SQL expression, for the statement
    the posts domain reads a post with."""
    return repository.stuck_indexes_sql(p, r)


def stuck_filter_sql(p: str, stuck: bool) -> str:
    """The SQL filter for posts ``p`` that are (or are not) stuck in review."""
    return repository.is_stuck_sql(p) if stuck else f"NOT {repository.is_stuck_sql(p)}"


@dataclass(frozen=True)
class Reassigned:
    old: Stage
    new: Stage
    stages: list[Stage]  # the revision's stages with the new one in place


async def reassign(session: AsyncSession, principal: Principal, *, post: Post, rev: PostRevision, index: int,
                   approvers: list[uuid.UUID], mode: str | None) -> Reassigned:
    """New approvers for a stuck named stage. Only a stuck one (an account admin must not swap
    out the people a compliance policy named while they can still decide); never naming
    oneself; each new approver able to decide it; and never completing it without a decision.
    The caller checked who may reassign and writes the stages."""
    stages = stages_of(rev)
    stage = next((s for s in stages if s.index == index), None)
    if stage is None:
        raise NotFound(f"The post's review has no stage {index}.", path_parameter="index")
    if stage.role:
        raise StageNotStuck(f"Stage {stage.name!r} is decided by holders of the {stage.role} role: grant the role "
                            "instead.", stage=stage.name)
    if index not in (await repository.stuck_stages(session, [post.id])).get(post.id, []):
        raise StageNotStuck(f"Stage {stage.name!r} can still be decided by the approvers it names.", stage=stage.name)
    if principal.is_user and principal.id in approvers:
        raise SelfAssignment("You cannot name yourself to decide a stage you reassign.",
                             pointer=f"#/approvers/{approvers.index(principal.id)}")
    able = await repository.able_to_decide(session, post.id, index, approvers)
    for i, who in enumerate(approvers):
        if who not in able:
            raise UnableApprover(f"User {who} could not decide this stage: not an active user who can see the "
                                 "account, the author, or someone who decided another stage of it.",
                                 pointer=f"#/approvers/{i}")
    new = replace(stage, approvers=tuple(dict.fromkeys(approvers)), mode=mode or stage.mode)
    taken = await repository.decisions(session, post.id, rev.number, post.review_round)
    if progress([new], [as_decision(a) for a in taken])[0].complete:
        raise UnableApprover("These approvers would complete the stage without a decision; name who is to decide.",
                             pointer="#/approvers")
    return Reassigned(stage, new, [new if s.index == index else s for s in stages])
