"""idempotencyKey on declareCrisis and createPost: replay, mismatch, stored and unstored
answers, per-principal scope, key syntax, the refused header; in-flight, real races and the
transaction of the stored answer in the committed tier."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from app.errors import PROBLEM_JSON
from app.idempotency import lock_id
from tests.support.graphql import POST_FIELDS, Gql
from tests.support.faults import fail_audit
from tests.support.posts import person
from tests.support.publishing import crisis_lead

PROBLEM = "... on Error { code message status } ... on Problem { pointer }"
DECLARE = f"""mutation($input: DeclareCrisisInput!, $key: String) {{
  declareCrisis(input: $input, idempotencyKey: $key) {{
    __typename ... on DeclareCrisisPayload {{ inFlightPublished crisis {{ id status reason pausedCount }} }} {PROBLEM}
  }} }}"""
CREATE = f"""mutation($input: CreatePostInput!, $key: String) {{
  createPost(input: $input, idempotencyKey: $key) {{ {POST_FIELDS} }} }}"""


def key() -> str:
    return f"g-{uuid.uuid4()}"


async def keyed(gql: Gql, document: str, input: dict, idempotency_key: str | None, token: str) -> tuple[dict, list]:
    """One keyed mutation: its result and the response's extensions.idempotentReplayed."""
    body = await gql(document, {"input": input, "key": idempotency_key}, token=token)
    assert not body.get("errors"), body["errors"]
    [result] = body["data"].values()
    return result, (body.get("extensions") or {}).get("idempotentReplayed", [])


def declaration(**kw) -> dict:
    return {"scope": {"organization": True}, "reason": f"recall {uuid.uuid4().hex[:6]}", "severity": 3, **kw}


async def count(session, sql: str, **params) -> int:
    return (await session.execute(text(sql), params)).scalar_one()


async def principal_key(api, token: str) -> str:
    me = (await api.get("/v1/me", token=token)).json()
    return f"{me['kind']}:{me['id']}"


class TestReplay:
    async def test_declare_twice_is_one_crisis(self, api, gql, session):
        lead, k, body = await crisis_lead(api), key(), declaration()
        first, marked = await keyed(gql, DECLARE, body, k, lead.token)
        assert first["__typename"] == "DeclareCrisisPayload" and marked == []
        again, marked = await keyed(gql, DECLARE, body, k, lead.token)
        assert again == first and marked == ["declareCrisis"]
        assert await count(session, "SELECT count(*) FROM crises WHERE reason = :r", r=body["reason"]) == 1

    async def test_create_twice_is_one_post(self, gql, newsroom, session):
        k, body = key(), {"accountId": newsroom.account["id"], "body": "Hello", "labels": ["Spring"]}
        first, marked = await keyed(gql, CREATE, body, k, newsroom.author.token)
        assert first["__typename"] == "PostPayload" and marked == []
        again, marked = await keyed(gql, CREATE, body, k, newsroom.author.token)
        assert again == first and marked == ["createPost"]
        assert await count(session, "SELECT count(*) FROM posts WHERE author_id = :a", a=newsroom.author.id) == 1
        assert await count(session, "SELECT count(*) FROM audit_records WHERE actor_id = :a "
                                    "AND action = 'post.created'", a=newsroom.author.id) == 1

    async def test_a_replay_reads_the_object_as_it_is_now(self, api, gql, newsroom):
        k, body = key(), {"accountId": newsroom.account["id"], "body": "v1"}
        first, _ = await keyed(gql, CREATE, body, k, newsroom.author.token)
        post = first["post"]
        r = await api.post(f"/v1/posts/{post['id']}/submit", token=newsroom.author.token)
        assert r.status_code == 200, r.text
        again, marked = await keyed(gql, CREATE, body, k, newsroom.author.token)
        assert marked == ["createPost"]
        assert (again["post"]["id"], again["post"]["status"]) == (post["id"], "in_review")

    async def test_literals_variables_and_defaults_are_the_same_input(self, gql, newsroom, session):
        k, account = key(), newsroom.account["id"]
        first, _ = await keyed(gql, CREATE, {"accountId": account, "body": "same"}, k, newsroom.author.token)
        inline = await gql(f"""mutation {{ createPost(idempotencyKey: "{k}",
            input: {{body: "same", accountId: "{account}", labels: [], media: [], link: null}}) {{
              {POST_FIELDS} }} }}""", token=newsroom.author.token)
        assert inline["data"]["createPost"] == first and inline["extensions"]["idempotentReplayed"] == ["createPost"]
        assert await count(session, "SELECT count(*) FROM posts WHERE author_id = :a", a=newsroom.author.id) == 1

    async def test_one_key_twice_in_one_document(self, gql, newsroom, session):
        k, body = key(), {"accountId": newsroom.account["id"], "body": "twice"}
        out = await gql(f"""mutation($i: CreatePostInput!, $k: String) {{
            a: createPost(input: $i, idempotencyKey: $k) {{ {POST_FIELDS} }}
            b: createPost(input: $i, idempotencyKey: $k) {{ {POST_FIELDS} }} }}""", {"i": body, "k": k},
                        token=newsroom.author.token)
        assert out["data"]["a"]["post"]["id"] == out["data"]["b"]["post"]["id"]
        assert out["extensions"] == {"idempotentReplayed": ["b"]}
        assert await count(session, "SELECT count(*) FROM posts WHERE author_id = :a", a=newsroom.author.id) == 1

    async def test_without_a_key_each_call_is_new(self, gql, newsroom):
        body = {"accountId": newsroom.account["id"], "body": "no key"}
        a, marked = await keyed(gql, CREATE, body, None, newsroom.author.token)
        b, _ = await keyed(gql, CREATE, body, None, newsroom.author.token)
        assert a["post"]["id"] != b["post"]["id"] and marked == []


