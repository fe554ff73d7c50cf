"""Nobody grants or raises their own access; grants whose authority is gone need review; every
view of grants shows the same grants."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.support.access import world  # noqa: F401 - fixture


async def account_admin(api, account_id=None, brand_id=None):
    u = await api.user()
    g = await api.grant(u["id"], "account_admin", account_id=account_id, brand_id=brand_id)
    return u, g, await api.token_for(u["id"])


class TestNoSelfGrant:
    async def test_an_account_admin_cannot_grant_itself_another_role(self, api, world):
        u, _, token = await account_admin(api, account_id=world["acc"]["id"])
        r = await api.post("/v1/grants", {"user_id": u["id"], "role": "publisher",
                                          "account_id": world["acc"]["id"], "reason": "me"}, token=token)
        assert r.status_code == 403 and r.json()["code"] == "self-grant", r.text
        assert r.json()["errors"][0]["pointer"] == "#/user_id"
        assert (await api.get("/v1/grants", user_id=u["id"])).json()["items"].__len__() == 1

    async def test_nor_can_an_admin(self, api):
        me = (await api.get("/v1/me")).json()
        r = await api.post("/v1/grants", {"user_id": me["id"], "role": "crisis_lead", "reason": "me"})
        assert r.status_code == 403 and r.json()["code"] == "self-grant"

    async def test_a_second_admin_can(self, api):
        me = (await api.get("/v1/me")).json()
        other = await api.user()
        await api.grant(other["id"], "admin")
        token = await api.token_for(other["id"], scopes=("admin",))
        g = await api.grant(me["id"], "crisis_lead", token=token)
        assert g["granted_by_id"] == other["id"]


class TestNeedsReview:
    async def test_a_grant_outlives_its_granters_authority_flagged(self, api, world):
        boss, boss_grant, token = await account_admin(api, account_id=world["acc"]["id"])
        worker = await api.user()
        g = await api.grant(worker["id"], "publisher", account_id=world["acc"]["id"], token=token)
        assert g["needs_review"] is False
        assert (await api.get("/v1/grants", needs_review="true")).json()["items"] == []
        await api.ok("POST", f"/v1/grants/{boss_grant['id']}/revoke", {"reason": "moved on"}, status=200)
        flagged = (await api.get("/v1/grants", needs_review="true")).json()["items"]
        assert [x["id"] for x in flagged] == [g["id"]]
        assert (await api.get(f"/v1/grants/{g['id']}")).json()["needs_review"] is True
        access = (await api.get(f"/v1/users/{worker['id']}/access")).json()
        assert access["effective"][0]["grant"]["needs_review"] is True
        assert g["id"] not in {x["id"] for x in (await api.get("/v1/grants", needs_review="false")).json()["items"]}

    @pytest.mark.parametrize("lose", ["offboard", "expire", "training"])
    async def test_every_way_of_losing_authority_flags(self, api, world, session, lose):
        boss, boss_grant, token = await account_admin(api, brand_id=world["brand"]["id"])
        worker = await api.user()
        g = await api.grant(worker["id"], "viewer", account_id=world["acc2"]["id"], token=token)
        if lose == "offboard":
            await api.ok("PATCH", f"/v1/users/{boss['id']}", {"status": "offboarded"}, status=200)
        elif lose == "expire":
            await session.execute(text("UPDATE access_grants SET expires_at = now() - interval '1 s' WHERE id = :i"),
                                  {"i": boss_grant["id"]})
        else:
            await session.execute(text("UPDATE users SET training_valid_until = '2000-01-01' WHERE id = :i"),
                                  {"i": boss["id"]})
        assert (await api.get(f"/v1/grants/{g['id']}")).json()["needs_review"] is True

    async def test_a_legacy_self_grant_is_flagged(self, api, world, session):
        u, _, _ = await account_admin(api, account_id=world["acc"]["id"])
        g = await api.grant(u["id"], "viewer", account_id=world["acc"]["id"])
        await session.execute(text("UPDATE access_grants SET granted_by_id = user_id WHERE id = :i"), {"i": g["id"]})
        assert (await api.get(f"/v1/grants/{g['id']}")).json()["needs_review"] is True

    async def test_confirming_moves_the_grant_onto_the_confirmers_authority(self, api, world):
        boss, boss_grant, token = await account_admin(api, account_id=world["acc"]["id"])
        worker = await api.user()
        g = await api.grant(worker["id"], "contributor", account_id=world["acc"]["id"], token=token)
        await api.ok("POST", f"/v1/grants/{boss_grant['id']}/revoke", {"reason": "left the team"}, status=200)
        other, other_grant, other_token = await account_admin(api, account_id=world["acc"]["id"])
        c = await api.ok("POST", f"/v1/grants/{g['id']}/confirm", {"reason": "still on the team"},
                         token=other_token, status=200)
        assert c["needs_review"] is False and c["confirmed_by_id"] == other["id"]
        assert c["granted_by_id"] == boss["id"]  # history keeps the granter
        rec = (await api.get("/v1/audit", subject_id=g["id"], action="grant.confirmed")).json()["items"]
        assert rec and rec[0]["after"]["confirm_reason"] == "still on the team"
        await api.ok("POST", f"/v1/grants/{other_grant['id']}/revoke", {"reason": "left too"}, status=200)
        assert (await api.get(f"/v1/grants/{g['id']}")).json()["needs_review"] is True

    async def test_confirming_needs_the_authority_and_is_never_for_oneself(self, api, world):
        boss, boss_grant, token = await account_admin(api, account_id=world["acc"]["id"])
        g = await api.grant(boss["id"], "viewer", account_id=world["acc"]["id"])
        r = await api.post(f"/v1/grants/{g['id']}/confirm", {}, token=token)
        assert r.status_code == 403 and r.json()["code"] == "self-grant"
        outsider, _, outsider_token = await account_admin(api, account_id=world["other_acc"]["id"])
        r = await api.post(f"/v1/grants/{g['id']}/confirm", {}, token=outsider_token)
        assert r.status_code == 404  # cannot see it at all


class TestOneVisibilityRule:
    async def test_user_access_hides_other_brands_grants(self, api, world):
        _, _, token = await account_admin(api, brand_id=world["brand"]["id"])
        agent = await api.user()
        mine = await api.grant(agent["id"], "viewer", account_id=world["acc"]["id"])
        theirs = await api.grant(agent["id"], "publisher", account_id=world["other_acc"]["id"])
        org = await api.grant(agent["id"], "viewer")
        # Elsewhere the other brand's grant is a 404 ...
        assert (await api.get(f"/v1/grants/{theirs['id']}", token=token)).status_code == 404
        listed = {g["id"] for g in (await api.get("/v1/grants", user_id=agent["id"], token=token)).json()["items"]}
        assert listed == {mine["id"]}
        # ... and the access report agrees.
        report = (await api.get(f"/v1/users/{agent['id']}/access", token=token)).json()
        shown = {e["grant"]["id"] for e in report["effective"] + report["not_effective"]}
        assert shown == {mine["id"]}
        # An admin sees all three.
        report = (await api.get(f"/v1/users/{agent['id']}/access")).json()
        assert {e["grant"]["id"] for e in report["effective"]} == {mine["id"], theirs["id"], org["id"]}

    async def test_a_service_reading_access_sees_a_grant_it_lists(self, api, world):
        u = await api.user()
        g = await api.grant(u["id"], "viewer", account_id=world["acc"]["id"])
        svc = (await api.ok("POST", "/v1/tokens", {"service_name": "hr-sync", "scopes": ["access:read"]}))["token"]
        assert g["id"] in {x["id"] for x in (await api.get("/v1/grants", token=svc)).json()["items"]}
        assert (await api.get(f"/v1/grants/{g['id']}", token=svc)).status_code == 200  # was 404
