"""Each post use case run over REST and over GraphQL: the same outcome, the same error code.

Every step runs on twin posts brought to the same state over REST: REST drives one twin,
GraphQL the other, and the normalised outcomes must be equal.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta


from tests.support.posts import Person
from tests.support.parity import POST_KEYS, Both, both, camel, from_graphql, from_rest  # noqa: F401


def later(**kw) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat()


async def fresh(twins: tuple[dict, dict], api, token: str) -> tuple[dict, dict]:
    return tuple([(await api.get(f"/v1/posts/{p['id']}", token=token)).json() for p in twins])  # type: ignore


class TestCreate:
    async def test_create(self, both, newsroom):
        out = await both.create(newsroom.author, account_id=newsroom.account["id"], body="Hello", labels=["Spring"])
        assert out["status"] == "draft" and out["allowed_transitions"] == ["submit", "withdraw"]

    async def test_past_schedule(self, both, newsroom):
        out = await both.create(newsroom.author, account_id=newsroom.account["id"], body="x",
                                scheduled_at="2001-01-01T00:00:00Z")
        assert (out["outcome"], out["code"]) == (422, "schedule-invalid")

    async def test_who_may_write(self, both, newsroom, api):
        out = await both.create(newsroom.outsider, account_id=newsroom.account["id"], body="x")
        assert (out["outcome"], out["code"]) == (404, "not-found")
        viewer = await api.user()
        await api.grant(viewer["id"], "viewer", account_id=newsroom.account["id"])
        token = await api.token_for(viewer["id"], scopes=("posts:read", "posts:write"))
        out = await both.create(Person(viewer["id"], token), account_id=newsroom.account["id"], body="x")
        assert (out["outcome"], out["code"]) == (403, "post-action-forbidden")


class TestSubmit:
    async def test_submit(self, both, flow, newsroom):
        out = await both.step("submit", await both.twins(flow.draft), newsroom.author)
        assert out["status"] == "in_review" and out["review_round"] == 1

    async def test_stale_version(self, both, flow, newsroom):
        out = await both.step("submit", await both.twins(flow.draft), newsroom.author, version=-1)
        assert (out["outcome"], out["code"]) == (412, "precondition-failed")

    async def test_banned_content_is_blocked_with_the_finding(self, both, flow, newsroom):
        twins = await both.twins(lambda: flow.draft("投资本产品稳赚不赔"))
        out = await both.step("submit", twins, newsroom.author)
        assert (out["outcome"], out["code"]) == (422, "content-blocked")
        assert ("banned_term", "block", "稳赚", (5, 7)) in out["findings"]
        assert [p["status"] for p in await fresh(twins, flow.api, newsroom.author.token)] == ["draft", "draft"]


class TestApprove:
    async def test_approve(self, both, flow, newsroom):
        out = await both.step("approve", await both.twins(flow.submitted), newsroom.editor)
        assert out["status"] == "approved" and out["approved_revision"] == 1

    async def test_approve_by_revision(self, both, flow, newsroom):
        out = await both.step("approve", await both.twins(flow.submitted), newsroom.editor, version=None, revision=1)
        assert out["status"] == "approved"

    async def test_stale_version(self, both, flow, newsroom):
        out = await both.step("approve", await both.twins(flow.submitted), newsroom.editor, version=-1)
        assert (out["outcome"], out["code"]) == (412, "precondition-failed")

    async def test_neither_version_nor_revision(self, both, flow, newsroom):
        out = await both.step("approve", await both.twins(flow.submitted), newsroom.editor, version=None)
        assert (out["outcome"], out["code"]) == (428, "precondition-required")

    async def test_other_revision(self, both, flow, newsroom):
        out = await both.step("approve", await both.twins(flow.submitted), newsroom.editor, version=None, revision=7)
        assert (out["outcome"], out["code"]) == (412, "revision-mismatch")

    async def test_self_approval(self, both, api, newsroom):
        both_roles = await api.user()
        await api.grant(both_roles["id"], "approver", account_id=newsroom.account["id"])
        me = Person(both_roles["id"], await api.token_for(both_roles["id"], scopes=("posts:read", "posts:write")))

        async def mine():
            post = await both.flow.draft("mine", by=me)
            return await both.flow.act(post, "submit", me)

        out = await both.step("approve", await both.twins(mine), me)
        assert (out["outcome"], out["code"]) == (403, "self-approval")

    async def test_wrong_role(self, both, flow, newsroom):
        out = await both.step("approve", await both.twins(flow.submitted), newsroom.compliance)
        assert (out["outcome"], out["code"]) == (403, "not-an-approver")

    async def test_stage_not_reached(self, both, flow, newsroom):
        twins = await both.twins(lambda: flow.submitted("a product recall"))
        out = await both.step("approve", twins, newsroom.compliance)
        assert (out["outcome"], out["code"]) == (409, "stage-not-reached")

    async def test_one_person_one_stage(self, both, flow, api, newsroom):
        two_hats = await api.user()
        await api.grant(two_hats["id"], "approver", account_id=newsroom.account["id"])
        await api.grant(two_hats["id"], "compliance")
        who = Person(two_hats["id"], await api.token_for(two_hats["id"], scopes=("posts:read", "posts:write")))
        twins = await both.twins(lambda: flow.submitted("a product recall"))
        assert (await both.step("approve", twins, who))["status"] == "in_review"
        twins = await fresh(twins, api, newsroom.author.token)
        out = await both.step("approve", twins, who)
        assert (out["outcome"], out["code"]) == (409, "already-decided")


class TestRejectAndRequestChanges:
    async def test_reject(self, both, flow, newsroom):
        out = await both.step("reject", await both.twins(flow.submitted), newsroom.editor, comment="off-brand")
        assert out["status"] == "rejected"

    async def test_reject_needs_a_comment(self, both, flow, newsroom):
        out = await both.step("reject", await both.twins(flow.submitted), newsroom.editor, comment="   ")
        assert (out["outcome"], out["code"]) == (422, "validation-error")

    async def test_request_changes(self, both, flow, newsroom):
        out = await both.step("request_changes", await both.twins(flow.submitted), newsroom.editor, comment="tone")
        assert out["status"] == "changes_requested" and out["allowed_transitions"] == ["submit", "withdraw"]


class TestTransitions:
    async def test_illegal_transition_names_the_allowed_ones(self, both, flow, newsroom):
        out = await both.step("schedule", await both.twins(flow.draft), newsroom.publisher, scheduled_at=later(days=1))
        assert (out["outcome"], out["code"]) == (409, "invalid-transition")
        assert out["current_status"] == "draft" and out["allowed_transitions"] == ["submit", "withdraw"]

    async def test_schedule_unschedule_withdraw(self, both, flow, newsroom, api):
        async def approved():
            return await flow.act(await flow.submitted(), "approve", newsroom.editor)

        twins = await both.twins(approved)
        out = await both.step("schedule", twins, newsroom.author, scheduled_at=later(hours=1))
        assert (out["outcome"], out["code"]) == (403, "post-action-forbidden")
        out = await both.step("schedule", twins, newsroom.publisher, scheduled_at="2001-01-01T00:00:00Z")
        assert (out["outcome"], out["code"]) == (422, "schedule-invalid")
        assert (await both.step("schedule", twins, newsroom.publisher, scheduled_at=later(hours=1)))["status"] \
            == "scheduled"
        twins = await fresh(twins, api, newsroom.author.token)
        assert (await both.step("unschedule", twins, newsroom.publisher))["status"] == "approved"
        twins = await fresh(twins, api, newsroom.author.token)
        assert (await both.step("withdraw", twins, newsroom.author, comment="not now"))["status"] == "withdrawn"
        twins = await fresh(twins, api, newsroom.author.token)
        out = await both.step("withdraw", twins, newsroom.author)
        assert (out["outcome"], out["code"], out["allowed_transitions"]) == (409, "invalid-transition", [])


class TestEdit:
    async def _edit(self, both, twins, by, version="current", **changes):
        rest_post, gql_post = twins
        offset = 0 if version == "current" else version
        headers = {} if version is None else {"If-Match": f'"{rest_post["version"] + offset}"'}
        r = await both.api.patch(f"/v1/posts/{rest_post['id']}", changes, token=by.token, **headers)
        rest = {"outcome": "ok", **{k: r.json()[k] for k in POST_KEYS}} if r.status_code < 400 else from_rest(r)
        payload = {"postId": gql_post["id"], **{camel(k): v for k, v in changes.items()}}
        if version is not None:
            payload["expectedVersion"] = gql_post["version"] + offset
        graphql = from_graphql(await both.gql.mutate("editPost", payload, token=by.token))
        assert rest == graphql, ("edit", rest, graphql)
        return rest

    async def test_edit_after_an_approval_voids_it(self, both, flow, newsroom):
        async def half_approved():
            return await flow.act(await flow.submitted("a recall"), "approve", newsroom.editor)

        twins = await both.twins(half_approved)
        assert twins[0]["status"] == "in_review"  # compliance still to decide
        out = await self._edit(both, twins, newsroom.author, body="a recall, reworded")
        assert (out["status"], out["revision"], out["approved_revision"]) == ("draft", 2, None)

    async def test_null_clears_media_and_labels_but_not_the_body(self, both, flow, newsroom):
        twins = await both.twins(lambda: flow.draft("v1", labels=["spring"], media=["https://acme.com/a.png"]))
        out = await self._edit(both, twins, newsroom.author, media=None, labels=None)
        assert (out["revision"], out["status"]) == (2, "draft")
        twins = await fresh(twins, flow.api, newsroom.author.token)
        assert [(p["media"], p["labels"]) for p in twins] == [([], []), ([], [])]
        out = await self._edit(both, twins, newsroom.author, body=None)
        assert (out["outcome"], out["code"]) == (422, "validation-error")

    async def test_stale_version_and_forbidden(self, both, flow, newsroom):
        twins = await both.twins(flow.draft)
        out = await self._edit(both, twins, newsroom.author, version=-1, body="lost?")
        assert (out["outcome"], out["code"]) == (412, "precondition-failed")
        out = await self._edit(both, twins, newsroom.editor, body="hijack")
        assert (out["outcome"], out["code"]) == (403, "post-action-forbidden")
