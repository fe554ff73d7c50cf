"""Idempotency-Key on creating POSTs: replay, mismatch, stored errors, per-principal scope,
key syntax, expiry; in-flight and real races in the committed tier."""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import text

from app.errors import PROBLEM_JSON
from app.idempotency import lock_id

KEY = "Idempotency-Key"


def key() -> str:
    return f"k-{uuid.uuid4()}"


async def brands_named(api, name: str) -> list[dict]:
    r = await api.get("/v1/brands", limit=200)
    assert r.status_code == 200, r.text
    return [b for b in r.json()["items"] if b["name"] == name]


async def principal_key(api, token=None) -> str:
    me = (await api.get("/v1/me", token=token)).json()
    return f"{me['kind']}:{me['id']}"


class TestReplay:
    async def test_same_key_same_body_replays_and_creates_one_row(self, api, session):
        k, name = key(), f"Replayed {uuid.uuid4()}"
        first = await api.post("/v1/brands", {"name": name}, **{KEY: k})
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        second = await api.post("/v1/brands", {"name": name}, **{KEY: k})
        assert second.status_code == 201
        assert second.headers["idempotent-replayed"] == "true"
        assert second.content == first.content
        assert second.headers["content-type"] == first.headers["content-type"]
        assert second.headers["etag"] == first.headers["etag"]
        assert len(await brands_named(api, name)) == 1
        stored = (await session.execute(text("SELECT count(*) FROM brands WHERE name = :n"), {"n": name})).scalar()
        assert stored == 1

    async def test_replay_ignores_json_spacing_and_key_order(self, api):
        k, user = key(), await api.user()
        body = {"user_id": user["id"], "scopes": ["posts:read"], "name": f"t {uuid.uuid4()}"}
        h = api.h(**{KEY: k, "content-type": "application/json"})
        first = await api.client.post("/v1/tokens", content=json.dumps(body).encode(), headers=h)
        assert first.status_code == 201, first.text
        reordered = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
        second = await api.client.post("/v1/tokens", content=reordered, headers=h)
        assert second.status_code == 201 and second.headers["idempotent-replayed"] == "true"
        assert second.json()["id"] == first.json()["id"]

    async def test_every_creating_post_honours_the_key(self, api, session):
        user = await api.user()
        brand = await api.brand()
        calls = [
            ("/v1/users", {"email": f"i{uuid.uuid4().hex[:8]}@example.com", "display_name": "I"}, "users"),
            ("/v1/accounts", {"platform": "weibo", "handle": f"i{uuid.uuid4().hex[:8]}", "brand_id": brand["id"]},
             "accounts"),
            ("/v1/grants", {"user_id": user["id"], "role": "contributor", "brand_id": brand["id"], "reason": "r"},
             "access_grants"),
            ("/v1/tokens", {"user_id": user["id"], "scopes": ["posts:read"]}, "api_tokens"),
        ]
        for path, body, table in calls:
            k = key()
            before = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
            first = await api.post(path, body, **{KEY: k})
            assert first.status_code == 201, (path, first.text)
            second = await api.post(path, body, **{KEY: k})
            assert (second.status_code, second.headers.get("idempotent-replayed")) == (201, "true"), path
            if table == "api_tokens":  # the secret is shown once and never stored: the replay says null
                assert second.json() == {**first.json(), "token": None}
            else:
                assert second.json() == first.json()
            after = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
            assert after == before + 1, path

    async def test_token_secret_is_never_stored_with_the_key(self, api, session):
        user = await api.user()
        first = await api.post("/v1/tokens", {"user_id": user["id"], "scopes": ["posts:read"]}, **{KEY: key()})
        secret = first.json()["token"]
        assert secret.startswith("sgv_")
        stored = (await session.execute(text("SELECT body FROM idempotency_keys"))).scalars().all()
        assert stored and not any(secret.encode() in b for b in stored)

    async def test_without_a_key_each_post_is_new(self, api):
        a = await api.post("/v1/brands", {"name": f"A {uuid.uuid4()}"})
        b = await api.post("/v1/brands", {"name": f"B {uuid.uuid4()}"})
        assert a.status_code == b.status_code == 201
        assert a.json()["id"] != b.json()["id"]


