"""A named-approver stage whose approvers can no longer decide is visible as stuck, and an account
admin (or admin) can reassign it — only it, and never to themselves or the author."""
from __future__ import annotations

import pytest

from tests.support.posts import Flow, Person, newsroom, person  # noqa: F401 - fixtures


@pytest.fixture
async def legal(api, newsroom):  # noqa: F811
    """The account's policy: editorial (approvers), then a legal stage naming one person."""
    counsel = await person(api, "viewer", account_id=newsroom.account["id"])
    partner = await person(api, "viewer", account_id=newsroom.account["id"])
    policy = await api.ok("POST", "/v1/approval-policies", {"name": f"legal {newsroom.account['id']}", "stages": [
        {"name": "editorial", "role": "approver", "min_approvals": 1, "when": "always"},
        {"name": "legal", "approvers": [counsel.id], "mode": "any", "when": "always"},
    ]})
    await api.ok("PATCH", f"/v1/accounts/{newsroom.account['id']}", {"approval_policy_id": policy["id"]}, status=200)
    return counsel, partner


async def in_legal_review(flow: Flow) -> dict:
    post = await flow.submitted("Quarterly update")
    return await flow.act(post, "approve", flow.room.editor, {"revision": post["revision"]}, if_match=False)


async def reassign(api, post, token, approvers, index=1, **extra):
    body = {"approvers": approvers, "reason": "counsel left", "revision": post["revision"], **extra}
    return await api.post(f"/v1/posts/{post['id']}/stages/{index}/reassign", body, token=token)


async def account_admin(api, room) -> Person:
    return await person(api, "account_admin", account_id=room.account["id"])


class TestStuckIsVisible:
    async def test_a_leaver_named_on_a_stage_makes_the_post_stuck(self, api, flow, legal):
        counsel, _ = legal
        post = await in_legal_review(flow)
        assert post["status"] == "in_review" and post["stuck"] is False
        await api.ok("PATCH", f"/v1/users/{counsel.id}", {"status": "offboarded"}, status=200)
        got = (await api.get(f"/v1/posts/{post['id']}")).json()
        assert got["stuck"] is True and got["stuck_stages"] == [1]
        assert [p["id"] for p in (await api.get("/v1/posts", stuck="true")).json()["items"]] == [post["id"]]
        assert post["id"] not in {p["id"] for p in (await api.get("/v1/posts", stuck="false")).json()["items"]}
        stages = (await api.get(f"/v1/posts/{post['id']}/approvals")).json()["stages"]
        assert [s["stuck"] for s in stages] == [False, True]
        # Nobody else can decide it, not even an admin.
        r = await api.post(f"/v1/posts/{post['id']}/approve", {"revision": post["revision"]})
        assert r.status_code == 403 and r.json()["code"] == "not-an-approver"

    @pytest.mark.parametrize("how", ["grant revoked", "suspended"])
    async def test_losing_access_is_stuck_too(self, api, flow, legal, how):
        counsel, _ = legal
        post = await in_legal_review(flow)
        if how == "suspended":
            await api.ok("PATCH", f"/v1/users/{counsel.id}", {"status": "suspended"}, status=200)
        else:
            [g] = (await api.get("/v1/grants", user_id=counsel.id)).json()["items"]
            await api.ok("POST", f"/v1/grants/{g['id']}/revoke", {"reason": "moved"}, status=200)
        assert (await api.get(f"/v1/posts/{post['id']}")).json()["stuck"] is True


