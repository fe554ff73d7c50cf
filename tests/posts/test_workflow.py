"""The state machine alone: no database."""
from __future__ import annotations

import pytest

from app.posts.workflow import (
    EDITABLE, FINAL, PUBLIC_ACTIONS, TRANSITIONS, Action, IllegalTransition, Outcome, State, allowed, can, transition,
)


def test_happy_path():
    s = State.draft
    s = transition(s, Action.submit)
    assert s is State.in_review
    assert transition(s, Action.approve, Outcome.stages_pending) is State.in_review
    s = transition(s, Action.approve, Outcome.stages_complete)
    assert s is State.approved
    s = transition(s, Action.schedule)
    assert s is State.scheduled
    assert transition(s, Action.unschedule) is State.approved
    assert transition(s, Action.due) is State.publishing


@pytest.mark.parametrize("state", [State.in_review, State.approved, State.scheduled, State.changes_requested,
                                   State.rejected])
def test_content_edit_after_submit_goes_back_to_draft(state):
    assert transition(state, Action.edit) is State.draft


@pytest.mark.parametrize("state", [State.in_review, State.approved, State.scheduled])
def test_reschedule_keeps_the_state(state):
    assert transition(state, Action.reschedule) is state


def test_review_outcomes():
    assert transition(State.in_review, Action.reject) is State.rejected
    assert transition(State.in_review, Action.request_changes) is State.changes_requested
    assert transition(State.changes_requested, Action.submit) is State.in_review


def test_approve_needs_an_outcome():
    with pytest.raises(ValueError):
        transition(State.in_review, Action.approve)


@pytest.mark.parametrize("state", list(State))
def test_withdraw_only_before_publishing(state):
    expected = state in {State.draft, State.in_review, State.changes_requested, State.approved, State.scheduled,
                         State.rejected, State.paused, State.failed}
    assert can(state, Action.withdraw) is expected


def test_illegal_transitions_name_the_allowed_ones():
    with pytest.raises(IllegalTransition) as err:
        transition(State.draft, Action.approve, Outcome.stages_complete)
    assert err.value.state is State.draft and err.value.action is Action.approve
    assert allowed(State.draft) == [Action.submit, Action.withdraw]
    assert allowed(State.in_review) == [Action.approve, Action.reject, Action.request_changes, Action.withdraw]
    assert allowed(State.withdrawn) == []


def test_designed_for_publishing_and_crisis():
    assert transition(State.scheduled, Action.freeze) is State.paused
    assert transition(State.paused, Action.resume, Outcome.still_future) is State.scheduled
    assert transition(State.paused, Action.resume, Outcome.slot_passed) is State.approved
    assert transition(State.paused, Action.review) is State.in_review
    assert transition(State.publishing, Action.published) is State.published
    assert transition(State.publishing, Action.fail) is State.failed
    assert transition(State.published, Action.retract) is State.retracted


def test_never_from_final_states_and_never_skip_review():
    assert FINAL == {State.withdrawn, State.retracted}
    assert State.published not in EDITABLE and State.publishing not in EDITABLE
    # No action leads from draft or review straight to scheduled or publishing.
    for state in (State.draft, State.in_review, State.changes_requested, State.rejected):
        targets = set()
        for target in TRANSITIONS[state].values():
            targets |= set(target.values()) if isinstance(target, dict) else {target}
        assert not targets & {State.scheduled, State.publishing, State.published}
    assert set(PUBLIC_ACTIONS) <= set(Action)
