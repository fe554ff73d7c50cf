from __future__ import annotations

import uuid


class TestBrands:
    async def test_create_list_patch(self, api):
        b = await api.brand("Acme China")
        r = await api.post("/v1/brands", {"name": "acme china"})
        assert r.status_code == 409 and r.json()["code"] == "brand-name-taken"
        r = await api.patch(f"/v1/brands/{b['id']}", {"description": "CN unit"}, **{"If-Match": '"1"'})
        assert r.status_code == 200 and r.json()["version"] == 2
        r = await api.patch(f"/v1/brands/{b['id']}", {"description": "x"}, **{"If-Match": '"1"'})
        assert r.status_code == 412

    async def test_brand_admin_cannot_create_brands(self, api):
        b = await api.brand()
        boss = await api.user()
        await api.grant(boss["id"], "account_admin", brand_id=b["id"])
        token = await api.token_for(boss["id"])
        r = await api.post("/v1/brands", {"name": "Rogue"}, token=token)
        assert r.status_code == 403
        # but they may change their brand
        r = await api.patch(f"/v1/brands/{b['id']}", {"description": "ok"}, token=token)
        assert r.status_code == 200


class TestAccounts:
    async def test_create_with_owner(self, api):
        b = await api.brand()
        owner = await api.user()
        acc = await api.account(b["id"], platform="weibo", handle="acme_cn", region="CN", owner_id=owner["id"],
                                two_factor_enabled=True)
        assert acc["needs_owner"] is False and acc["status"] == "active"
        no_owner = await api.account(b["id"])
        assert no_owner["needs_owner"] is True

    async def test_handle_unique_per_platform(self, api):
        b = await api.brand()
        await api.account(b["id"], platform="x", handle="Acme")
        r = await api.post("/v1/accounts", {"platform": "x", "handle": "acme", "brand_id": b["id"]})
        assert r.status_code == 409 and r.json()["code"] == "handle-taken"
        await api.account(b["id"], platform="linkedin", handle="acme")

    async def test_unknown_platform_and_brand(self, api):
        b = await api.brand()
        r = await api.post("/v1/accounts", {"platform": "myspace", "handle": "a", "brand_id": b["id"]})
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/platform"
        r = await api.post("/v1/accounts", {"platform": "x", "handle": "a", "brand_id": str(uuid.uuid4())})
        assert r.status_code == 404

    async def test_inactive_owner_refused(self, api):
        b = await api.brand()
        u = await api.user()
        await api.ok("PATCH", f"/v1/users/{u['id']}", {"status": "offboarded"})
        r = await api.post("/v1/accounts", {"platform": "x", "handle": "z", "brand_id": b["id"], "owner_id": u["id"]})
        assert r.status_code == 409 and r.json()["code"] == "user-not-active"

    async def test_account_admin_patches_own_account_only(self, api):
        b = await api.brand()
        mine, theirs = await api.account(b["id"]), await api.account(b["id"])
        boss = await api.user()
        await api.grant(boss["id"], "account_admin", account_id=mine["id"])
        token = await api.token_for(boss["id"])
        owner = await api.user()
        r = await api.patch(f"/v1/accounts/{mine['id']}", {"owner_id": owner["id"]}, token=token)
        assert r.status_code == 200 and r.json()["needs_owner"] is False
        r = await api.patch(f"/v1/accounts/{theirs['id']}", {"region": "US"}, token=token)
        assert r.status_code == 404
        # a publisher sees the account but may not administer it
        pub = await api.user()
        await api.grant(pub["id"], "publisher", account_id=mine["id"])
        r = await api.patch(f"/v1/accounts/{mine['id']}", {"region": "US"}, token=await api.token_for(pub["id"]))
        assert r.status_code == 403

    async def test_list_filters(self, api):
        b = await api.brand()
        await api.account(b["id"], platform="douyin", two_factor_enabled=True, owner_id=(await api.user())["id"])
        await api.account(b["id"], platform="weibo")
        items = (await api.get("/v1/accounts", brand_id=b["id"], platform="douyin")).json()["items"]
        assert [a["platform"] for a in items] == ["douyin"]
        attention = (await api.get("/v1/accounts", brand_id=b["id"], needs_attention="true")).json()["items"]
        assert [a["platform"] for a in attention] == ["weibo"]