class TestReassign:
    async def test_an_account_admin_reassigns_and_the_review_goes_on(self, api, flow, legal):
        counsel, partner = legal
        post = await in_legal_review(flow)
        await api.ok("PATCH", f"/v1/users/{counsel.id}", {"status": "offboarded"}, status=200)
        boss = await account_admin(api, flow.room)
        r = await reassign(api, post, boss.token, [partner.id])
        assert r.status_code == 200, r.text
        assert r.json()["stuck"] is False and r.json()["version"] == post["version"] + 1
        stages = (await api.get(f"/v1/posts/{post['id']}/approvals")).json()["stages"]
        assert stages[1]["approvers"] == [partner.id] and stages[1]["pending_on"] == [partner.id]
        done = await flow.act(r.json(), "approve", partner, {"revision": post["revision"]}, if_match=False)
        assert done["status"] == "approved"
        [rec] = (await api.get("/v1/audit", subject_id=post["id"], action="post.stage_reassigned")).json()["items"]
        assert rec["before"]["approvers"] == [counsel.id] and rec["after"]["approvers"] == [partner.id]
        assert rec["after"]["reason"] == "counsel left" and rec["actor_id"] == boss.id

    async def test_only_a_stuck_named_stage(self, api, flow, legal):
        _, partner = legal
        post = await in_legal_review(flow)
        r = await reassign(api, post, (await account_admin(api, flow.room)).token, [partner.id])
        assert r.status_code == 409 and r.json()["code"] == "stage-not-stuck"  # counsel can still decide
        r = await reassign(api, post, api.token, [partner.id], index=0)
        assert r.status_code == 409 and r.json()["code"] == "stage-not-stuck"  # a role stage
        r = await reassign(api, post, api.token, [partner.id], index=7)
        assert r.status_code == 404

    async def test_who_may_reassign_and_whom(self, api, flow, legal):
        counsel, partner = legal
        post = await in_legal_review(flow)
        await api.ok("PATCH", f"/v1/users/{counsel.id}", {"status": "offboarded"}, status=200)
        r = await reassign(api, post, flow.room.publisher.token, [partner.id])
        assert r.status_code == 403 and r.json()["code"] == "post-action-forbidden"
        boss = await account_admin(api, flow.room)
        r = await reassign(api, post, boss.token, [boss.id])
        assert r.status_code == 403 and r.json()["code"] == "self-assignment"
        r = await reassign(api, post, boss.token, [partner.id, flow.room.author.id])
        assert r.status_code == 422 and r.json()["code"] == "unable-approver"
        assert r.json()["errors"][0]["pointer"] == "#/approvers/1"
        stranger = await person(api)  # cannot see the account
        r = await reassign(api, post, boss.token, [stranger.id])
        assert r.status_code == 422 and r.json()["code"] == "unable-approver"
        r = await reassign(api, post, boss.token, [flow.room.editor.id])  # decided the editorial stage
        assert r.status_code == 422 and r.json()["code"] == "unable-approver"
        r = await api.post(f"/v1/posts/{post['id']}/stages/1/reassign",
                           {"approvers": [partner.id], "reason": "x"}, token=boss.token)
        assert r.status_code == 428
        r = await reassign(api, post, boss.token, [partner.id], revision=post["revision"] + 1)
        assert r.status_code == 412

    async def test_the_author_never_chooses_its_deciders(self, api, flow, legal):
        counsel, partner = legal
        boss = await account_admin(api, flow.room)
        room = flow.room
        own = Flow(api, room.__class__(**{**room.__dict__, "author": boss}))
        post = await own.submitted("mine")
        post = await own.act(post, "approve", room.editor, {"revision": post["revision"]}, if_match=False)
        await api.ok("PATCH", f"/v1/users/{counsel.id}", {"status": "offboarded"}, status=200)
        r = await reassign(api, post, boss.token, [partner.id])
        assert r.status_code == 403 and r.json()["code"] == "self-approval"


class TestOverGraphQL:
    QUERY = """mutation($input: ReassignPostStageInput!) { reassignPostStage(input: $input) {
        __typename ... on PostPayload { post { stuck stuckStages version approvals { stages { stuck approvers } } } }
        ... on Problem { code status } } }"""

    async def gql(self, api, token, query, variables=None):
        r = await api.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                  headers=api.h(token))
        assert r.status_code == 200, r.text
        return r.json()

    async def test_same_rules_and_outcome_as_rest(self, api, flow, legal):
        counsel, partner = legal
        post = await in_legal_review(flow)
        await api.ok("PATCH", f"/v1/users/{counsel.id}", {"status": "offboarded"}, status=200)
        got = await self.gql(api, None, "{ posts(filter: {stuck: true}) { items { id stuck stuckStages } } }")
        assert got["data"]["posts"]["items"] == [{"id": post["id"], "stuck": True, "stuckStages": [1]}]
        boss = await account_admin(api, flow.room)
        base = {"postId": post["id"], "index": 1, "reason": "counsel left", "revision": post["revision"]}
        refused = await self.gql(api, boss.token, self.QUERY, {"input": {**base, "approvers": [boss.id]}})
        assert refused["data"]["reassignPostStage"] == {"__typename": "Problem", "code": "self-assignment",
                                                        "status": 403}
        done = await self.gql(api, boss.token, self.QUERY, {"input": {**base, "approvers": [partner.id]}})
        moved = done["data"]["reassignPostStage"]["post"]
        assert moved["stuck"] is False and moved["stuckStages"] == []
        assert moved["approvals"]["stages"][1] == {"stuck": False, "approvers": [partner.id]}
