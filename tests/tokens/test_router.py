from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import text


class TestTokens:
    async def test_shown_once_and_stored_as_hash(self, api, session):
        u = await api.user()
        made = await api.ok("POST", "/v1/tokens", {"user_id": u["id"], "scopes": ["posts:read"], "name": "cli"})
        secret = made["token"]
        assert secret.startswith("sgv_") and len(secret) >= 40 and made["prefix"] == secret[:12]
        row = (await session.execute(text("SELECT token_hash FROM api_tokens WHERE id = :i"),
                                     {"i": made["id"]})).scalar()
        assert row == hashlib.sha256(secret.encode()).hexdigest()
        listed = (await api.get("/v1/tokens", user_id=u["id"])).json()["items"]
        assert listed and all("token" not in t for t in listed)
        me = (await api.get("/v1/me", token=secret)).json()
        assert me["id"] == u["id"] and me["scopes"] == ["posts:read"]

    async def test_revoked_token_401_at_once(self, api):
        u = await api.user()
        made = await api.ok("POST", "/v1/tokens", {"user_id": u["id"], "scopes": ["posts:read"]})
        r = await api.client.delete(f"/v1/tokens/{made['id']}", headers=api.h())
        assert r.status_code == 204
        assert (await api.get("/v1/me", token=made["token"])).status_code == 401
        r = await api.client.delete(f"/v1/tokens/{made['id']}", headers=api.h())
        assert r.status_code == 204  # idempotent

    async def test_expired_token_401(self, api, session):
        u = await api.user()
        made = await api.ok("POST", "/v1/tokens", {"user_id": u["id"], "scopes": ["posts:read"],
                                                   "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()})
        await session.execute(text("UPDATE api_tokens SET expires_at = now() - interval '1 s' WHERE id = :i"),
                              {"i": made["id"]})
        await session.commit()
        assert (await api.get("/v1/me", token=made["token"])).status_code == 401

    async def test_a_token_never_exceeds_its_maker(self, api):
        u = await api.user()
        narrow = await api.token_for(u["id"], scopes=("posts:read",))
        r = await api.post("/v1/tokens", {"user_id": u["id"], "scopes": ["posts:read", "posts:write"]}, token=narrow)
        assert r.status_code == 403 and r.json()["missing_scopes"] == ["posts:write"]
        r = await api.post("/v1/tokens", {"user_id": u["id"], "scopes": ["posts:read"]}, token=narrow)
        assert r.status_code == 201
        other = await api.user()
        r = await api.post("/v1/tokens", {"user_id": other["id"], "scopes": ["posts:read"]}, token=narrow)
        assert r.status_code == 403

    async def test_service_principal(self, api):
        made = await api.ok("POST", "/v1/tokens", {"service_name": "hr-system", "scopes": ["events:hr"]})
        assert made["principal_kind"] == "service" and made["service_name"] == "hr-system"
        me = (await api.get("/v1/me", token=made["token"])).json()
        assert me["kind"] == "service" and me["name"] == "hr-system" and me["admin"] is False
        again = await api.ok("POST", "/v1/tokens", {"service_name": "hr-system", "scopes": ["events:hr"]})
        assert again["service_id"] == made["service_id"]

    async def test_exactly_one_principal(self, api):
        u = await api.user()
        r = await api.post("/v1/tokens", {"user_id": u["id"], "service_name": "x", "scopes": ["posts:read"]})
        assert r.status_code == 422
        r = await api.post("/v1/tokens", {"scopes": ["posts:read"]})
        assert r.status_code == 422
        r = await api.post("/v1/tokens", {"user_id": u["id"], "scopes": ["posts:everything"]})
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/scopes/0"

    async def test_plain_user_lists_only_own_tokens(self, api):
        u, v = await api.user(), await api.user()
        tu = await api.token_for(u["id"], scopes=("posts:read",))
        await api.token_for(v["id"], scopes=("posts:read",))
        items = (await api.get("/v1/tokens", token=tu)).json()["items"]
        assert {t["user_id"] for t in items} == {u["id"]}
        assert (await api.get("/v1/tokens", token=tu, user_id=v["id"])).json()["items"] == []
