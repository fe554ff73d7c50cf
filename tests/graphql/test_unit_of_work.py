"""One unit of work per mutation: a failed mutation leaves nothing behind, even though the
GraphQL answer is a 200 that the request's unit of work commits."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from app.errors import Conflict
from tests.support.graphql import POST_FIELDS, Gql
from tests.support.posts import person
from tests.support.faults import fail_audit  # noqa: F401

TWO = f"""
mutation($a: CreatePostInput!, $b: CreatePostInput!) {{
  a: createPost(input: $a) {{ {POST_FIELDS} }}
  b: createPost(input: $b) {{ {POST_FIELDS} }}
}}
"""


async def count(session, sql: str, **params) -> int:
    return (await session.execute(text(sql), params)).scalar_one()


class TestFailedMutationLeavesNothing:
    async def test_expected_error_after_the_writes(self, gql, newsroom, session, monkeypatch):
        fail_audit(monkeypatch, "post.created", Conflict("refused after the insert"))
        got = await gql.mutate("createPost", {"accountId": newsroom.account["id"], "body": "ghost"},
                               token=newsroom.author.token)
        assert (got["__typename"], got["code"], got["status"]) == ("Problem", "conflict", 409)
        assert await count(session, "SELECT count(*) FROM posts WHERE author_id = :a", a=newsroom.author.id) == 0
        assert await count(session, "SELECT count(*) FROM post_revisions WHERE body = 'ghost'") == 0

    async def test_unexpected_error_is_masked_and_rolled_back(self, gql, newsroom, session, monkeypatch):
        fail_audit(monkeypatch, "post.created", RuntimeError("secret internals"))
        body = await gql(f"mutation($i: CreatePostInput!) {{ createPost(input: $i) {{ {POST_FIELDS} }} }}",
                         {"i": {"accountId": newsroom.account["id"], "body": "ghost"}}, token=newsroom.author.token)
        assert body["data"] == {"createPost": None}
        [error] = body["errors"]
        assert error["message"] == "Internal server error" and error["extensions"]["code"] == "internal-error"
        assert "secret" not in str(body)
        assert await count(session, "SELECT count(*) FROM posts WHERE author_id = :a", a=newsroom.author.id) == 0

    async def test_a_failed_decision_keeps_no_approval(self, gql, flow, newsroom, session, monkeypatch):
        post = await flow.submitted()
        fail_audit(monkeypatch, "post.approve", Conflict("refused after the decision was stored"))
        got = await gql.mutate("approvePost", {"postId": post["id"], "revision": 1}, token=newsroom.editor.token)
        assert got["code"] == "conflict"
        assert await count(session, "SELECT count(*) FROM approvals WHERE post_id = :p", p=post["id"]) == 0
        row = (await session.execute(text("SELECT status, version FROM posts WHERE id = :p"),
                                     {"p": post["id"]})).one()
        assert tuple(row) == ("in_review", post["version"])
        monkeypatch.undo()
        got = await gql.mutate("approvePost", {"postId": post["id"], "revision": 1}, token=newsroom.editor.token)
        assert got["post"]["status"] == "approved"  # the failed attempt left no "already decided" behind


class TestTwoMutationsInOneDocument:
    async def test_second_fails_first_stays(self, gql, newsroom, session, monkeypatch):
        fail_audit(monkeypatch, "post.created", Conflict("no"), when=lambda after: after.get("labels") == ["second"])
        account = newsroom.account["id"]
        data = await gql.data(TWO, {"a": {"accountId": account, "body": "first", "labels": ["first"]},
                                    "b": {"accountId": account, "body": "second", "labels": ["second"]}},
                              token=newsroom.author.token)
        assert data["a"]["__typename"] == "PostPayload" and data["b"]["code"] == "conflict"
        rows = (await session.execute(text("SELECT body FROM post_revisions r JOIN posts p ON p.id = r.post_id "
                                           "WHERE p.author_id = :a"), {"a": newsroom.author.id})).scalars().all()
        assert rows == ["first"]

    async def test_a_mutation_reads_its_own_uncommitted_work(self, gql, flow, newsroom):
        post = await flow.submitted("a recall")
        fields = """... on PostPayload { post { status version revisions { number }
                     approvals { stages { name approved open } decisions { decidedById } } } }
                    ... on Error { code }"""
        data = await gql.data(f"""mutation($e: ApprovePostInput!, $c: ApprovePostInput!) {{
            e: approvePost(input: $e) {{ {fields} }}
            c: approvePost(input: $c) {{ {fields} }} }}""",
                              {"e": {"postId": post["id"], "revision": 1}, "c": {"postId": post["id"], "revision": 1}},
                              token=newsroom.editor.token)
        # Same principal twice: the second is refused, the first one's work is what both read.
        assert data["e"]["post"]["approvals"]["stages"] == [
            {"name": "editorial", "approved": 1, "open": False}, {"name": "compliance", "approved": 0, "open": True}]
        assert data["c"] == {"code": "already-decided"}


@pytest.mark.committed
async def test_committed_for_real_only_what_succeeded(committed, monkeypatch):
    api = committed.api
    brand = await api.brand()
    account = await api.account(brand["id"])
    author = await person(api, "contributor", account_id=account["id"])
    fail_audit(monkeypatch, "post.created", Conflict("no"), when=lambda after: after.get("labels") == ["second"])
    data = await Gql(committed.client, author.token).data(TWO, {
        "a": {"accountId": account["id"], "body": "first", "labels": ["first"]},
        "b": {"accountId": account["id"], "body": "second", "labels": ["second"]}})
    assert data["a"]["__typename"] == "PostPayload" and data["b"]["__typename"] == "Problem"
    async with committed.maker() as s:  # another connection: only committed rows are visible
        labels = (await s.execute(text("SELECT labels FROM posts WHERE author_id = :a"),
                                  {"a": author.id})).scalars().all()
        actions = (await s.execute(text("SELECT action FROM audit_records WHERE actor_id = :a"),
                                   {"a": author.id})).scalars().all()
    assert labels == [["first"]] and actions == ["post.created"]
