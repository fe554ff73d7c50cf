"""Posts over GraphQL: queries (same visibility as REST) and mutations (results as unions)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

POST = """
query($id: UUID!) {
  post(id: $id) {
    id accountId authorId status version revision body labels contentHash allowedTransitions missedSchedule
    currentRevision { number risk findings { kind severity match span { start end } } }
    revisions { number body contentHash }
    approvals {
      postId status revision reviewRound submitted risk policyId
      stages { index name role minApprovals required approved complete open
               approvedBy { decidedById decidedAt stageName decision } pendingOn }
      decisions { decidedById decision stageName comment }
    }
  }
}
"""


def later(**kw) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat()


class TestQueries:
    async def test_post_reads_what_rest_reads(self, api, gql, flow, newsroom):
        post = await flow.submitted("产品召回通知: a recall")
        post = await flow.act(post, "approve", newsroom.editor)
        got = (await gql.data(POST, {"id": post["id"]}, token=newsroom.author.token))["post"]
        rest = post
        assert (got["status"], got["version"], got["revision"], got["contentHash"], got["allowedTransitions"]) == (
            rest["status"], rest["version"], rest["revision"], rest["content_hash"], rest["allowed_transitions"])
        assert got["currentRevision"]["risk"] == "high"
        assert {(f["kind"], f["match"]) for f in got["currentRevision"]["findings"]} >= {("sensitive_term", "召回")}
        assert [r["number"] for r in got["revisions"]] == [1]
        view = (await api.get(f"/v1/posts/{post['id']}/approvals", token=newsroom.author.token)).json()
        stages = got["approvals"]["stages"]
        assert [(s["name"], s["open"], s["complete"], s["approved"]) for s in stages] == [
            (s["name"], s["open"], s["complete"], s["approved"]) for s in view["stages"]]
        assert [[a["decidedById"] for a in s["approvedBy"]] for s in stages] == [[newsroom.editor.id], []]
        assert [set(s["pendingOn"]) for s in stages] == [set(s["pending_on"]) for s in view["stages"]]
        assert newsroom.compliance.id in stages[1]["pendingOn"]
        assert [d["decision"] for d in got["approvals"]["decisions"]] == ["approve"]

    async def test_what_you_cannot_see_is_not_found(self, gql, flow, newsroom):
        post = await flow.draft()
        body = await gql(POST, {"id": post["id"]}, token=newsroom.outsider.token)
        assert body["data"] == {"post": None}
        assert body["errors"][0]["extensions"]["code"] == "post-not-found"
        listed = await gql.data("{ posts { items { id } nextCursor } }", token=newsroom.outsider.token)
        assert listed["posts"] == {"items": [], "nextCursor": None}

    async def test_filters_and_pages(self, gql, flow, newsroom):
        a = await flow.draft("one", labels=["Spring"])
        b = await flow.submitted("two")
        c = await flow.draft("three")
        q = "query($f: PostFilter, $first: Int, $after: String) { posts(filter: $f, first: $first, after: $after) " \
            "{ items { id } nextCursor } }"
        t = newsroom.author.token

        async def ids(**variables):
            page = (await gql.data(q, variables, token=t))["posts"]
            return [p["id"] for p in page["items"]], page["nextCursor"]

        first, cursor = await ids(first=2)
        assert len(first) == 2 and cursor  # one transaction here: equal created_at, ids break the tie
        rest, end = await ids(first=2, after=cursor)
        assert len(rest) == 1 and end is None and set(first + rest) == {a["id"], b["id"], c["id"]}
        assert (await ids(f={"status": ["in_review"]}))[0] == [b["id"]]
        assert (await ids(f={"label": "SPRING"}))[0] == [a["id"]]
        assert (await ids(f={"authorId": newsroom.editor.id}))[0] == []
        body = await gql(q, {"first": 0}, token=t)
        assert body["errors"][0]["extensions"]["code"] == "validation-error"
        body = await gql(q, {"after": "nope"}, token=t)
        assert body["errors"][0]["extensions"]["code"] == "validation-error"

    async def test_scopes_as_rest(self, api, gql, newsroom):
        token = await api.token_for(newsroom.author.id, scopes=("access:read",))
        body = await gql("{ posts { items { id } } }", token=token)
        assert body["errors"][0]["extensions"]["code"] == "insufficient-scope"


class TestMutations:
    async def test_the_whole_workflow(self, gql, newsroom):
        made = await gql.mutate("createPost", {"accountId": newsroom.account["id"], "body": "Hello",
                                               "labels": ["Spring"], "link": "https://acme.com"},
                                token=newsroom.author.token)
        post = made["post"]
        assert (post["status"], post["revision"], post["allowedTransitions"]) == ("draft", 1, ["submit", "withdraw"])
        pid = post["id"]
        post = (await gql.mutate("submitPost", {"postId": pid, "expectedVersion": post["version"]},
                                 token=newsroom.author.token))["post"]
        assert post["status"] == "in_review"
        post = (await gql.mutate("approvePost", {"postId": pid, "revision": 1, "comment": "fine"},
                                 token=newsroom.editor.token))["post"]
        assert (post["status"], post["approvedRevision"]) == ("approved", 1)
        post = (await gql.mutate("schedulePost", {"postId": pid, "scheduledAt": later(hours=2)},
                                 token=newsroom.publisher.token))["post"]
        assert post["status"] == "scheduled"
        post = (await gql.mutate("unschedulePost", {"postId": pid}, token=newsroom.publisher.token))["post"]
        assert post["status"] == "approved"
        post = (await gql.mutate("withdrawPost", {"postId": pid, "comment": "cancelled"},
                                 token=newsroom.author.token))["post"]
        assert (post["status"], post["allowedTransitions"]) == ("withdrawn", [])

    async def test_edit_makes_revisions_and_keeps_absent_fields(self, api, gql, flow, newsroom):
        post = await flow.draft("v1", link="https://acme.com/a", labels=["x"])
        fields = "... on PostPayload { post { version revision status body link labels revisions { number body } } }"
        got = (await gql.mutate("editPost", {"postId": post["id"], "body": "v2", "expectedVersion": post["version"]},
                                token=newsroom.author.token, fields=fields))["post"]
        assert (got["revision"], got["body"], got["link"], got["labels"]) == (2, "v2", "https://acme.com/a", ["x"])
        assert [(r["number"], r["body"]) for r in got["revisions"]] == [(1, "v1"), (2, "v2")]
        got = (await gql.mutate("editPost", {"postId": post["id"], "link": None}, token=newsroom.author.token,
                                fields=fields))["post"]
        assert (got["revision"], got["link"]) == (3, None)
        rest = (await api.get(f"/v1/posts/{post['id']}/revisions", token=newsroom.author.token)).json()
        assert [r["number"] for r in rest] == [1, 2, 3]

    async def test_problems_carry_rest_codes_and_point_at_graphql_fields(self, gql, flow, newsroom):
        made = await gql.mutate("createPost", {"accountId": newsroom.account["id"], "body": "x",
                                               "scheduledAt": "2001-01-01T00:00:00Z"}, token=newsroom.author.token)
        assert (made["__typename"], made["code"], made["status"], made["pointer"]) == (
            "Problem", "schedule-invalid", 422, "#/scheduledAt")
        made = await gql.mutate("createPost", {"accountId": newsroom.account["id"], "body": "x", "link": "nope"},
                                token=newsroom.author.token)
        assert (made["code"], made["status"], made["errors"][0]["pointer"]) == ("validation-error", 422, "#/link")
        post = await flow.submitted()
        got = await gql.mutate("approvePost", {"postId": post["id"], "expectedVersion": post["version"] - 1},
                               token=newsroom.editor.token)
        assert (got["code"], got["status"], got["currentVersion"], got["pointer"]) == (
            "precondition-failed", 412, post["version"], "#/expectedVersion")
        got = await gql.mutate("rejectPost", {"postId": post["id"], "revision": 1, "comment": " "},
                               token=newsroom.editor.token)
        assert (got["code"], got["errors"][0]["pointer"]) == ("validation-error", "#/comment")
        draft = await flow.draft()
        got = await gql.mutate("schedulePost", {"postId": draft["id"], "scheduledAt": later(days=1)},
                               token=newsroom.publisher.token)
        assert (got["code"], got["currentStatus"], got["allowedTransitions"]) == (
            "invalid-transition", "draft", ["submit", "withdraw"])

    async def test_blocked_content_lists_the_findings(self, gql, flow, newsroom):
        post = await flow.draft("投资本产品稳赚不赔")
        got = await gql.mutate("submitPost", {"postId": post["id"]}, token=newsroom.author.token)
        assert (got["code"], got["status"]) == ("content-blocked", 422)
        [finding] = [f for f in got["findings"] if f["kind"] == "banned_term"]
        assert (finding["severity"], finding["match"], finding["span"]) == ("block", "稳赚", {"start": 5, "end": 7})

    async def test_insufficient_scope_is_a_problem(self, api, gql, newsroom):
        token = await api.token_for(newsroom.author.id, scopes=("posts:read",))
        got = await gql.mutate("createPost", {"accountId": newsroom.account["id"], "body": "x"}, token=token)
        assert (got["code"], got["status"], got["requiredScopes"]) == ("insufficient-scope", 403, ["posts:write"])

    async def test_no_token_is_a_top_level_error(self, gql, newsroom):
        body = await gql("mutation($i: CreatePostInput!) { createPost(input: $i) { __typename } }",
                         {"i": {"accountId": newsroom.account["id"], "body": "x"}}, token="")
        assert body["data"] == {"createPost": None}
        assert body["errors"][0]["extensions"]["code"] == "unauthenticated"

    async def test_comment_is_required_by_the_schema(self, gql, flow, newsroom):
        post = await flow.submitted()
        body = await gql("mutation { rejectPost(input: {postId: \"%s\", revision: 1}) { __typename } }" % post["id"],
                         token=newsroom.editor.token)
        assert body["data"] is None and "comment" in body["errors"][0]["message"]
