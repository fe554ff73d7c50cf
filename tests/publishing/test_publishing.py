from __future__ import annotations

from sqlalchemy import text

from app.publishing import jobs as publishing
from tests.support.publishing import approved, make_due, scheduled


class TestScheduler:
    async def test_due_post_is_published_once_with_the_approved_content(self, api, flow, maker, session):
        post = await scheduled(flow, "Spring launch 🌸")
        await make_due(session, post["id"])
        assert await publishing.run_due(maker) == 1
        assert await publishing.run_due(maker) == 0  # nothing twice
        got = (await api.get(f"/v1/posts/{post['id']}", token=flow.room.author.token)).json()
        assert got["status"] == "published" and got["allowed_transitions"] == ["retract"]
        pub = (await api.get(f"/v1/posts/{post['id']}/publication", token=flow.room.author.token)).json()
        assert pub["body"] == "Spring launch 🌸" and pub["connector"] == "log" and pub["revision"] == 1
        assert pub["content_hash"] == got["content_hash"]
        assert got["published_at"] and got["publish_attempts"] == 1 and got["last_error"] is None
        actions = [r["action"] for r in (await api.get("/v1/audit", subject_id=post["id"])).json()["items"]]
        assert actions[-3:] == ["post.claimed", "post.publish_started", "post.published"]

    async def test_not_due_is_not_claimed(self, flow, maker):
        await scheduled(flow)
        assert await publishing.run_due(maker) == 0

    async def test_content_differing_from_approved_is_refused(self, api, flow, maker, session):
        post = await scheduled(flow)
        # Tamper below the API (past the immutability trigger): the revision's stored hash no
        # longer matches the approved hash.
        await session.execute(text("ALTER TABLE post_revisions DISABLE TRIGGER USER"))
        await session.execute(text("UPDATE post_revisions SET content_hash = 'x' WHERE post_id = :i"), {"i": post["id"]})
        await session.execute(text("ALTER TABLE post_revisions ENABLE TRIGGER USER"))
        await make_due(session, post["id"])
        await publishing.run_due(maker)
        got = (await api.get(f"/v1/posts/{post['id']}", token=flow.room.author.token)).json()
        assert got["status"] == "failed" and got["published_at"] is None
        assert "approved content" in got["last_error"]
        assert (await session.execute(text("SELECT count(*) FROM publications"))).scalar() == 0


class TestByHand:
    async def test_publish_now_and_retract(self, api, flow):
        post = await approved(flow)
        r = await api.post(f"/v1/posts/{post['id']}/publish", token=flow.room.author.token)
        assert r.status_code == 403  # contributors do not publish
        r = await api.post(f"/v1/posts/{post['id']}/publish", token=flow.room.publisher.token,
                           **{"If-Match": f'"{post["version"]}"'})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "published"
        again = await api.post(f"/v1/posts/{post['id']}/publish", token=flow.room.publisher.token)
        assert again.status_code == 409 and again.json()["code"] == "invalid-transition"
        r = await api.post(f"/v1/posts/{post['id']}/retract", token=flow.room.publisher.token)
        assert r.status_code == 200 and r.json()["status"] == "retracted"
        pub = (await api.get(f"/v1/posts/{post['id']}/publication", token=flow.room.publisher.token)).json()
        assert pub["retracted_at"]

    async def test_draft_cannot_be_published(self, api, flow):
        post = await flow.draft()
        r = await api.post(f"/v1/posts/{post['id']}/publish", token=flow.room.publisher.token)
        assert r.status_code == 409 and r.json()["allowed_transitions"] == ["submit", "withdraw"]


class TestConnectorConfig:
    async def test_webhook_config_generates_a_secret_once(self, api, flow):
        acc = flow.room.account["id"]
        got = (await api.get(f"/v1/accounts/{acc}/connector")).json()
        assert got["kind"] == "log" and got["version"] == 0
        r = await api.client.put(f"/v1/accounts/{acc}/connector", headers=api.h(),
                                 json={"kind": "webhook", "url": "https://gateway.internal/publish"})
        assert r.status_code == 200 and r.json()["secret"].startswith("whsec_")
        again = (await api.get(f"/v1/accounts/{acc}/connector")).json()
        assert again["secret"] is None and again["has_secret"] is True
        r = await api.client.put(f"/v1/accounts/{acc}/connector", headers=api.h(), json={"kind": "webhook"})
        assert r.status_code == 422
        r = await api.client.put(f"/v1/accounts/{acc}/connector", headers=api.h(flow.room.publisher.token),
                                 json={"kind": "log"})
        assert r.status_code == 403