class TestMismatch:
    async def test_same_key_different_body_is_422(self, api):
        k = key()
        first = await api.post("/v1/brands", {"name": f"One {uuid.uuid4()}"}, **{KEY: k})
        assert first.status_code == 201
        other = f"Two {uuid.uuid4()}"
        r = await api.post("/v1/brands", {"name": other}, **{KEY: k})
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM_JSON
        body = r.json()
        assert body["code"] == "idempotency-key-reused" and body["status"] == 422
        assert [e["header"] for e in body["errors"]] == [KEY]
        assert await brands_named(api, other) == []

    async def test_same_key_on_another_route_is_422(self, api):
        k = key()
        assert (await api.post("/v1/brands", {"name": f"R {uuid.uuid4()}"}, **{KEY: k})).status_code == 201
        r = await api.post("/v1/users", {"email": "other-route@example.com", "display_name": "O"}, **{KEY: k})
        assert r.status_code == 422 and r.json()["code"] == "idempotency-key-reused"


class TestStoredErrors:
    async def test_an_error_answer_is_stored_and_replayed(self, api):
        name = f"Taken {uuid.uuid4()}"
        existing = await api.brand(name)
        k = key()
        first = await api.post("/v1/brands", {"name": name}, **{KEY: k})
        assert first.status_code == 409 and first.json()["code"] == "brand-name-taken"
        # The name is free now; a re-run would succeed, but the key answers as it did.
        renamed = await api.patch(f"/v1/brands/{existing['id']}", {"name": f"Renamed {uuid.uuid4()}"})
        assert renamed.status_code == 200, renamed.text
        again = await api.post("/v1/brands", {"name": name}, **{KEY: k})
        assert again.status_code == 409 and again.headers["idempotent-replayed"] == "true"
        assert again.headers["content-type"] == PROBLEM_JSON
        assert again.content == first.content
        assert await brands_named(api, name) == []

    async def test_a_stored_error_leaves_no_partial_work(self, api, session):
        before = (await session.execute(text("SELECT count(*) FROM audit_records"))).scalar()
        r = await api.post("/v1/grants", {"user_id": str(uuid.uuid4()), "role": "contributor", "reason": "r"},
                           **{KEY: key()})
        assert r.status_code == 404
        assert (await session.execute(text("SELECT count(*) FROM audit_records"))).scalar() == before

    async def test_a_malformed_body_does_not_consume_the_key(self, api):
        # Rejected before the operation ran (Stripe's rule): nothing is stored under the key.
        k = key()
        bad = await api.post("/v1/brands", {"name": 5}, **{KEY: k})
        assert bad.status_code == 422 and bad.json()["code"] == "validation-error"
        good = await api.post("/v1/brands", {"name": f"Fixed {uuid.uuid4()}"}, **{KEY: k})
        assert good.status_code == 201 and "idempotent-replayed" not in good.headers


class TestPrincipalScope:
    async def test_keys_are_scoped_per_principal(self, api):
        other = (await api.ok("POST", "/v1/tokens", {"service_name": f"svc-{uuid.uuid4().hex[:8]}",
                                                     "scopes": ["admin"]}))["token"]
        assert await principal_key(api) != await principal_key(api, token=other)
        k = key()
        mine = await api.post("/v1/brands", {"name": f"Mine {uuid.uuid4()}"}, **{KEY: k})
        assert mine.status_code == 201
        theirs_name = f"Theirs {uuid.uuid4()}"
        theirs = await api.post("/v1/brands", {"name": theirs_name}, token=other, **{KEY: k})
        assert theirs.status_code == 201, theirs.text
        assert "idempotent-replayed" not in theirs.headers
        assert theirs.json()["id"] != mine.json()["id"]
        assert len(await brands_named(api, theirs_name)) == 1
        # ... and each principal still gets its own answer back.
        replay = await api.post("/v1/brands", {"name": theirs_name}, token=other, **{KEY: k})
        assert replay.headers["idempotent-replayed"] == "true" and replay.json()["id"] == theirs.json()["id"]


