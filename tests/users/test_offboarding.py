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


class TestTheAuditOfAnOffboarding:
    """Set-based: one statement revokes every grant and one every token, each audited as one
    bulk record naming them all; every record of the offboarding carries one correlation id."""

    async def test_one_bulk_record_names_every_grant_revoked(self, api):
        brand = await api.brand()
        accounts = [await api.account(brand["id"]) for _ in range(12)]
        u = await api.user()
        gone = await api.grant(u["id"], "viewer", account_id=accounts[0]["id"])
        await api.ok("POST", f"/v1/grants/{gone['id']}/revoke", {"reason": "moved team"}, status=200)
        grants = [await api.grant(u["id"], "viewer", account_id=a["id"]) for a in accounts[1:]]
        grants.append(await api.grant(u["id"], "contributor", brand_id=brand["id"]))
        token = await api.ok("POST", "/v1/tokens", {"user_id": u["id"], "scopes": ["posts:read"]})
        await api.ok("PATCH", f"/v1/users/{u['id']}", {"status": "offboarded"})

        ids = sorted(g["id"] for g in grants)
        listed = (await api.get("/v1/grants", user_id=u["id"], limit=100)).json()["items"]
        assert all(g["revoked_at"] and g["revoke_reason"] == "user offboarded"
                   for g in listed if g["id"] != gone["id"])
        assert {g["id"] for g in listed if g["revoke_reason"] == "user offboarded"} == set(ids)

        [rec] = (await api.get("/v1/audit", subject_id=u["id"], action="user.offboarded")).json()["items"]
        cid = rec["correlation_id"]
        assert cid and sorted(rec["after"]["revoked_grant_ids"]) == ids
        assert rec["after"]["revoked_token_ids"] == [token["id"]]
        linked = (await api.get("/v1/audit", correlation_id=cid, limit=200)).json()["items"]
        assert all(x["correlation_id"] == cid for x in linked)
        assert sorted(x["action"] for x in linked) == ["grants.revoked", "tokens.revoked", "user.offboarded"]
        [bulk] = [x for x in linked if x["action"] == "grants.revoked"]
        assert (bulk["subject_type"], bulk["subject_id"]) == ("user", u["id"])
        assert sorted(bulk["after"]["subject_ids"]) == ids and bulk["after"]["count"] == len(ids) == 12
        assert bulk["after"]["subjects_type"] == "grant" and bulk["after"]["reason"] == "user offboarded"
        assert bulk["before"] == {"revoked_at": None}
        # No record per grant; each grant's own trail finds the bulk record.
        assert not (await api.get("/v1/audit", action="grant.revoked", correlation_id=cid)).json()["items"]
        trail = (await api.get("/v1/audit", subject_type="grant", subject_id=grants[5]["id"])).json()["items"]
        assert [x["action"] for x in trail] == ["grant.created", "grants.revoked"]
        assert trail[-1]["correlation_id"] == cid
        # The grant revoked before is in neither.
        assert gone["id"] not in bulk["after"]["subject_ids"] + rec["after"]["revoked_grant_ids"]

    async def test_an_account_owned_and_held_is_flagged_once_with_both_flags(self, api):
        brand = await api.brand()
        u = await api.user()
        both = await api.account(brand["id"], owner_id=u["id"], credential_custodian_id=u["id"])
        held = await api.account(brand["id"], credential_custodian_id=u["id"])
        await api.ok("PATCH", f"/v1/users/{u['id']}", {"status": "offboarded"})
        [rec] = (await api.get("/v1/audit", subject_id=u["id"], action="user.offboarded")).json()["items"]
        assert sorted(rec["after"]["flagged_account_ids"]) == sorted([both["id"], held["id"]])
        flagged = (await api.get("/v1/audit", action="account.flagged", correlation_id=rec["correlation_id"])).json()
        by_account = {x["subject_id"]: x for x in flagged["items"]}
        assert len(flagged["items"]) == 2
        assert by_account[both["id"]]["after"] == {"needs_owner": True, "credentials_rotation_required": True}
        assert by_account[held["id"]]["before"] == {"credentials_rotation_required": False}
        after = (await api.get(f"/v1/accounts/{both['id']}")).json()
        assert after["needs_owner"] and after["credentials_rotation_required"] and after["version"] == both["version"] + 1
