"""The post workflow as a pure state machine: states, actions, where each action leads.

No I/O here. The service asks ``transition(state, action)`` and the machine answers the
next state or raises ``IllegalTransition`` naming the allowed actions. Outcomes that depend
on facts the machine does not hold (is this the last approval? does an edit touch the
content?) are passed in as ``Outcome`` flags.

    draft ──submit──▶ in_review ──(all stages approved)──▶ approved ──schedule──▶ scheduled
      ▲                 │  │                                 │   ▲                   │
      └─request_changes─┘  └─reject──▶ rejected              │   └────unschedule─────┤
                                                              └──publish──▶ publishing ◀──(due)
    scheduled ──(crisis freeze)──▶ paused          publishing ──▶ published | failed
    any state before publishing ──withdraw──▶ withdrawn        published ──retract──▶ retracted
    paused (a leaver's post) ──reassign──▶ draft (its new author's)   ──release──▶ in_review
"""
from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    draft = "draft"
    in_review = "in_review"
    changes_requested = "changes_requested"
    approved = "approved"
    scheduled = "scheduled"
    rejected = "rejected"
    withdrawn = "withdrawn"
    publishing = "publishing"
    published = "published"
    failed = "failed"
    paused = "paused"
    retracted = "retracted"


class Action(StrEnum):
    edit = "edit"                    # a content change: always a new revision
    reschedule = "reschedule"        # only scheduled_at changes
    submit = "submit"
    approve = "approve"
    reject = "reject"
    request_changes = "request_changes"
    schedule = "schedule"
    unschedule = "unschedule"
    withdraw = "withdraw"
    publish = "publish"              # manual publish (publishing issue)
    due = "due"                      # the scheduler found it due (publishing issue)
    published = "published"
    fail = "fail"
    retry = "retry"                  # a retryable connector failure: try again later
    freeze = "freeze"                # a crisis paused it (crisis issue)
    resume = "resume"
    review = "review"
    retract = "retract"
    reassign = "reassign"            # a leaver's paused post handed to another author (back to draft)
    release = "release"              # a leaver's paused post sent back to review


class Outcome(StrEnum):
    """Facts the caller supplies for actions with more than one possible result."""

    stages_complete = "stages_complete"     # approve: that was the last approval needed
    stages_pending = "stages_pending"       # approve: more approvals needed
    still_future = "still_future"           # resume: the remembered slot is still ahead
    slot_passed = "slot_passed"             # resume: the slot passed during the freeze


# Before publishing starts, a post can always be withdrawn.
_WITHDRAWABLE = {State.draft, State.in_review, State.changes_requested, State.approved, State.scheduled,
                 State.rejected, State.paused, State.failed}

TRANSITIONS: dict[State, dict[Action, State | dict[Outcome, State]]] = {
    State.draft: {Action.edit: State.draft, Action.reschedule: State.draft, Action.submit: State.in_review},
    State.in_review: {
        Action.edit: State.draft,
        Action.reschedule: State.in_review,
        Action.approve: {Outcome.stages_pending: State.in_review, Outcome.stages_complete: State.approved},
        Action.reject: State.rejected,
        Action.request_changes: State.changes_requested,
    },
    State.changes_requested: {Action.edit: State.draft, Action.reschedule: State.changes_requested,
                              Action.submit: State.in_review},
    State.approved: {
        Action.edit: State.draft,                 # new content voids the approvals
        Action.reschedule: State.approved,        # only the time: approvals stand
        Action.schedule: State.scheduled,
        Action.publish: State.publishing,
    },
    State.scheduled: {
        Action.edit: State.draft,
        Action.reschedule: State.scheduled,
        Action.unschedule: State.approved,
        Action.due: State.publishing,
        Action.freeze: State.paused,
    },
    State.rejected: {Action.edit: State.draft},
    State.paused: {
        Action.resume: {Outcome.still_future: State.scheduled, Outcome.slot_passed: State.approved},
        Action.review: State.in_review,
        Action.reassign: State.draft,
        Action.release: State.in_review,
    },
    State.publishing: {Action.published: State.published, Action.fail: State.failed,
                       Action.freeze: State.paused, Action.retry: State.publishing},
    State.failed: {Action.publish: State.publishing, Action.schedule: State.scheduled},
    State.published: {Action.retract: State.retracted},
    State.withdrawn: {},
    State.retracted: {},
}
for _state in _WITHDRAWABLE:
    TRANSITIONS[_state][Action.withdraw] = State.withdrawn

# Actions a caller can name over the API (the rest are the system's own moves).
PUBLIC_ACTIONS = (Action.submit, Action.approve, Action.reject, Action.request_changes, Action.schedule,
                  Action.unschedule, Action.publish, Action.withdraw, Action.retract)
EDITABLE = frozenset(s for s, moves in TRANSITIONS.items() if Action.edit in moves)
FINAL = frozenset(s for s, moves in TRANSITIONS.items() if not moves)


class IllegalTransition(Exception):  # noqa: N818 - domain signal; the service maps it to 409
    def __init__(self, state: State, action: Action):
        self.state = state
        self.action = action
        super().__init__(f"cannot {action.value} a post that is {state.value}")


def sources(action: Action) -> tuple[State, ...]:
    """The states ``action`` may move a post out of: what a set-based statement doing
    ``action`` may name in its WHERE (app/posts/repository.py)."""
    return tuple(s for s in State if action in TRANSITIONS[s])


def targets(state: State, action: Action) -> tuple[State, ...]:
    """Where ``action`` takes a post from ``state`` (several when an outcome decides)."""
    target = TRANSITIONS[state].get(action)
    if target is None:
        return ()
    return tuple(target.values()) if isinstance(target, dict) else (target,)


def edges() -> set[tuple[State, State]]:
    """Every (from, to) move the machine allows, whatever the action."""
    return {(s, t) for s in State for a in TRANSITIONS[s] for t in targets(s, a)}


def allowed(state: State, *, public_only: bool = True) -> list[Action]:
    moves = TRANSITIONS[state]
    return [a for a in (PUBLIC_ACTIONS if public_only else tuple(Action)) if a in moves]


def can(state: State, action: Action) -> bool:
    return action in TRANSITIONS[state]


def transition(state: State, action: Action, outcome: Outcome | None = None) -> State:
    target = TRANSITIONS[state].get(action)
    if target is None:
        raise IllegalTransition(state, action)
    if isinstance(target, dict):
        if outcome not in target:
            raise ValueError(f"{action.value} from {state.value} needs one of {sorted(target)}")
        return target[outcome]
    return target
