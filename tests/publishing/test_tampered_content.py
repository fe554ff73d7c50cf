"""The publisher trusts no stored hash: content edited behind the service's back never leaves."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from app.publishing import jobs as publishing
from tests.support.publishing import approved, make_due, scheduled  # noqa: F401 - fixtures


async def tamper(session, post_id: str, sql: str) -> None:
    """What a DBA or an attacker with database access could do: change a revision, keep its hash."""
    await session.execute(text(f"ALTER TABLE post_revisions DISABLE TRIGGER USER"))
    await session.execute(text(sql), {"i": post_id})
    await session.execute(text(f"ALTER TABLE post_revisions ENABLE TRIGGER USER"))
    await session.commit()


EDITS = [
    "UPDATE post_revisions SET body = 'Our competitor is a fraud' WHERE post_id = :i",
    "UPDATE post_revisions SET link = 'https://evil.example/' WHERE post_id = :i",
    "UPDATE post_revisions SET media = ARRAY['https://evil.example/x.png'] WHERE post_id = :i",
    "UPDATE post_revisions SET labels = ARRAY['campaign-x']::varchar[] WHERE post_id = :i",
]


@pytest.mark.parametrize("edit", EDITS)
async def test_the_scheduler_refuses_a_tampered_revision(api, flow, maker, session, edit):
    post = await scheduled(flow, "Happy Friday from Acme! #ad")
    await make_due(session, post["id"])
    await tamper(session, post["id"], edit)
    assert await publishing.run_due(maker) == 1
    got = (await api.get(f"/v1/posts/{post['id']}")).json()
    assert got["status"] == "failed" and "approved content hash" in got["last_error"]
    assert (await session.execute(text("SELECT count(*) FROM publications"))).scalar() == 0


async def test_a_manual_publish_refuses_it_too(api, flow, session):
    post = await approved(flow)
    await tamper(session, post["id"], EDITS[0])
    r = await api.post(f"/v1/posts/{post['id']}/publish", {}, token=flow.room.publisher.token)
    assert r.status_code == 409 and r.json()["code"] == "content-not-approved", r.text
    assert (await session.execute(text("SELECT count(*) FROM publications"))).scalar() == 0


@pytest.mark.parametrize("sql", [
    "UPDATE post_revisions SET body = 'changed' WHERE post_id = :i",
    "UPDATE post_revisions SET content_hash = repeat('0', 64) WHERE post_id = :i",
    "DELETE FROM post_revisions WHERE post_id = :i",
    "UPDATE approvals SET decided_by_id = gen_random_uuid() WHERE post_id = :i",
    "DELETE FROM approvals WHERE post_id = :i",
    "TRUNCATE approvals, post_revisions CASCADE",
])
async def test_revisions_and_decisions_cannot_be_rewritten(flow, session, sql):
    from sqlalchemy.exc import DBAPIError

    post = await approved(flow)
    with pytest.raises(DBAPIError, match="immutable"):
        async with session.begin_nested():
            await session.execute(text(sql), {"i": post["id"]})


async def test_review_facts_stay_writable(flow, session):
    post = await approved(flow)
    await session.execute(text("UPDATE post_revisions SET risk = 'high' WHERE post_id = :i"), {"i": post["id"]})
