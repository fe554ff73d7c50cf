from __future__ import annotations

from sqlalchemy import text

from app.publishing import jobs as publishing
from tests.support.publishing import approved, crisis_lead, later, make_due, scheduled
from tests.support.publishing import flow, newsroom  # noqa: F401 - fixtures
from tests.support.crises import declare  # noqa: F401


class TestDeclare:
    async def test_freeze_pauses_scheduled_posts_in_scope_only(self, api, flow, newsroom):
        lead = await crisis_lead(api)
        other_brand = await api.brand()
        other_acc = await api.account(other_brand["id"])
        a, b = await scheduled(flow, "one"), await scheduled(flow, "two")
        untouched_id = (await approved(flow, "approved, not scheduled"))["id"]
        r = await api.post("/v1/crises?dry_run=true", {"scope": {"account_ids": [newsroom.account["id"]]},
                                                       "reason": "x"}, token=lead.token)
        assert r.status_code == 200 and r.json()["would_pause"] == 2
        assert (await api.get(f"/v1/posts/{a['id']}", token=newsroom.author.token)).json()["status"] == "scheduled"
        crisis = await declare(api, lead, {"account_ids": [newsroom.account["id"]]})
        assert crisis["status"] == "active" and crisis["paused_count"] == 2 and crisis["in_flight_published"] == []
        for p in (a, b):
            got = (await api.get(f"/v1/posts/{p['id']}", token=newsroom.author.token)).json()
            assert got["status"] == "paused" and got["active_crises"] == [crisis["id"]]
            assert got["paused_by_crisis_id"] == crisis["id"] and got["scheduled_at"] == p["scheduled_at"]
        me = (await api.get("/v1/me", token=newsroom.author.token)).json()
        assert [c["id"] for c in me["active_crises"]] == [crisis["id"]]
        # someone who sees only the other brand is told of no crisis
        outsider = await api.user()
        await api.grant(outsider["id"], "viewer", account_id=other_acc["id"])
        me = (await api.get("/v1/me", token=await api.token_for(outsider["id"], scopes=("posts:read",)))).json()
        assert me["active_crises"] == []
        detail = (await api.get(f"/v1/crises/{crisis['id']}", token=lead.token)).json()
        assert detail["timeline"][0]["kind"] == "declared" and detail["timeline"][0]["detail"]["paused"] == 2
        # one bulk record for the freeze statement, naming both posts, in each post's trail too
        [paused] = (await api.get("/v1/audit", action="posts.paused")).json()["items"]
        assert (paused["subject_type"], paused["subject_id"], paused["correlation_id"]) == (
            "crisis", crisis["id"], crisis["id"])
        assert paused["before"] == {"status": "scheduled"}
        assert sorted(paused["after"]["subject_ids"]) == sorted([a["id"], b["id"]])
        assert paused["after"]["count"] == 2 and paused["after"]["subjects_type"] == "post"
        for p in (a, b):
            trail = (await api.get("/v1/audit", subject_type="post", subject_id=p["id"])).json()["items"]
            assert "posts.paused" in [r["action"] for r in trail]
            assert trail[-1]["action"] == "posts.paused"
        other_trail = (await api.get("/v1/audit", subject_type="post", subject_id=untouched_id)).json()["items"]
        assert "posts.paused" not in [r["action"] for r in other_trail]

    async def test_only_crisis_leads_admins_or_crisis_scoped_services(self, api, flow, newsroom):
        r = await api.post("/v1/crises", {"scope": {"organization": True}, "reason": "x"},
                           token=newsroom.publisher.token)
        assert r.status_code == 403
        svc = await api.ok("POST", "/v1/tokens", {"service_name": "monitoring", "scopes": ["crisis:declare"]})
        r = await api.post("/v1/crises", {"scope": {"organization": True}, "reason": "sentiment collapse"},
                           token=svc["token"])
        assert r.status_code == 201

    async def test_bad_scopes(self, api, flow, newsroom):
        lead = await crisis_lead(api)
        for scope in ({}, {"organization": False}, {"organization": True, "brand_ids": [newsroom.brand["id"]]},
                      {"brand_ids": []}):
            r = await api.post("/v1/crises", {"scope": scope, "reason": "x"}, token=lead.token)
            assert r.status_code == 422, scope
        r = await api.post("/v1/crises", {"scope": {"brand_ids": ["00000000-0000-0000-0000-000000000001"]},
                                          "reason": "x"}, token=lead.token)
        assert r.status_code == 404 and r.json()["errors"][0]["pointer"] == "#/scope/brand_ids/0"

    async def test_cross_field_and_type_errors_point_at_the_field(self, api, flow, newsroom):
        lead = await crisis_lead(api)
        base = {"scope": {"organization": True}, "reason": "x"}
        for extra, pointer in (({"starts_at": later(hours=72), "ends_at": later(hours=48)}, "#/ends_at"),
                               ({"severity": True}, "#/severity"), ({"severity": "3"}, "#/severity")):
            r = await api.post("/v1/crises", {**base, **extra}, token=lead.token)
            assert r.status_code == 422, (extra, r.text)
            assert [e["pointer"] for e in r.json()["errors"]] == [pointer], r.text
        r = await api.client.put(f"/v1/accounts/{newsroom.account['id']}/connector", json={"kind": "webhook"},
                                 headers=api.h())
        assert r.status_code == 422 and [e["pointer"] for e in r.json()["errors"]] == ["#/url"], r.text

    async def test_idempotent_declare(self, api, flow, newsroom):
        lead = await crisis_lead(api)
        body = {"scope": {"organization": True}, "reason": "x"}
        one = await api.post("/v1/crises", body, token=lead.token, **{"Idempotency-Key": "incident-42"})
        two = await api.post("/v1/crises", body, token=lead.token, **{"Idempotency-Key": "incident-42"})
        assert one.json()["id"] == two.json()["id"]
        listed = (await api.get("/v1/crises", token=lead.token, status="active")).json()["items"]
        assert len(listed) == 1


