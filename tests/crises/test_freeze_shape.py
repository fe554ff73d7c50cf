"""The freeze and the resume update posts in place (HOT): no index names a column they change.

That is what keeps a freeze of 100,000 posts under a second (bench/freeze.py): with ``status``
in an index (as a key or in a predicate) every paused post becomes a new row version plus an
entry in each index, about six times the work. This checks the mechanism, not a time:
PostgreSQL counts, per transaction, how many of a table's row updates were HOT.
"""
from __future__ import annotations

from sqlalchemy import text

from tests.support.crises import declare
from tests.support.publishing import crisis_lead, scheduled
from tests.support.publishing import flow, newsroom  # noqa: F401 - fixtures


async def _post_updates(session) -> tuple[int, int]:
    row = (await session.execute(text(
        "SELECT pg_stat_get_xact_tuples_hot_updated('posts'::regclass),"
        " pg_stat_get_xact_tuples_updated('posts'::regclass)"))).one()
    return int(row[0]), int(row[1])


async def test_freeze_and_resume_update_posts_in_place(api, flow, newsroom, session):
    lead = await crisis_lead(api)
    posts = [await scheduled(flow, f"post {i}", hours=i + 1) for i in range(5)]

    hot, updated = await _post_updates(session)
    crisis = await declare(api, lead, {"organization": True})
    assert crisis["paused_count"] == len(posts)
    hot_after, updated_after = await _post_updates(session)
    assert updated_after - updated == len(posts)
    assert hot_after - hot == len(posts), "the freeze moved rows: an index names a column it changes"

    r = await api.post(f"/v1/crises/{crisis['id']}/resolve", {"resolution": "resume"}, token=lead.token)
    assert r.json()["counts"]["resumed"] == len(posts)
    hot_resumed, updated_resumed = await _post_updates(session)
    assert updated_resumed - updated_after == len(posts)
    assert hot_resumed - hot_after == len(posts), "the resume moved rows: an index names a column it changes"


async def test_no_index_on_posts_names_status(session):
    """The plain statement of the rule, for whoever adds the next index."""
    rows = (await session.execute(text("""
        SELECT indexrelid::regclass::text FROM pg_index
         WHERE indrelid = 'posts'::regclass
           AND (pg_get_indexdef(indexrelid) ~ '\\m(status|paused_by_crisis_id|version|updated_at)\\M')
    """))).scalars().all()
    assert rows == []