class TestMismatch:
    async def test_other_input_same_key_is_reused(self, api, gql, session):
        lead, k = await crisis_lead(api), key()
        first, _ = await keyed(gql, DECLARE, declaration(), k, lead.token)
        other = declaration()
        got, marked = await keyed(gql, DECLARE, other, k, lead.token)
        assert (got["__typename"], got["code"], got["status"], got["pointer"]) == (
            "Problem", "idempotency-key-reused", 422, "#/idempotencyKey")
        assert marked == []
        assert await count(session, "SELECT count(*) FROM crises WHERE reason = :r", r=other["reason"]) == 0
        again, _ = await keyed(gql, DECLARE, declaration(reason=first["crisis"]["reason"]), k, lead.token)
        assert again["crisis"]["id"] == first["crisis"]["id"]  # the key still answers its own request

    async def test_same_key_on_another_mutation_is_reused(self, api, gql, newsroom):
        lead, k = await crisis_lead(api), key()
        await api.grant(lead.id, "contributor", account_id=newsroom.account["id"])
        made, _ = await keyed(gql, CREATE, {"accountId": newsroom.account["id"], "body": "x"}, k, lead.token)
        assert made["__typename"] == "PostPayload"
        got, _ = await keyed(gql, DECLARE, declaration(), k, lead.token)
        assert (got["code"], got["status"]) == ("idempotency-key-reused", 422)

    async def test_rest_and_graphql_share_one_key_space(self, api, gql, newsroom, session):
        k, body = key(), {"account_id": newsroom.account["id"], "body": "over REST"}
        r = await api.post("/v1/posts", body, token=newsroom.author.token, **{"Idempotency-Key": k})
        assert r.status_code == 201
        got, _ = await keyed(gql, CREATE, {"accountId": body["account_id"], "body": body["body"]}, k,
                             newsroom.author.token)
        assert (got["code"], got["status"]) == ("idempotency-key-reused", 422)
        k2 = key()
        made, _ = await keyed(gql, CREATE, {"accountId": body["account_id"], "body": "over GraphQL"}, k2,
                              newsroom.author.token)
        assert made["__typename"] == "PostPayload"
        r = await api.post("/v1/posts", {**body, "body": "over GraphQL"}, token=newsroom.author.token,
                           **{"Idempotency-Key": k2})
        assert r.status_code == 422 and r.json()["code"] == "idempotency-key-reused"
        assert await count(session, "SELECT count(*) FROM posts WHERE author_id = :a", a=newsroom.author.id) == 2