class TestDuringCrisis:
    async def test_nothing_scheduled_and_only_responders_publish_crisis_responses(self, api, flow, newsroom, maker,
                                                                                 session):
        lead = await crisis_lead(api)
        ready = await approved(flow, "old approved post")
        crisis = await declare(api, lead, {"brand_ids": [newsroom.brand["id"]]},
                               responders=[newsroom.publisher.id])
        r = await api.post(f"/v1/posts/{ready['id']}/schedule", {"scheduled_at": later(hours=2)},
                           token=newsroom.publisher.token)
        assert r.status_code == 409 and r.json()["code"] == "crisis-active"
        r = await api.post(f"/v1/posts/{ready['id']}/publish", token=newsroom.publisher.token)
        assert r.status_code == 423 and r.json()["code"] == "crisis-freeze"  # approved before the crisis
        # A holding statement written now passes the crisis stages and goes out by a responder's hand.
        statement = await flow.submitted("We are aware of the issue and are investigating.")
        statement = await flow.act(statement, "approve", newsroom.editor)
        other = await api.user()
        await api.grant(other["id"], "publisher", account_id=newsroom.account["id"])
        ot = await api.token_for(other["id"], scopes=("posts:read", "posts:write"))
        r = await api.post(f"/v1/posts/{statement['id']}/publish", token=ot)
        assert r.status_code == 423  # a publisher, but not a responder
        r = await api.post(f"/v1/posts/{statement['id']}/publish", token=newsroom.publisher.token)
        assert r.status_code == 200 and r.json()["status"] == "published"
        assert crisis["id"]

    async def test_scheduler_never_sends_in_scope(self, api, flow, newsroom, maker, session):
        lead = await crisis_lead(api)
        post = await scheduled(flow)
        await declare(api, lead, {"organization": True})
        await make_due(session, post["id"])
        assert await publishing.run_due(maker) == 0  # paused posts are not due
        assert (await session.execute(text("SELECT count(*) FROM publications"))).scalar() == 0


