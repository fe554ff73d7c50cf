"""Offboarding is one use case: access, accounts and the leaver's posts, under one correlation id."""
from __future__ import annotations

from app.publishing import jobs as publishing
from tests.support.posts import Flow, newsroom  # noqa: F401 - fixture
from tests.support.publishing import approved, make_due, scheduled


async def test_a_leavers_posts_are_set_aside_and_everything_shares_one_correlation_id(api, newsroom, maker,  # noqa: F811
                                                                                      session):
    flow = Flow(api, newsroom)
    draft = await flow.draft("draft")
    in_review = await flow.submitted("in review")
    ready = await approved(flow, "approved, not scheduled")
    due = await scheduled(flow, "scheduled")
    author = newsroom.author.id
    r = await api.patch(f"/v1/users/{author}", {"status": "offboarded"})
    assert r.status_code == 200, r.text

    async def status(post):
        return (await api.get(f"/v1/posts/{post['id']}")).json()

    assert (await status(draft))["status"] == "withdrawn"
    assert (await status(in_review))["status"] == "withdrawn"
    assert (await status(ready))["status"] == "approved"  # seen and approved; a publisher still decides
    paused = await status(due)
    assert paused["status"] == "paused" and paused["pause_reason"] == "author_offboarded"
    assert paused["paused_by_crisis_id"] is None
    # ... and the scheduler does not send it when its slot comes
    await make_due(session, due["id"])
    assert await publishing.run_due(maker) == 0
    assert (await status(due))["status"] == "paused"

    [rec] = (await api.get("/v1/audit", subject_id=author, action="user.offboarded")).json()["items"]
    assert rec["after"]["withdrawn_posts"] == 2 and rec["after"]["paused_posts"] == 1
    cid = rec["correlation_id"]
    assert cid
    linked = (await api.get("/v1/audit", correlation_id=cid, limit=200)).json()["items"]
    actions = {x["action"] for x in linked}
    assert {"user.offboarded", "grant.revoked", "token.revoked", "posts.withdrawn", "posts.paused"} <= actions
    withdrawn = next(x for x in linked if x["action"] == "posts.withdrawn")
    assert sorted(withdrawn["after"]["subject_ids"]) == sorted([draft["id"], in_review["id"]])
    # a post's own trail shows it
    trail = (await api.get("/v1/audit", subject_type="post", subject_id=due["id"])).json()["items"]
    assert trail[-1]["action"] == "posts.paused" and trail[-1]["correlation_id"] == cid


async def test_suspension_ends_access_but_leaves_posts_alone(api, newsroom):  # noqa: F811
    flow = Flow(api, newsroom)
    draft = await flow.draft("draft")
    await api.ok("PATCH", f"/v1/users/{newsroom.author.id}", {"status": "suspended"}, status=200)
    assert (await api.get(f"/v1/posts/{draft['id']}")).json()["status"] == "draft"
    assert (await api.get("/v1/me", token=newsroom.author.token)).status_code == 401