class TestStoredAnswers:
    async def test_an_expected_failure_is_stored_and_replayed(self, api, gql, newsroom, session):
        k, body = key(), {"accountId": newsroom.account["id"], "body": "not mine to write"}
        first, _ = await keyed(gql, CREATE, body, k, newsroom.outsider.token)
        assert (first["code"], first["status"]) == ("not-found", 404)
        # Allowed now, but the key answers as it did: a retry never does something else.
        await api.grant(newsroom.outsider.id, "contributor", account_id=newsroom.account["id"])
        again, marked = await keyed(gql, CREATE, body, k, newsroom.outsider.token)
        assert again == first and marked == ["createPost"]
        assert await count(session, "SELECT count(*) FROM posts WHERE author_id = :a", a=newsroom.outsider.id) == 0

    async def test_a_stored_problem_keeps_its_details(self, api, gql, newsroom):
        k = key()
        body = {"accountId": newsroom.account["id"], "body": "x", "scheduledAt": "2001-01-01T00:00:00Z"}
        fields = "__typename ... on Problem { code status message title pointer errors { message pointer } }"
        document = f"""mutation($input: CreatePostInput!, $key: String) {{
            createPost(input: $input, idempotencyKey: $key) {{ {fields} }} }}"""
        first, _ = await keyed(gql, document, body, k, newsroom.author.token)
        assert (first["code"], first["status"]) == ("schedule-invalid", 422)
        again, marked = await keyed(gql, document, body, k, newsroom.author.token)
        assert again == first and marked == ["createPost"]

    async def test_a_rejected_input_does_not_consume_the_key(self, gql, newsroom):
        # As over REST: an input the body model rejects is answered before the use case runs.
        k = key()
        bad, _ = await keyed(gql, CREATE, {"accountId": newsroom.account["id"], "body": ""}, k, newsroom.author.token)
        assert (bad["code"], bad["status"]) == ("validation-error", 422)
        good, marked = await keyed(gql, CREATE, {"accountId": newsroom.account["id"], "body": "fixed"}, k,
                                   newsroom.author.token)
        assert good["__typename"] == "PostPayload" and marked == []

    async def test_a_key_past_its_ttl_is_new(self, gql, newsroom, session):
        k, body = key(), {"accountId": newsroom.account["id"], "body": "old"}
        first, _ = await keyed(gql, CREATE, body, k, newsroom.author.token)
        await session.execute(text("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' "
                                   "WHERE key = :k"), {"k": k})
        await session.commit()
        second, marked = await keyed(gql, CREATE, {**body, "body": "new"}, k, newsroom.author.token)
        assert second["__typename"] == "PostPayload" and marked == []
        assert second["post"]["id"] != first["post"]["id"]
        hours = (await session.execute(text(
            "SELECT extract(epoch FROM expires_at - created_at) / 3600 FROM idempotency_keys WHERE key = :k"),
            {"k": k})).scalar_one()
        assert float(hours) >= 24

    async def test_what_is_stored(self, api, gql, session):
        lead, k = await crisis_lead(api), key()
        made, _ = await keyed(gql, DECLARE, declaration(), k, lead.token)
        row = (await session.execute(text("SELECT principal, method, path, status_code, body FROM idempotency_keys "
                                          "WHERE key = :k"), {"k": k})).one()
        assert row[:4] == (await principal_key(api, lead.token), "POST", "/graphql", 200)
        stored = bytes(row.body)
        assert made["crisis"]["id"].encode() in stored and b"recall" not in stored  # an id, not the answer


class TestPrincipalScope:
    async def test_another_principals_same_key_is_independent(self, api, gql, newsroom, session):
        other = await person(api, "contributor", account_id=newsroom.account["id"])
        k, body = key(), {"accountId": newsroom.account["id"], "body": "same words"}
        mine, _ = await keyed(gql, CREATE, body, k, newsroom.author.token)
        theirs, marked = await keyed(gql, CREATE, body, k, other.token)
        assert theirs["__typename"] == "PostPayload" and marked == []
        assert theirs["post"]["id"] != mine["post"]["id"]
        again, marked = await keyed(gql, CREATE, body, k, other.token)
        assert again["post"]["id"] == theirs["post"]["id"] and marked == ["createPost"]
        assert await count(session, "SELECT count(*) FROM idempotency_keys WHERE key = :k", k=k) == 2


class TestKeySyntax:
    @pytest.mark.parametrize("raw", ["", " ", "has space", " padded", "x" * 256, "x" * 5000, "\u00e9t\u00e9",
                                     "\u6f22\u5b57", "tab\there", "nul\x00", "line\nbreak"])
    async def test_a_bad_key_is_a_problem_never_a_500(self, gql, newsroom, session, raw):
        for document, input, token in (
                (CREATE, {"accountId": newsroom.account["id"], "body": "k"}, newsroom.author.token),
                (DECLARE, declaration(), None)):
            got, _ = await keyed(gql, document, input, raw, token)
            assert (got["__typename"], got["code"], got["status"], got["pointer"]) == (
                "Problem", "invalid-idempotency-key", 400, "#/idempotencyKey")
        assert await count(session, "SELECT count(*) FROM posts WHERE author_id = :a", a=newsroom.author.id) == 0
        assert await count(session, "SELECT count(*) FROM idempotency_keys") == 0

    async def test_the_longest_key_is_accepted(self, gql, newsroom):
        got, _ = await keyed(gql, CREATE, {"accountId": newsroom.account["id"], "body": "long"}, "~" * 255,
                             newsroom.author.token)
        assert got["__typename"] == "PostPayload"

    async def test_the_http_header_is_refused(self, gql, newsroom, session):
        r = await gql.client.post("/graphql", json={"query": CREATE, "variables": {
            "input": {"accountId": newsroom.account["id"], "body": "header"}}},
            headers={"Authorization": f"Bearer {newsroom.author.token}", "Idempotency-Key": key()})
        assert r.status_code == 400 and r.headers["content-type"] == PROBLEM_JSON
        body = r.json()
        assert body["code"] == "invalid-idempotency-key" and "idempotencyKey" in body["detail"]
        assert [e["header"] for e in body["errors"]] == ["Idempotency-Key"]
        assert await count(session, "SELECT count(*) FROM posts WHERE author_id = :a", a=newsroom.author.id) == 0