class TestResolve:
    async def _setup(self, api, flow, newsroom, session):
        lead = await crisis_lead(api)
        future, past = await scheduled(flow, "future"), await scheduled(flow, "past")
        crisis = await declare(api, lead, {"organization": True})
        await session.execute(text("UPDATE posts SET scheduled_at = now() - interval '1 hour' WHERE id = :i"),
                              {"i": past["id"]})
        await session.commit()
        return lead, crisis, future, past

    async def status(self, api, newsroom, post):
        return (await api.get(f"/v1/posts/{post['id']}", token=newsroom.author.token)).json()

    async def test_resume(self, api, flow, newsroom, session):
        lead, crisis, future, past = await self._setup(api, flow, newsroom, session)
        r = await api.post(f"/v1/crises/{crisis['id']}/resolve", {"resolution": "resume", "note": "over"},
                           token=lead.token)
        assert r.status_code == 200, r.text
        assert r.json()["counts"] == {"resumed": 1, "unscheduled": 1, "still_paused": 0}
        assert (await self.status(api, newsroom, future))["status"] == "scheduled"
        got = await self.status(api, newsroom, past)
        assert got["status"] == "approved"  # its slot passed: never out in a burst
        # one bulk record per outcome, naming its posts
        released = (await api.get("/v1/audit", action="posts.released", correlation_id=crisis["id"])).json()["items"]
        assert {(r["after"]["status"], tuple(r["after"]["subject_ids"])) for r in released} == {
            ("scheduled", (future["id"],)), ("approved", (past["id"],))}
        assert all(r["after"]["resolution"] == "resume" and r["before"] == {"status": "paused"} for r in released)
        trail = [r["action"] for r in (await api.get("/v1/audit", subject_type="post", subject_id=past["id"])).json()[
            "items"]]
        assert trail[-2:] == ["posts.paused", "posts.released"]
        again = await api.post(f"/v1/crises/{crisis['id']}/resolve", {"resolution": "resume"}, token=lead.token)
        assert again.status_code == 409 and again.json()["code"] == "crisis-already-resolved"

    async def test_review_voids_approvals(self, api, flow, newsroom, session):
        lead, crisis, future, past = await self._setup(api, flow, newsroom, session)
        r = await api.post(f"/v1/crises/{crisis['id']}/resolve", token=lead.token)
        assert r.json()["counts"] == {"review": 2, "still_paused": 0} and r.json()["resolution"] == "review"
        got = await self.status(api, newsroom, future)
        assert got["status"] == "in_review" and got["approved_revision"] is None and got["review_round"] == 2
        view = (await api.get(f"/v1/posts/{future['id']}/approvals", token=newsroom.author.token)).json()
        assert all(s["approved"] == 0 for s in view["stages"])

    async def test_cancel(self, api, flow, newsroom, session):
        lead, crisis, future, past = await self._setup(api, flow, newsroom, session)
        r = await api.post(f"/v1/crises/{crisis['id']}/resolve", {"resolution": "cancel"}, token=lead.token)
        assert r.json()["counts"] == {"cancelled": 2, "still_paused": 0}
        assert (await self.status(api, newsroom, future))["status"] == "withdrawn"

    async def test_overlapping_crisis_keeps_holding(self, api, flow, newsroom, session):
        lead = await crisis_lead(api)
        post = await scheduled(flow)
        org = await declare(api, lead, {"organization": True})
        brand = await declare(api, lead, {"brand_ids": [newsroom.brand["id"]]})
        r = await api.post(f"/v1/crises/{org['id']}/resolve", {"resolution": "resume"}, token=lead.token)
        assert r.json()["counts"]["still_paused"] == 1
        assert (await self.status(api, newsroom, post))["status"] == "paused"
        [handed] = (await api.get("/v1/audit", action="posts.handed_over")).json()["items"]
        assert handed["after"]["crisis_id"] == brand["id"] and handed["after"]["subject_ids"] == [post["id"]]
        assert handed["before"] == {"status": "paused", "crisis_id": org["id"]}
        r = await api.post(f"/v1/crises/{brand['id']}/resolve", {"resolution": "resume"}, token=lead.token)
        assert r.json()["counts"]["resumed"] == 1
        assert (await self.status(api, newsroom, post))["status"] == "scheduled"


