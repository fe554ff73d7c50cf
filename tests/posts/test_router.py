"""Posts over REST: content, revisions, the workflow, approvals, checks."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text


def later(**kw) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat()


class TestCreateAndEdit:
    async def test_create_read_etag(self, api, flow, newsroom):
        post = await flow.draft(labels=["Campaign-X"], link="https://acme.com/friday")
        assert post["status"] == "draft" and post["revision"] == 1 and post["labels"] == ["campaign-x"]
        assert post["author_id"] == newsroom.author.id and post["allowed_transitions"] == ["submit", "withdraw"]
        r = await api.get(f"/v1/posts/{post['id']}", token=newsroom.author.token)
        assert r.status_code == 200 and r.headers["etag"] == f'"{post["version"]}"'

    async def test_each_content_edit_is_a_new_immutable_revision(self, api, flow, newsroom):
        post = await flow.draft("v1")
        r = await api.patch(f"/v1/posts/{post['id']}", {"body": "v2"}, token=newsroom.author.token,
                            **{"If-Match": f'"{post["version"]}"'})
        assert r.status_code == 200 and r.json()["revision"] == 2
        revs = (await api.get(f"/v1/posts/{post['id']}/revisions", token=newsroom.author.token)).json()
        assert [(x["number"], x["body"]) for x in revs] == [(1, "v1"), (2, "v2")]
        assert revs[0]["content_hash"] != revs[1]["content_hash"]

    async def test_stale_if_match_is_412(self, api, flow, newsroom):
        post = await flow.draft()
        await api.patch(f"/v1/posts/{post['id']}", {"body": "newer"}, token=newsroom.author.token)
        r = await api.patch(f"/v1/posts/{post['id']}", {"body": "lost?"}, token=newsroom.author.token,
                            **{"If-Match": f'"{post["version"]}"'})
        assert r.status_code == 412 and r.json()["code"] == "precondition-failed"
        r = await api.post(f"/v1/posts/{post['id']}/submit", token=newsroom.author.token,
                           **{"If-Match": f'"{post["version"]}"'})
        assert r.status_code == 412

    async def test_who_may_write(self, api, flow, newsroom):
        r = await api.post("/v1/posts", {"account_id": newsroom.account["id"], "body": "x"},
                           token=newsroom.outsider.token)
        assert r.status_code == 404  # cannot see the account
        viewer = await api.user()
        await api.grant(viewer["id"], "viewer", account_id=newsroom.account["id"])
        vt = await api.token_for(viewer["id"], scopes=("posts:read", "posts:write"))
        r = await api.post("/v1/posts", {"account_id": newsroom.account["id"], "body": "x"}, token=vt)
        assert r.status_code == 403
        post = await flow.draft()
        assert (await api.get(f"/v1/posts/{post['id']}", token=newsroom.outsider.token)).status_code == 404
        r = await api.patch(f"/v1/posts/{post['id']}", {"body": "hijack"}, token=newsroom.editor.token)
        assert r.status_code == 403 and r.json()["code"] == "post-action-forbidden"

    async def test_past_schedule_refused(self, api, flow):
        r = await api.post("/v1/posts", {"account_id": flow.room.account["id"], "body": "x",
                                         "scheduled_at": "2001-01-01T00:00:00Z"}, token=flow.room.author.token)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/scheduled_at"


class TestReview:
    async def test_harmless_post_needs_only_editorial(self, api, flow, newsroom):
        post = await flow.submitted()
        assert post["status"] == "in_review" and post["risk"] in ("none", "info")
        stages = (await api.get(f"/v1/posts/{post['id']}/approvals", token=newsroom.author.token)).json()
        assert [s["name"] for s in stages["stages"]] == ["editorial"]
        # publishers rank above approvers, so they may decide it too
        assert set(stages["stages"][0]["pending_on"]) == {newsroom.editor.id, newsroom.editor2.id,
                                                          newsroom.publisher.id}
        post = await flow.act(post, "approve", newsroom.editor)
        assert post["status"] == "approved" and post["approved_revision"] == 1

    async def test_sensitive_post_needs_both_stages_in_order(self, api, flow, newsroom):
        post = await flow.submitted("产品召回通知: we announce a recall")
        assert post["risk"] == "high"
        view = (await api.get(f"/v1/posts/{post['id']}/approvals", token=newsroom.author.token)).json()
        assert [(s["name"], s["open"]) for s in view["stages"]] == [("editorial", True), ("compliance", False)]
        # compliance cannot jump the queue
        r = await api.post(f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=newsroom.compliance.token)
        assert r.status_code == 409 and r.json()["code"] == "stage-not-reached"
        post = await flow.act(post, "approve", newsroom.editor)
        assert post["status"] == "in_review"
        post = await flow.act(post, "approve", newsroom.compliance)
        assert post["status"] == "approved"
        view = (await api.get(f"/v1/posts/{post['id']}/approvals", token=newsroom.author.token)).json()
        assert [[a["decided_by_id"] for a in s["approved_by"]] for s in view["stages"]] == [
            [newsroom.editor.id], [newsroom.compliance.id]]

    async def test_author_never_approves_own_post(self, api, flow, newsroom):
        both = await api.user()
        await api.grant(both["id"], "approver", account_id=newsroom.account["id"])
        token = await api.token_for(both["id"], scopes=("posts:read", "posts:write"))
        r = await api.post("/v1/posts", {"account_id": newsroom.account["id"], "body": "mine"}, token=token)
        post = r.json()
        post = (await api.post(f"/v1/posts/{post['id']}/submit", token=token)).json()
        r = await api.post(f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=token)
        assert r.status_code == 403 and r.json()["code"] == "self-approval"

    async def test_decision_must_name_its_revision(self, api, flow, newsroom):
        post = await flow.submitted()
        r = await api.post(f"/v1/posts/{post['id']}/approve", token=newsroom.editor.token)
        assert r.status_code == 428 and r.json()["code"] == "precondition-required"
        r = await api.post(f"/v1/posts/{post['id']}/approve", {"revision": 7}, token=newsroom.editor.token)
        assert r.status_code == 412 and r.json()["code"] == "revision-mismatch"
        r = await api.post(f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=newsroom.editor.token)
        assert r.status_code == 200

    async def test_wrong_role_cannot_approve(self, api, flow, newsroom):
        post = await flow.submitted()
        r = await api.post(f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=newsroom.compliance.token)
        assert r.status_code == 403 and r.json()["code"] == "not-an-approver"
        contributor = await api.user()
        await api.grant(contributor["id"], "contributor", account_id=newsroom.account["id"])
        ct = await api.token_for(contributor["id"], scopes=("posts:read", "posts:write"))
        r = await api.post(f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=ct)
        assert r.status_code == 403

    async def test_one_person_decides_one_stage(self, api, flow, newsroom):
        both = await api.user()
        await api.grant(both["id"], "approver", account_id=newsroom.account["id"])
        await api.grant(both["id"], "compliance")
        token = await api.token_for(both["id"], scopes=("posts:read", "posts:write"))
        post = await flow.submitted("a recall")
        post = (await api.post(f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=token)).json()
        assert post["status"] == "in_review"
        r = await api.post(f"/v1/posts/{post['id']}/approve", {"revision": 1}, token=token)
        assert r.status_code == 409 and r.json()["code"] == "already-decided"

    async def test_edit_after_first_approval_voids_and_returns_to_draft(self, api, flow, newsroom):
        post = await flow.submitted("a recall")
        post = await flow.act(post, "approve", newsroom.editor)
        r = await api.patch(f"/v1/posts/{post['id']}", {"body": "a recall, reworded"}, token=newsroom.author.token,
                            **{"If-Match": f'"{post["version"]}"'})
        post = r.json()
        assert post["status"] == "draft" and post["revision"] == 2 and post["approved_revision"] is None
        post = await flow.act(post, "submit", newsroom.author)
        view = (await api.get(f"/v1/posts/{post['id']}/approvals", token=newsroom.author.token)).json()
        assert view["revision"] == 2 and all(s["approved"] == 0 for s in view["stages"])
        # the earlier approval stays in history, bound to revision 1's content
        async def history():
            return (await api.get("/v1/audit", subject_id=post["id"], action="post.approve")).json()["items"]
        [old] = await history()
        assert old["after"]["decided_revision"] == 1

    async def test_reschedule_only_keeps_approvals(self, api, flow, newsroom):
        post = await flow.submitted()
        post = await flow.act(post, "approve", newsroom.editor)
        r = await api.patch(f"/v1/posts/{post['id']}", {"scheduled_at": later(days=2)}, token=newsroom.author.token)
        assert r.status_code == 200
        post = r.json()
        assert post["status"] == "approved" and post["approved_revision"] == 1 and post["revision"] == 1
        post = await flow.act(post, "schedule", newsroom.publisher)
        assert post["status"] == "scheduled"
        r = await api.patch(f"/v1/posts/{post['id']}", {"scheduled_at": later(days=3)}, token=newsroom.publisher.token)
        assert r.json()["status"] == "scheduled"

    async def test_reject_and_request_changes_need_a_comment(self, api, flow, newsroom):
        post = await flow.submitted()
        r = await api.post(f"/v1/posts/{post['id']}/reject", {"revision": 1}, token=newsroom.editor.token)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/comment"
        post = await flow.act(post, "request-changes", newsroom.editor, {"revision": 1, "comment": "tone"})
        assert post["status"] == "changes_requested"
        post = await flow.act(post, "submit", newsroom.author)
        assert post["review_round"] == 2
        # a new round: the editor may decide again
        post = await flow.act(post, "reject", newsroom.editor, {"revision": 1, "comment": "no"})
        assert post["status"] == "rejected"

    async def test_illegal_transition_names_the_allowed_ones(self, api, flow, newsroom):
        post = await flow.draft()
        r = await api.post(f"/v1/posts/{post['id']}/schedule", {"scheduled_at": later(days=1)},
                           token=newsroom.publisher.token)
        body = r.json()
        assert r.status_code == 409 and body["code"] == "invalid-transition"
        assert body["current_status"] == "draft" and body["allowed_transitions"] == ["submit", "withdraw"]


class TestChecks:
    async def test_banned_term_refuses_submit_with_the_finding(self, api, flow, newsroom):
        post = await flow.draft("投资本产品稳赚不赔")
        r = await api.post(f"/v1/posts/{post['id']}/submit", token=newsroom.author.token)
        assert r.status_code == 422
        body = r.json()
        assert body["code"] == "content-blocked" and body["type"].endswith("/content-blocked")
        [finding] = [f for f in body["findings"] if f["kind"] == "banned_term"]
        assert finding["severity"] == "block" and finding["match"] == "稳赚"
        assert finding["span"] == {"start": 5, "end": 7}
        assert (await api.get(f"/v1/posts/{post['id']}", token=newsroom.author.token)).json()["status"] == "draft"

    async def test_label_stage_applies_only_with_the_label(self, api, newsroom, flow):
        legal = await api.user()
        await api.grant(legal["id"], "viewer", account_id=newsroom.account["id"])  # named deciders must see it
        token = await api.token_for(legal["id"], scopes=("posts:read", "posts:write"))
        await api.ok("PUT", f"/v1/approval-policies/{newsroom.policy['id']}", {
            "name": newsroom.policy["name"], "stages": [
                {"name": "editorial", "role": "approver", "min_approvals": 1, "when": "always"},
                {"name": "legal", "approvers": [legal["id"]], "mode": "any", "when": "label:contest"}]}, status=200)
        plain = await flow.submitted()
        assert [s["name"] for s in (await api.get(f"/v1/posts/{plain['id']}/approvals",
                                                  token=newsroom.author.token)).json()["stages"]] == ["editorial"]
        post = await flow.draft("Win a prize", labels=["contest"])
        post = await flow.act(post, "submit", newsroom.author)
        post = await flow.act(post, "approve", newsroom.editor)
        from tests.support.posts import Person
        post = await flow.act(post, "approve", Person(legal["id"], token))
        assert post["status"] == "approved"


class TestScheduling:
    async def test_schedule_unschedule(self, api, flow, newsroom):
        post = await flow.submitted()
        post = await flow.act(post, "approve", newsroom.editor)
        r = await api.post(f"/v1/posts/{post['id']}/schedule", {"scheduled_at": "2001-01-01T00:00:00Z"},
                           token=newsroom.publisher.token)
        assert r.status_code == 422
        r = await api.post(f"/v1/posts/{post['id']}/schedule", {"scheduled_at": later(hours=1)},
                           token=newsroom.author.token)
        assert r.status_code == 403  # contributors do not schedule
        post = await flow.act(post, "schedule", newsroom.publisher, {"scheduled_at": later(hours=1)})
        post = await flow.act(post, "unschedule", newsroom.publisher)
        assert post["status"] == "approved"

    async def test_missed_schedule_is_flagged_and_never_scheduled(self, api, flow, newsroom, session):
        from app.posts import service
        from app.security import SYSTEM

        post = await flow.draft(scheduled_at=later(hours=1))
        post = await flow.act(post, "submit", newsroom.author)
        await session.execute(text("UPDATE posts SET scheduled_at = now() - interval '1 minute' WHERE id = :i"),
                              {"i": post["id"]})
        await session.commit()
        got = (await api.get(f"/v1/posts/{post['id']}", token=newsroom.author.token)).json()
        assert got["missed_schedule"] is True and got["status"] == "in_review"
        listed = (await api.get("/v1/posts", token=newsroom.author.token, missed_schedule="true")).json()["items"]
        assert [p["id"] for p in listed] == [post["id"]]
        assert await service.flag_missed_schedules(session, SYSTEM) == 1
        await session.commit()
        got = (await api.get(f"/v1/posts/{post['id']}", token=newsroom.author.token)).json()
        got = await flow.act(got, "approve", newsroom.editor)
        assert got["status"] == "approved" and got["missed_schedule"] is True  # not scheduled on its own
        r = await api.post(f"/v1/posts/{post['id']}/schedule", token=newsroom.publisher.token)
        assert r.status_code == 422  # its old slot is in the past: a new time is needed


class TestListAndAudit:
    async def test_filters(self, api, flow, newsroom):
        a = await flow.draft("one", labels=["spring"])
        b = await flow.submitted("two")
        t = newsroom.author.token
        ids = lambda r: [p["id"] for p in r.json()["items"]]  # noqa: E731
        assert ids(await api.get("/v1/posts", token=t, status="in_review")) == [b["id"]]
        assert ids(await api.get("/v1/posts", token=t, label="spring")) == [a["id"]]
        assert set(ids(await api.get("/v1/posts", token=t, author_id=newsroom.author.id))) == {a["id"], b["id"]}
        assert ids(await api.get("/v1/posts", token=newsroom.outsider.token)) == []

    async def test_every_transition_and_decision_is_audited(self, api, flow, newsroom):
        post = await flow.submitted("a recall")
        post = await flow.act(post, "approve", newsroom.editor)
        post = await flow.act(post, "approve", newsroom.compliance)
        records = (await api.get("/v1/audit", subject_id=post["id"])).json()["items"]
        assert [(r["action"], r["actor_id"]) for r in records] == [
            ("post.created", newsroom.author.id), ("post.submitted", newsroom.author.id),
            ("post.approve", newsroom.editor.id), ("post.approve", newsroom.compliance.id)]
        assert records[2]["after"]["stage"] == "editorial" and records[3]["after"]["decided_revision"] == 1


class TestEditEdges:
    async def test_nulls_clear_media_and_labels_but_not_body(self, api, flow, newsroom):
        post = await flow.draft(media=["https://cdn.acme.com/a.png"], labels=["x"])
        t = newsroom.author.token
        r = await api.patch(f"/v1/posts/{post['id']}", {"media": None, "labels": None}, token=t)
        assert r.status_code == 200 and r.json()["media"] == [] and r.json()["labels"] == []
        r = await api.patch(f"/v1/posts/{post['id']}", {"body": None}, token=t)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/body"
        r = await api.patch(f"/v1/posts/{post['id']}", {}, token=t)
        assert r.status_code == 200 and r.json()["revision"] == 2

    async def test_withdrawn_is_final(self, api, flow, newsroom):
        post = await flow.draft()
        post = await flow.act(post, "withdraw", newsroom.author)
        assert post["status"] == "withdrawn" and post["allowed_transitions"] == []
        r = await api.patch(f"/v1/posts/{post['id']}", {"body": "again"}, token=newsroom.author.token)
        assert r.status_code == 409 and r.json()["code"] == "invalid-transition"