# --- committed tier ------------------------------------------------------------------------

async def _lead(committed) -> tuple[Gql, str]:
    lead = await crisis_lead(committed.api)
    return Gql(committed.client, lead.token), lead.token


@pytest.mark.committed
async def test_committed_concurrent_declares_with_one_key_make_one_crisis(committed):
    gql, token = await _lead(committed)
    k, body = key(), declaration()
    answers = await asyncio.gather(*[keyed(gql, DECLARE, body, k, token) for _ in range(10)])
    made = [r for r, _ in answers if r["__typename"] == "DeclareCrisisPayload"]
    for r, _ in answers:
        assert r["__typename"] == "DeclareCrisisPayload" or (r["code"], r["status"]) == (
            "idempotency-key-in-flight", 409), r
    assert made and len({r["crisis"]["id"] for r in made}) == 1
    assert sum(1 for r, marked in answers if r["__typename"] == "DeclareCrisisPayload" and not marked) == 1
    async with committed.maker() as s:
        crises = await count(s, "SELECT count(*) FROM crises WHERE reason = :r", r=body["reason"])
        stored = await count(s, "SELECT count(*) FROM idempotency_keys WHERE key = :k", k=k)
    assert (crises, stored) == (1, 1)
    after, marked = await keyed(gql, DECLARE, body, k, token)
    assert after["crisis"]["id"] == made[0]["crisis"]["id"] and marked == ["declareCrisis"]


@pytest.mark.committed
async def test_committed_a_key_held_by_a_running_call_is_in_flight(committed):
    gql, token = await _lead(committed)
    k, body = key(), declaration()
    lock = lock_id(await principal_key(committed.api, token), k)
    async with committed.engine.connect() as other:
        await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock})
        got, _ = await keyed(gql, DECLARE, body, k, token)
        assert (got["code"], got["status"], got["pointer"]) == ("idempotency-key-in-flight", 409, "#/idempotencyKey")
        await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock})
        await other.commit()
    done, marked = await keyed(gql, DECLARE, body, k, token)  # the 409 was not stored
    assert done["__typename"] == "DeclareCrisisPayload" and marked == []


@pytest.mark.committed
async def test_committed_the_answer_is_stored_in_the_transaction_of_the_change(committed, monkeypatch):
    api = committed.api
    brand = await api.brand()
    account = await api.account(brand["id"])
    author = await person(api, "contributor", account_id=account["id"])
    gql, k = Gql(committed.client, author.token), key()
    body = {"accountId": account["id"], "body": "once"}
    # A failure nobody expected (a 5xx) is never stored, and leaves nothing behind.
    fail_audit(monkeypatch, "post.created", RuntimeError("boom"))
    out = await gql(CREATE, {"input": body, "key": k})
    assert out["data"] == {"createPost": None} and out["errors"][0]["extensions"]["code"] == "internal-error"
    async with committed.maker() as s:
        assert await count(s, "SELECT count(*) FROM posts WHERE author_id = :a", a=author.id) == 0
        assert await count(s, "SELECT count(*) FROM idempotency_keys WHERE key = :k", k=k) == 0
    monkeypatch.undo()
    made, marked = await keyed(gql, CREATE, body, k, author.token)
    assert made["__typename"] == "PostPayload" and marked == []
    async with committed.maker() as s:
        post_tx = (await s.execute(text("SELECT xmin::text FROM posts WHERE id = :i"),
                                   {"i": made["post"]["id"]})).scalar_one()
        key_tx = (await s.execute(text("SELECT xmin::text FROM idempotency_keys WHERE key = :k"),
                                  {"k": k})).scalar_one()
    assert post_tx == key_tx