class TestBlackoutWindows:
    async def test_no_scheduling_into_a_window_and_it_runs_itself(self, api, flow, newsroom, session):
        from app.crises import service as crises
        from app.security import SYSTEM

        lead = await crisis_lead(api)
        inside = await scheduled(flow, "inside", hours=5)
        outside = await scheduled(flow, "outside", hours=30)
        window = await declare(api, lead, {"organization": True}, starts_at=later(hours=4), ends_at=later(hours=8),
                               reason="national day of mourning")
        assert window["status"] == "scheduled" and window["paused_count"] == 1
        assert (await self.status(api, newsroom, inside))["status"] == "paused"
        assert (await self.status(api, newsroom, outside))["status"] == "scheduled"
        post = await approved(flow, "later")
        r = await api.post(f"/v1/posts/{post['id']}/schedule", {"scheduled_at": later(hours=6)},
                           token=newsroom.publisher.token)
        assert r.status_code == 409 and r.json()["code"] == "blackout-window"
        ok = await api.post(f"/v1/posts/{post['id']}/schedule", {"scheduled_at": later(hours=9)},
                            token=newsroom.publisher.token)
        assert ok.status_code == 200
        # Time passes: the window starts (freezes like any crisis: every slot before its end),
        # then ends (review). Slots after its end are not its business: they keep their approval.
        due_inside = await approved(flow, "due inside")
        await session.execute(text("UPDATE posts SET status = 'scheduled', scheduled_at = now() + interval '7 hours'"
                                   " WHERE id = :i"), {"i": due_inside["id"]})  # as if it slipped in before
        await session.execute(text("UPDATE crises SET starts_at = now() - interval '1 s' WHERE id = :i"),
                              {"i": window["id"]})
        assert await crises.run_windows(session, SYSTEM) == (1, 0)
        await session.commit()
        assert (await self.status(api, newsroom, due_inside))["status"] == "paused"
        for p in (outside, post):
            assert (await self.status(api, newsroom, p))["status"] == "scheduled"
        # while it holds: nothing into it, but after its end is fine
        more = await approved(flow, "more")
        r = await api.post(f"/v1/posts/{more['id']}/schedule", {"scheduled_at": later(hours=7)},
                           token=newsroom.publisher.token)
        assert r.status_code == 409 and r.json()["code"] == "crisis-active"
        r = await api.post(f"/v1/posts/{more['id']}/schedule", {"scheduled_at": later(hours=10)},
                           token=newsroom.publisher.token)
        assert r.status_code == 200, r.text
        await session.execute(text("UPDATE crises SET ends_at = now() - interval '1 ms' WHERE id = :i"),
                              {"i": window["id"]})
        assert await crises.run_windows(session, SYSTEM) == (0, 1)
        await session.commit()
        got = (await api.get(f"/v1/crises/{window['id']}", token=lead.token)).json()
        assert got["status"] == "resolved" and got["resolution"] == "review"
        assert [e["kind"] for e in got["timeline"]] == ["window_declared", "window_started", "resolved"]
        assert got["outcome"]["review"] == 2
        for p in (inside, due_inside):
            assert (await self.status(api, newsroom, p))["status"] == "in_review"
        for p in (outside, post, more):
            assert (await self.status(api, newsroom, p))["status"] == "scheduled"

    async def test_resume_into_a_window_ahead_leaves_the_post_to_the_window(self, api, flow, newsroom, session):
        lead = await crisis_lead(api)
        post = await scheduled(flow, "ten hours ahead", hours=10)
        crisis = await declare(api, lead, {"account_ids": [newsroom.account["id"]]})
        window = await declare(api, lead, {"account_ids": [newsroom.account["id"]]}, starts_at=later(hours=9),
                               ends_at=later(hours=11), reason="quiet period")
        assert window["paused_count"] == 0  # already paused by the crisis
        r = await api.post(f"/v1/crises/{crisis['id']}/resolve", {"resolution": "resume"}, token=lead.token)
        assert r.json()["counts"] == {"resumed": 0, "unscheduled": 0, "still_paused": 1}
        got = await self.status(api, newsroom, post)
        assert (got["status"], got["paused_by_crisis_id"]) == ("paused", window["id"])

    async def status(self, api, newsroom, post):
        return (await api.get(f"/v1/posts/{post['id']}", token=newsroom.author.token)).json()


class TestCrisisStages:
    async def test_during_crisis_stages_apply_only_while_a_crisis_holds(self, api, flow, newsroom):
        lead = await crisis_lead(api)
        await api.ok("PUT", f"/v1/approval-policies/{newsroom.policy['id']}", {
            "name": newsroom.policy["name"], "stages": [
                {"name": "editorial", "role": "approver", "min_approvals": 1, "when": "always"},
                {"name": "crisis desk", "role": "crisis_lead", "min_approvals": 1, "when": "during_crisis"}]},
            status=200)
        calm = await flow.submitted("before")
        stages = lambda p: api.get(f"/v1/posts/{p['id']}/approvals", token=newsroom.author.token)  # noqa: E731
        assert [s["name"] for s in (await stages(calm)).json()["stages"]] == ["editorial"]
        crisis = await declare(api, lead, {"account_ids": [newsroom.account["id"]]})
        tense = await flow.submitted("We are investigating.")
        assert [s["name"] for s in (await stages(tense)).json()["stages"]] == ["editorial", "crisis desk"]
        tense = await flow.act(tense, "approve", newsroom.editor)
        assert tense["status"] == "in_review"
        tense = await flow.act(tense, "approve", lead)
        assert tense["status"] == "approved" and tense["active_crises"] == [crisis["id"]]
        r = await api.post(f"/v1/posts/{tense['id']}/publish", token=newsroom.publisher.token)
        assert r.status_code == 423  # a publisher, but no responder of this crisis
        r = await api.post(f"/v1/posts/{tense['id']}/publish", token=lead.token)
        assert r.status_code == 200 and r.json()["status"] == "published"  # a crisis lead is a responder
