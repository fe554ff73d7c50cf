"""Idempotency keys over REST (the Idempotency-Key header) and over GraphQL (the idempotencyKey
argument) of the two creating use cases: the same outcome and the same error code (and HTTP
status) at every step of a key's life."""
from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import text

from app.idempotency import lock_id
from tests.support.parity import camelised
from tests.support.graphql import POST_FIELDS, Gql
from tests.support.posts import SCOPES, Person
from tests.support.publishing import crisis_lead

PROBLEM = "... on Error { code status } ... on Problem { pointer }"
DOCUMENTS = {
    "declareCrisis": f"""mutation($input: DeclareCrisisInput!, $key: String) {{
        declareCrisis(input: $input, idempotencyKey: $key) {{
          __typename ... on DeclareCrisisPayload {{ crisis {{ id }} }} {PROBLEM} }} }}""",
    "createPost": f"""mutation($input: CreatePostInput!, $key: String) {{
        createPost(input: $input, idempotencyKey: $key) {{ {POST_FIELDS} }} }}""",
}
PATHS = {"declareCrisis": "/v1/crises", "createPost": "/v1/posts"}


def rest_outcome(r) -> dict:
    body = r.json()
    if r.status_code >= 400:
        return {"outcome": r.status_code, "code": body["code"]}
    return {"outcome": "ok", "replayed": r.headers.get("idempotent-replayed") == "true"}


def graphql_outcome(body: dict) -> dict:
    assert not body.get("errors"), body["errors"]
    [(name, result)] = body["data"].items()
    if result["__typename"] == "Problem":
        return {"outcome": result["status"], "code": result["code"]}
    return {"outcome": "ok", "replayed": name in (body.get("extensions") or {}).get("idempotentReplayed", [])}


def made_id(r_or_body) -> str:
    if isinstance(r_or_body, dict):
        [result] = r_or_body["data"].values()
        return (result.get("crisis") or result.get("post"))["id"]
    return r_or_body.json()["id"]


class Keys:
    """Sends one call over REST with one key and its twin over GraphQL with another."""

    def __init__(self, api, gql: Gql):
        self.api = api
        self.gql = gql

    async def both(self, mutation: str, body: dict, by: Person, keys: tuple[str, str]) -> tuple[dict, tuple]:
        r = await self.api.client.post(PATHS[mutation], json=body,
                                       headers={"Authorization": f"Bearer {by.token}",
                                                "Idempotency-Key": keys[0].encode()})  # bytes: as sent, even non-ASCII
        g = await self.gql(DOCUMENTS[mutation], {"input": camelised(body), "key": keys[1]}, token=by.token)
        rest, graphql = rest_outcome(r), graphql_outcome(g)
        assert rest == graphql, (mutation, rest, graphql)
        return rest, (r, g)


@pytest.fixture
def keys(api, gql) -> Keys:
    return Keys(api, gql)


def fresh() -> tuple[str, str]:
    return f"r-{uuid.uuid4()}", f"g-{uuid.uuid4()}"


async def cases(api, newsroom) -> list[tuple[str, Person, Callable[[], dict]]]:
    lead = await crisis_lead(api)
    return [
        ("declareCrisis", lead, lambda: {"scope": {"organization": True}, "reason": f"recall {uuid.uuid4().hex[:6]}"}),
        ("createPost", newsroom.author, lambda: {"account_id": newsroom.account["id"], "body": f"hi {uuid.uuid4()}"}),
    ]


class TestKeyLife:
    async def test_replay_then_reuse(self, api, keys, newsroom):
        for mutation, by, body in await cases(api, newsroom):
            k, first = fresh(), body()
            out, (r1, g1) = await keys.both(mutation, first, by, k)
            assert out == {"outcome": "ok", "replayed": False}
            out, (r2, g2) = await keys.both(mutation, first, by, k)
            assert out == {"outcome": "ok", "replayed": True}
            assert (made_id(r2), made_id(g2)) == (made_id(r1), made_id(g1))
            out, _ = await keys.both(mutation, body(), by, k)
            assert out == {"outcome": 422, "code": "idempotency-key-reused"}, mutation

    async def test_a_stored_failure_replays_the_same_code(self, api, keys, newsroom):
        body = {"account_id": newsroom.account["id"], "body": "not mine"}
        k = fresh()
        out, _ = await keys.both("createPost", body, newsroom.outsider, k)
        assert out == {"outcome": 404, "code": "not-found"}
        await api.grant(newsroom.outsider.id, "contributor", account_id=newsroom.account["id"])
        out, _ = await keys.both("createPost", body, newsroom.outsider, k)
        assert out == {"outcome": 404, "code": "not-found"}

    async def test_a_refused_authority_does_not_consume_the_key(self, api, keys, newsroom):
        # 403 is about the caller's token or grants, not the request: the fixed retry goes through.
        lead = await crisis_lead(api)
        weak = Person(lead.id, await api.token_for(lead.id, scopes=SCOPES))
        body = {"scope": {"organization": True}, "reason": "scope"}
        k = fresh()
        out, _ = await keys.both("declareCrisis", body, weak, k)
        assert out == {"outcome": 403, "code": "insufficient-scope"}
        out, _ = await keys.both("declareCrisis", body, lead, k)
        assert out == {"outcome": "ok", "replayed": False}

    async def test_a_rejected_input_does_not_consume_the_key(self, api, keys, newsroom):
        k = fresh()
        out, _ = await keys.both("createPost", {"account_id": newsroom.account["id"], "body": ""}, newsroom.author, k)
        assert out == {"outcome": 422, "code": "validation-error"}
        out, _ = await keys.both("createPost", {"account_id": newsroom.account["id"], "body": "ok"},
                                 newsroom.author, k)
        assert out == {"outcome": "ok", "replayed": False}

    @pytest.mark.parametrize("raw", ["", "x" * 256, "\u00e9t\u00e9", "has space"])
    async def test_a_bad_key(self, api, keys, newsroom, raw):
        for mutation, by, body in await cases(api, newsroom):
            out, _ = await keys.both(mutation, body(), by, (raw, raw))
            assert out == {"outcome": 400, "code": "invalid-idempotency-key"}, mutation


@pytest.mark.committed
async def test_committed_in_flight(committed):
    api = committed.api
    lead = await crisis_lead(api)
    me = (await api.get("/v1/me", token=lead.token)).json()
    keys, k = Keys(api, Gql(committed.client, lead.token)), fresh()
    body = {"scope": {"organization": True}, "reason": "held"}
    async with committed.engine.connect() as other:
        for held in k:
            await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_id(f"{me['kind']}:{me['id']}", held)})
        out, _ = await keys.both("declareCrisis", body, lead, k)
        assert out == {"outcome": 409, "code": "idempotency-key-in-flight"}
        await other.execute(text("SELECT pg_advisory_unlock_all()"))
        await other.commit()
    out, _ = await keys.both("declareCrisis", body, lead, k)
    assert out == {"outcome": "ok", "replayed": False}
