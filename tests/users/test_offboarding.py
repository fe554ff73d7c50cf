"""Offboarding is one use case: access, accounts and the leaver's posts, under one correlation id."""
from __future__ import annotations

from app.publishing import jobs as publishing
from tests.support.crises import declare
from tests.support.posts import Flow, newsroom, person  # noqa: F401 - fixture
from tests.support.publishing import approved, crisis_lead, make_due, scheduled


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
    assert {"user.offboarded", "grants.revoked", "tokens.revoked", "posts.withdrawn", "posts.paused"} <= actions
    # One bulk record per revoking statement, naming every grant and token the user's record names.
    [grants] = [x for x in linked if x["action"] == "grants.revoked"]
    assert sorted(grants["after"]["subject_ids"]) == sorted(rec["after"]["revoked_grant_ids"])
    assert grants["after"]["count"] == len(rec["after"]["revoked_grant_ids"]) >= 1
    [tokens] = [x for x in linked if x["action"] == "tokens.revoked"]
    assert sorted(tokens["after"]["subject_ids"]) == sorted(rec["after"]["revoked_token_ids"])
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


class TestALeaversPausedPost:
    async def leaver_with_a_scheduled_post(self, api, newsroom):
        flow = Flow(api, newsroom)
        post = await scheduled(flow, "scheduled")
        await api.ok("PATCH", f"/v1/users/{newsroom.author.id}", {"status": "offboarded"}, status=200)
        return flow, (await api.get(f"/v1/posts/{post['id']}")).json()

    async def test_release_sends_it_back_to_review(self, api, newsroom):  # noqa: F811
        flow, post = await self.leaver_with_a_scheduled_post(api, newsroom)
        r = await api.post(f"/v1/posts/{post['id']}/release", {"reason": "still valid"},
                           token=newsroom.publisher.token)
        assert r.status_code == 403  # a publisher is not an account admin
        admin = await person(api, "account_admin", account_id=newsroom.account["id"])
        released = await api.ok("POST", f"/v1/posts/{post['id']}/release", {"reason": "still valid"},
                                token=admin.token, status=200)
        assert released["status"] == "in_review" and released["pause_reason"] is None
        assert released["approved_revision"] is None and released["review_round"] == post["review_round"] + 1
        assert (await api.get("/v1/audit", subject_id=post["id"], action="post.released")).json()["items"]

    async def test_reassign_makes_it_the_new_authors_draft(self, api, newsroom, gql):  # noqa: F811
        flow, post = await self.leaver_with_a_scheduled_post(api, newsroom)
        r = await api.post(f"/v1/posts/{post['id']}/reassign", {"author_id": newsroom.outsider.id})
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/author_id"  # not a contributor
        got = await gql.mutate("reassignPost", {"postId": post["id"], "authorId": newsroom.editor.id},
                               fields="__typename ... on PostPayload { post { status authorId pauseReason } }")
        assert got["post"] == {"status": "draft", "authorId": newsroom.editor.id, "pauseReason": None}

    async def test_never_a_post_a_crisis_holds(self, api, newsroom):  # noqa: F811
        flow = Flow(api, newsroom)
        post = await scheduled(flow, "scheduled")
        lead = await crisis_lead(api)
        await declare(api, lead, {"account_ids": [newsroom.account["id"]]})
        r = await api.post(f"/v1/posts/{post['id']}/release", {})
        assert r.status_code == 409 and r.json()["code"] == "invalid-transition"
        assert "crisis" in r.json()["detail"]