class TestKeySyntax:
    @pytest.mark.parametrize("raw", ["", "   ", "has space", "x" * 256, "\u00e9t\u00e9", '"unterminated',
                                     '""', '"in"side"', "tab\there"])
    async def test_malformed_key_is_400(self, api, raw):
        r = await api.client.post("/v1/brands", json={"name": f"K {uuid.uuid4()}"},
                                  headers=api.h(**{KEY: raw.encode()}))
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["code"] == "invalid-idempotency-key" and body["status"] == 400
        assert [e["header"] for e in body["errors"]] == [KEY]

    async def test_longest_key_is_accepted(self, api):
        r = await api.post("/v1/brands", {"name": f"Long {uuid.uuid4()}"}, **{KEY: "x" * 255})
        assert r.status_code == 201

    async def test_quoted_key_is_the_same_key_as_bare(self, api):
        bare = f"q-{uuid.uuid4()}"
        name = f"Quoted {uuid.uuid4()}"
        first = await api.post("/v1/brands", {"name": name}, **{KEY: f'"{bare}"'})
        assert first.status_code == 201 and "idempotent-replayed" not in first.headers
        second = await api.post("/v1/brands", {"name": name}, **{KEY: bare})
        assert second.headers["idempotent-replayed"] == "true"
        third = await api.post("/v1/brands", {"name": name}, **{KEY: f'  "{bare}"  '})
        assert third.headers["idempotent-replayed"] == "true"
        assert len(await brands_named(api, name)) == 1


class TestExpiry:
    async def test_a_key_past_its_ttl_is_new(self, api, session):
        k = key()
        first = await api.post("/v1/brands", {"name": f"Old {uuid.uuid4()}"}, **{KEY: k})
        assert first.status_code == 201
        await session.execute(text("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' "
                                   "WHERE key = :k"), {"k": k})
        await session.commit()
        new_name = f"New {uuid.uuid4()}"
        second = await api.post("/v1/brands", {"name": new_name}, **{KEY: k})
        assert second.status_code == 201, second.text
        assert "idempotent-replayed" not in second.headers
        assert second.json()["id"] != first.json()["id"]
        assert len(await brands_named(api, new_name)) == 1
        # The key now remembers the new answer.
        third = await api.post("/v1/brands", {"name": new_name}, **{KEY: k})
        assert third.headers["idempotent-replayed"] == "true" and third.json()["id"] == second.json()["id"]

    async def test_a_live_key_is_kept_for_the_configured_ttl(self, api, session):
        k = key()
        assert (await api.post("/v1/brands", {"name": f"TTL {uuid.uuid4()}"}, **{KEY: k})).status_code == 201
        hours = (await session.execute(text(
            "SELECT extract(epoch FROM expires_at - created_at) / 3600 FROM idempotency_keys WHERE key = :k"),
            {"k": k})).scalar()
        assert float(hours) >= 24


@pytest.mark.committed
class TestInFlight:
    async def test_a_key_held_by_a_running_request_is_409(self, committed):
        api = committed.api
        k, name = key(), f"Held {uuid.uuid4()}"
        lock = lock_id(await principal_key(api), k)
        async with committed.engine.connect() as other:
            await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock})
            r = await api.post("/v1/brands", {"name": name}, **{KEY: k})
            assert r.status_code == 409, r.text
            assert r.headers["content-type"] == PROBLEM_JSON
            assert r.json()["code"] == "idempotency-key-in-flight"
            assert r.headers["retry-after"]
            await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock})
            await other.commit()
        assert await brands_named(api, name) == []
        # Once the first finishes, the key is usable (the 409 was not stored).
        done = await api.post("/v1/brands", {"name": name}, **{KEY: k})
        assert done.status_code == 201 and "idempotent-replayed" not in done.headers

    async def test_concurrent_retries_create_exactly_one(self, committed):
        api = committed.api
        k, name = key(), f"Raced {uuid.uuid4()}"
        answers = await asyncio.gather(*[api.post("/v1/brands", {"name": name}, **{KEY: k}) for _ in range(10)])
        created = [r for r in answers if r.status_code == 201]
        for r in answers:
            assert r.status_code in (201, 409), r.text
            if r.status_code == 409:
                assert r.json()["code"] == "idempotency-key-in-flight"
        assert created, [r.status_code for r in answers]
        assert len({r.json()["id"] for r in created}) == 1
        assert sum(1 for r in created if "idempotent-replayed" not in r.headers) == 1
        assert len(await brands_named(api, name)) == 1
        async with committed.maker() as s:
            rows = (await s.execute(text("SELECT count(*) FROM brands WHERE name = :n"), {"n": name})).scalar()
            stored = (await s.execute(text("SELECT count(*) FROM idempotency_keys WHERE key = :k"), {"k": k})).scalar()
        assert rows == 1 and stored == 1
        # Afterwards every retry is a replay of that one answer.
        after = await api.post("/v1/brands", {"name": name}, **{KEY: k})
        assert after.headers["idempotent-replayed"] == "true" and after.json()["id"] == created[0].json()["id"]
