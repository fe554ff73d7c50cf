"""A replay never presents an out-of-date state as current: a retried creating POST answers its
resource as it is now (Idempotent-Replay-State: current), as GraphQL's idempotencyKey does."""
from __future__ import annotations

import uuid

from tests.support.posts import Flow, newsroom  # noqa: F401 - fixture


def key() -> str:
    return f"k-{uuid.uuid4().hex}"


async def twice(api, path, body, token=None):
    k = key()
    first = await api.post(path, body, token=token, **{"Idempotency-Key": k})
    return first, (lambda: api.post(path, body, token=token, **{"Idempotency-Key": k}))


class TestTheRunbooksCurlCannotBeFooled:
    async def test_a_replay_after_the_crisis_was_resolved_says_resolved(self, api):
        body = {"severity": 3, "scope": {"organization": True}, "reason": "Product recall, say nothing"}
        first, again = await twice(api, "/v1/crises", body)
        assert first.status_code == 201 and first.json()["status"] == "active"
        await api.ok("POST", f"/v1/crises/{first.json()['id']}/resolve", {"resolution": "review"}, status=200)
        replay = await again()
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["idempotent-replay-state"] == "current"
        got = replay.json()
        assert got["id"] == first.json()["id"] and got["status"] == "resolved", got  # was "active"
        assert got["resolution"] == "review" and got["in_flight_published"] == first.json()["in_flight_published"]
        # while it is still active a replay says active, of course
        first, again = await twice(api, "/v1/crises", {**body, "reason": "second"})
        assert (await again()).json()["status"] == "active"

    async def test_a_dry_run_replays_as_it_was(self, api):
        first, again = await twice(api, "/v1/crises?dry_run=true", {"scope": {"organization": True}, "reason": "x"})
        replay = await again()
        assert replay.json() == first.json() and replay.headers["idempotent-replay-state"] == "original"

    async def test_a_stored_error_replays_as_it_was(self, api):
        first, again = await twice(api, "/v1/grants", {"user_id": str(uuid.uuid4()), "role": "viewer", "reason": "x"})
        assert first.status_code == 404
        replay = await again()
        assert replay.status_code == 404 and replay.headers["idempotent-replay-state"] == "original"


class TestEveryCreatingRouteAnswersTheCurrentState:
    async def test_post(self, api, newsroom):  # noqa: F811
        flow = Flow(api, newsroom)
        body = {"account_id": newsroom.account["id"], "body": "Hello"}
        first, again = await twice(api, "/v1/posts", body, token=newsroom.author.token)
        await flow.act(first.json(), "submit", newsroom.author)
        replay = await again()
        assert replay.json()["status"] == "in_review" and replay.json()["version"] == 2
        assert replay.headers["etag"] == '"2"'

    async def test_grant(self, api):
        u = await api.user()
        first, again = await twice(api, "/v1/grants", {"user_id": u["id"], "role": "viewer", "reason": "x"})
        await api.ok("POST", f"/v1/grants/{first.json()['id']}/revoke", {"reason": "done"}, status=200)
        got = (await again()).json()
        assert got["active"] is False and got["revoked_at"] is not None

    async def test_token_secret_stays_gone(self, api):
        u = await api.user()
        first, again = await twice(api, "/v1/tokens", {"user_id": u["id"], "scopes": ["posts:read"]})
        await api.client.delete(f"/v1/tokens/{first.json()['id']}", headers=api.h())
        got = (await again()).json()
        assert got["token"] is None and got["revoked_at"] is not None

    async def test_user_brand_account(self, api):
        first, again = await twice(api, "/v1/users", {"email": f"{uuid.uuid4().hex[:8]}@example.com",
                                                      "display_name": "A"})
        await api.ok("PATCH", f"/v1/users/{first.json()['id']}", {"status": "suspended"}, status=200)
        assert (await again()).json()["status"] == "suspended"
        first, again = await twice(api, "/v1/brands", {"name": f"B {uuid.uuid4().hex[:8]}"})
        await api.ok("PATCH", f"/v1/brands/{first.json()['id']}", {"description": "now"}, status=200)
        assert (await again()).json()["description"] == "now"
        first, again = await twice(api, "/v1/accounts", {"platform": "weibo", "handle": uuid.uuid4().hex[:10],
                                                         "brand_id": first.json()["id"]})
        await api.ok("PATCH", f"/v1/accounts/{first.json()['id']}", {"status": "suspended"}, status=200)
        assert (await again()).json()["status"] == "suspended"

    async def test_content_rule_and_policy(self, api):
        first, again = await twice(api, "/v1/content-rules", {"kind": "banned_term", "terms": ["x1"],
                                                              "severity": "block"})
        await api.client.delete(f"/v1/content-rules/{first.json()['id']}", headers=api.h())
        assert (await again()).json()["deleted_at"] is not None
        stages = [{"name": "editorial", "role": "approver", "min_approvals": 1, "when": "always"}]
        first, again = await twice(api, "/v1/approval-policies", {"name": f"p{uuid.uuid4().hex[:6]}",
                                                                  "stages": stages})
        await api.ok("PUT", "/v1/approval-policies/default", {"policy_id": first.json()["id"]}, status=200)
        assert (await again()).json()["is_default"] is True
