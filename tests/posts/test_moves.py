"""The set-based statements other domains drive (app/posts/moves.py) move posts only along the
workflow's edges: each one runs against posts in every state, made as eligible as possible,
and every status change it makes must be an edge of workflow.TRANSITIONS."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, text

from app import audit
from app.models import Crisis, Post
from app.posts import moves, repository
from app.posts.workflow import State, edges
from app.security import SYSTEM

CRISIS = uuid.UUID(int=7)


def _bulk(source: str) -> tuple[str, dict]:
    return audit.service.bulk_insert_from(
        source, actor=SYSTEM, action="test.move", subject_type="crisis", subject_id=CRISIS, subjects_type="post",
        id_expr="id", before=None, after_expr="jsonb_build_object()", correlation_id="test")


STATEMENTS = {
    "freeze": lambda s: moves.freeze(s, CRISIS, "organization", moves.scope_params([], []), lambda _: _bulk("paused")),
    "release review": lambda s: moves.release(s, CRISIS, "review", _bulk("released")),
    "release resume": lambda s: moves.release(s, CRISIS, "resume", _bulk("released")),
    "release cancel": lambda s: moves.release(s, CRISIS, "cancel", _bulk("released")),
    "hand over": lambda s: moves.hand_over(s, CRISIS, _bulk("handed"), windows_ahead=True),
    "claim": lambda s: moves.claim_due(s, 1000, 30),
    "abandoned sends": moves.fail_abandoned_sends,
    "offboarded author": lambda s: _leaver(s),
}


async def _leaver(session):
    """Every post of the fixture has its own author: offboard each of them."""
    rows = await session.execute(text("SELECT DISTINCT author_id FROM posts"))
    for author in rows.scalars():
        await moves.set_aside_authored(session, SYSTEM, author, correlation_id="test")


@pytest.fixture
async def everywhere(api, session) -> dict[uuid.UUID, State]:
    """Two posts in every state (one mid-send, one not), due, claimed with an expired lease and
    held by the crisis: whatever a statement looks for, some post offers it."""
    brand = await api.brand()
    account = await api.account(brand["id"])
    for crisis in (CRISIS, uuid.uuid4()):  # the one holding the posts, and another one in force
        await session.execute(insert(Crisis).values(id=crisis, severity=1, scope_kind="organization", reason="test",
                                                    status="active", declared_by_kind="system"))
    made = {}
    for state in State:
        for sending in (False, True):
            pid = uuid.uuid4()
            await session.execute(insert(Post).values(
                id=pid, account_id=account["id"], author_kind="user", author_id=uuid.uuid4(), status=state.value,
                scheduled_at=func.now() - timedelta(minutes=1), paused_by_crisis_id=CRISIS,
                lease_until=func.now() - timedelta(seconds=1),
                sending_since=func.now() - timedelta(minutes=1) if sending else None))
            made[pid] = state
    return made


async def statuses(session, ids) -> dict[uuid.UUID, State]:
    rows = await session.execute(text("SELECT id, status FROM posts WHERE id = ANY(:ids)"), {"ids": list(ids)})
    return {i: State(s) for i, s in rows.all()}


@pytest.mark.parametrize("name", STATEMENTS)
async def test_every_move_is_a_workflow_edge(session, everywhere, name):
    allowed = edges()
    async with session.begin_nested() as sp:
        await STATEMENTS[name](session)
        after = await statuses(session, everywhere)
        await sp.rollback()
    moved = {(everywhere[i], after[i]) for i in everywhere if after[i] != everywhere[i]}
    assert moved <= allowed, f"{name} moved posts along edges the workflow lacks: {sorted(moved - allowed)}"
    if name != "hand over":  # hand-over keeps posts paused (another crisis holds them)
        assert moved, f"{name} moved nothing: the fixture no longer exercises it"


async def test_a_step_is_guarded_by_the_state_it_was_read_in(session, everywhere):
    post_id = next(i for i, s in everywhere.items() if s is State.approved)
    post = await moves.read(session, post_id)
    await session.execute(text("UPDATE posts SET status = 'withdrawn' WHERE id = :i"), {"i": post_id})
    with pytest.raises(moves.PostMoved):
        await moves.step(session, post, {"status": State.publishing.value})
    assert (await statuses(session, [post_id]))[post_id] is State.withdrawn


def test_no_other_domain_writes_posts():
    """Every UPDATE/INSERT of posts is in app/posts/ (the Post aggregate owns its writes)."""
    import pathlib
    import re

    root = pathlib.Path(repository.__file__).resolve().parents[1]
    pattern = re.compile(r"update\(Post\)|insert\(Post\)|UPDATE posts|INSERT INTO posts", re.IGNORECASE)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.parent.name != "posts" and pattern.search(p.read_text())]
    assert offenders == []
