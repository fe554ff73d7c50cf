from __future__ import annotations

import uuid


class TestCreateUser:
    async def test_create_and_read(self, api):
        u = await api.user(email="Li.Wei@Example.com", external_id="E1024", kind="agency")
        assert u["status"] == "active" and u["kind"] == "agency" and u["version"] == 1
        r = await api.get(f"/v1/users/{u['id']}")
        assert r.status_code == 200 and r.headers["etag"] == '"1"'

    async def test_email_unique_case_insensitive(self, api):
        await api.user(email="dup@example.com")
        r = await api.post("/v1/users", {"email": "DUP@example.com", "display_name": "x"})
        assert r.status_code == 409 and r.json()["code"] == "email-taken"
        assert r.json()["errors"][0]["pointer"] == "#/email"

    async def test_external_id_unique(self, api):
        await api.user(external_id="E1")
        r = await api.post("/v1/users", {"email": "other@example.com", "display_name": "x", "external_id": "E1"})
        assert r.status_code == 409 and r.json()["code"] == "external-id-taken"

    async def test_plain_user_cannot_create_users(self, api):
        u = await api.user()
        token = await api.token_for(u["id"])
        r = await api.post("/v1/users", {"email": "n@example.com", "display_name": "x"}, token=token)
        assert r.status_code == 403

    async def test_invalid_email(self, api):
        r = await api.post("/v1/users", {"email": "not-an-email", "display_name": "x"})
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/email"


class TestDirectoryVisibility:
    async def test_plain_user_sees_only_themselves(self, api):
        me, other = await api.user(), await api.user()
        token = await api.token_for(me["id"], scopes=("posts:read",))
        assert (await api.get(f"/v1/users/{me['id']}", token=token)).status_code == 200
        assert (await api.get(f"/v1/users/{other['id']}", token=token)).status_code == 404
        items = (await api.get("/v1/users", token=token)).json()["items"]
        assert [u["id"] for u in items] == [me["id"]]

    async def test_search(self, api):
        await api.user(email="zhang.san@example.com", display_name="Zhang San")
        items = (await api.get("/v1/users", q="zhang")).json()["items"]
        assert [u["email"] for u in items] == ["zhang.san@example.com"]
        # LIKE metacharacters are literal
        assert (await api.get("/v1/users", q="%")).json()["items"] == []


class TestUpdateUser:
    async def test_patch_with_if_match(self, api):
        u = await api.user()
        r = await api.patch(f"/v1/users/{u['id']}", {"display_name": "New"}, **{"If-Match": '"1"'})
        assert r.status_code == 200 and r.json()["version"] == 2 and r.headers["etag"] == '"2"'
        stale = await api.patch(f"/v1/users/{u['id']}", {"display_name": "Newer"}, **{"If-Match": '"1"'})
        assert stale.status_code == 412 and stale.json()["code"] == "precondition-failed"

    async def test_email_change_to_taken_email(self, api):
        a, b = await api.user(), await api.user()
        r = await api.patch(f"/v1/users/{a['id']}", {"email": b["email"]})
        assert r.status_code == 409 and r.json()["code"] == "email-taken"

    async def test_only_admin_changes_users(self, api):
        boss = await api.user()
        await api.grant(boss["id"], "account_admin")
        token = await api.token_for(boss["id"])
        u = await api.user()
        r = await api.patch(f"/v1/users/{u['id']}", {"status": "suspended"}, token=token)
        assert r.status_code == 403

    async def test_suspension_is_audited_with_revocations(self, api):
        brand = await api.brand()
        acc = await api.account(brand["id"])
        u = await api.user()
        g = await api.grant(u["id"], "viewer", account_id=acc["id"])
        await api.ok("PATCH", f"/v1/users/{u['id']}", {"status": "suspended"})
        trail = (await api.get("/v1/audit", subject_type="grant", subject_id=g["id"])).json()["items"]
        # The suspension revokes every grant in one statement: one bulk record names them all.
        assert [r["action"] for r in trail] == ["grant.created", "grants.revoked"]
        assert trail[-1]["after"]["subject_ids"] == [g["id"]] and trail[-1]["subject_id"] == u["id"]
        grant = (await api.get(f"/v1/grants/{g['id']}")).json()
        assert grant["revoke_reason"] == "user suspended"

    async def test_unknown_user_404(self, api):
        r = await api.patch(f"/v1/users/{uuid.uuid4()}", {"display_name": "x"})
        assert r.status_code == 404 and r.json()["code"] == "user-not-found"
