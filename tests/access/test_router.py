"""Grant and revoke rules (DESIGN section 1)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.access import world  # noqa: F401


def later(**kw) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat()


class TestCreateGrant:
    async def test_admin_grants_on_account_and_user_sees_it(self, api, world):
        user = await api.user()
        g = await api.grant(user["id"], "approver", account_id=world["acc"]["id"])
        assert g["scope_kind"] == "account" and g["active"] is True and g["granted_by_id"]
        token = await api.token_for(user["id"])
        r = await api.get(f"/v1/accounts/{world['acc']['id']}", token=token)
        assert r.status_code == 200
        # Not the other account of the brand: account-scoped grants are narrow, and hidden is 404.
        r = await api.get(f"/v1/accounts/{world['acc2']['id']}", token=token)
        assert r.status_code == 404 and r.json()["code"] == "account-not-found"
        listed = (await api.get("/v1/accounts", token=token)).json()["items"]
        assert [a["id"] for a in listed] == [world["acc"]["id"]]

    async def test_brand_grant_covers_every_account_of_the_brand_only(self, api, world):
        user = await api.user()
        await api.grant(user["id"], "viewer", brand_id=world["brand"]["id"])
        token = await api.token_for(user["id"])
        ids = {a["id"] for a in (await api.get("/v1/accounts", token=token)).json()["items"]}
        assert ids == {world["acc"]["id"], world["acc2"]["id"]}
        assert (await api.get(f"/v1/accounts/{world['other_acc']['id']}", token=token)).status_code == 404
        brands = {b["id"] for b in (await api.get("/v1/brands", token=token)).json()["items"]}
        assert brands == {world["brand"]["id"]}

    async def test_identical_live_grant_is_refused(self, api, world):
        user = await api.user()
        first = await api.grant(user["id"], "contributor", account_id=world["acc"]["id"])
        r = await api.post("/v1/grants", {"user_id": user["id"], "role": "contributor",
                                          "account_id": world["acc"]["id"], "reason": "again"})
        assert r.status_code == 409
        assert r.json()["code"] == "grant-exists" and r.json()["existing_grant_id"] == first["id"]

    async def test_training_required_for_approver_publisher_admin(self, api, world):
        untrained = await api.user(training=None)
        lapsed = await api.user(training="2020-01-01")
        for user in (untrained, lapsed):
            for role in ("approver", "publisher", "account_admin"):
                r = await api.post("/v1/grants", {"user_id": user["id"], "role": role,
                                                  "account_id": world["acc"]["id"], "reason": "x"})
                assert r.status_code == 409 and r.json()["code"] == "training-required", r.text
            # contributor needs no training
            await api.grant(user["id"], "contributor", account_id=world["acc"]["id"])

    async def test_review_roles_are_organisation_wide(self, api, world):
        user = await api.user()
        r = await api.post("/v1/grants", {"user_id": user["id"], "role": "compliance",
                                          "brand_id": world["brand"]["id"], "reason": "x"})
        assert r.status_code == 422 and r.json()["code"] == "invalid-grant-scope"
        g = await api.grant(user["id"], "compliance")
        assert g["scope_kind"] == "organization"

    async def test_both_account_and_brand_is_invalid(self, api, world):
        user = await api.user()
        r = await api.post("/v1/grants", {"user_id": user["id"], "role": "viewer", "reason": "x",
                                          "account_id": world["acc"]["id"], "brand_id": world["brand"]["id"]})
        assert r.status_code == 422

    async def test_expiry_must_be_in_the_future(self, api, world):
        user = await api.user()
        r = await api.post("/v1/grants", {"user_id": user["id"], "role": "viewer", "reason": "x",
                                          "account_id": world["acc"]["id"],
                                          "expires_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()})
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/expires_at"

    async def test_inactive_user_cannot_be_granted(self, api, world):
        user = await api.user()
        await api.ok("PATCH", f"/v1/users/{user['id']}", {"status": "suspended"})
        r = await api.post("/v1/grants", {"user_id": user["id"], "role": "viewer", "reason": "x",
                                          "account_id": world["acc"]["id"]})
        assert r.status_code == 409 and r.json()["code"] == "user-not-active"

    async def test_unknown_user_or_account_is_404(self, api, world):
        import uuid

        user = await api.user()
        r = await api.post("/v1/grants", {"user_id": str(uuid.uuid4()), "role": "viewer", "reason": "x",
                                          "account_id": world["acc"]["id"]})
        assert r.status_code == 404
        r = await api.post("/v1/grants", {"user_id": user["id"], "role": "viewer", "reason": "x",
                                          "account_id": str(uuid.uuid4())})
        assert r.status_code == 404 and r.json()["errors"][0]["pointer"] == "#/account_id"


class TestWhoMayGrant:
    async def test_account_admin_grants_within_their_account_only(self, api, world):
        boss = await api.user()
        await api.grant(boss["id"], "account_admin", account_id=world["acc"]["id"])
        boss_token = await api.token_for(boss["id"])
        member = await api.user()
        g = await api.grant(member["id"], "publisher", account_id=world["acc"]["id"], token=boss_token)
        assert g["granted_by_id"] == boss["id"]
        # Another account of the same brand: not theirs to give (and invisible: 404).
        r = await api.post("/v1/grants", {"user_id": member["id"], "role": "viewer", "reason": "x",
                                          "account_id": world["acc2"]["id"]}, token=boss_token)
        assert r.status_code == 404
        # The brand or the organisation: more than they hold.
        r = await api.post("/v1/grants", {"user_id": member["id"], "role": "viewer", "reason": "x",
                                          "brand_id": world["brand"]["id"]}, token=boss_token)
        assert r.status_code == 403 and r.json()["code"] == "cannot-grant"
        r = await api.post("/v1/grants", {"user_id": member["id"], "role": "viewer", "reason": "x"},
                           token=boss_token)
        assert r.status_code == 403

    async def test_non_admin_roles_cannot_grant(self, api, world):
        for role in ("viewer", "contributor", "approver", "publisher"):
            holder = await api.user()
            await api.grant(holder["id"], role, account_id=world["acc"]["id"])
            token = await api.token_for(holder["id"])
            other = await api.user()
            r = await api.post("/v1/grants", {"user_id": other["id"], "role": "viewer", "reason": "x",
                                              "account_id": world["acc"]["id"]}, token=token)
            assert r.status_code == 403 and r.json()["code"] == "cannot-grant", (role, r.text)

    async def test_only_admin_grants_review_and_admin_roles(self, api, world):
        boss = await api.user()
        await api.grant(boss["id"], "account_admin")  # organisation-wide account admin
        token = await api.token_for(boss["id"])
        other = await api.user()
        for role in ("compliance", "legal", "crisis_lead", "admin"):
            r = await api.post("/v1/grants", {"user_id": other["id"], "role": role, "reason": "x"}, token=token)
            assert r.status_code == 403, r.text

    async def test_time_boxed_admin_cannot_grant_beyond_own_expiry(self, api, world):
        agency = await api.user(kind="agency")
        ends = later(days=30)
        await api.grant(agency["id"], "account_admin", account_id=world["acc"]["id"], expires_at=ends)
        token = await api.token_for(agency["id"])
        member = await api.user(kind="agency")
        body = {"user_id": member["id"], "role": "contributor", "reason": "x", "account_id": world["acc"]["id"]}
        r = await api.post("/v1/grants", body, token=token)  # no expiry = forever
        assert r.status_code == 403 and r.json()["code"] == "grant-exceeds-holder"
        r = await api.post("/v1/grants", {**body, "expires_at": later(days=60)}, token=token)
        assert r.status_code == 403
        r = await api.post("/v1/grants", {**body, "expires_at": later(days=10)}, token=token)
        assert r.status_code == 201

    async def test_token_scope_limits_a_user_with_grants(self, api, world):
        boss = await api.user()
        await api.grant(boss["id"], "account_admin", account_id=world["acc"]["id"])
        token = await api.token_for(boss["id"], scopes=("posts:read",))
        other = await api.user()
        r = await api.post("/v1/grants", {"user_id": other["id"], "role": "viewer", "reason": "x",
                                          "account_id": world["acc"]["id"]}, token=token)
        assert r.status_code == 403 and r.json()["code"] == "insufficient-scope"


class TestRevoke:
    async def test_revoke_stamps_and_removes_access(self, api, world):
        user = await api.user()
        g = await api.grant(user["id"], "approver", account_id=world["acc"]["id"])
        token = await api.token_for(user["id"])
        assert (await api.get(f"/v1/accounts/{world['acc']['id']}", token=token)).status_code == 200
        r = await api.post(f"/v1/grants/{g['id']}/revoke", {"reason": "left the team"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["revoked_at"] and body["revoke_reason"] == "left the team" and body["active"] is False
        assert body["revoked_by_id"]
        assert (await api.get(f"/v1/accounts/{world['acc']['id']}", token=token)).status_code == 404
        # Never deleted: still listed, inactive.
        rows = (await api.get("/v1/grants", user_id=user["id"])).json()["items"]
        assert [x["id"] for x in rows] == [g["id"]] and rows[0]["active"] is False
        again = await api.post(f"/v1/grants/{g['id']}/revoke", {"reason": "twice"})
        assert again.status_code == 409 and again.json()["code"] == "grant-already-revoked"

    async def test_regrant_after_revoke_makes_a_new_grant(self, api, world):
        user = await api.user()
        g = await api.grant(user["id"], "viewer", account_id=world["acc"]["id"])
        await api.ok("POST", f"/v1/grants/{g['id']}/revoke", {"reason": "x"}, status=200)
        g2 = await api.grant(user["id"], "viewer", account_id=world["acc"]["id"])
        assert g2["id"] != g["id"]

    async def test_account_admin_cannot_revoke_outside_scope(self, api, world):
        boss = await api.user()
        await api.grant(boss["id"], "account_admin", account_id=world["acc"]["id"])
        token = await api.token_for(boss["id"])
        user = await api.user()
        elsewhere = await api.grant(user["id"], "viewer", account_id=world["acc2"]["id"])
        r = await api.post(f"/v1/grants/{elsewhere['id']}/revoke", {"reason": "x"}, token=token)
        assert r.status_code == 404
        mine = await api.grant(user["id"], "viewer", account_id=world["acc"]["id"])
        r = await api.post(f"/v1/grants/{mine['id']}/revoke", {"reason": "x"}, token=token)
        assert r.status_code == 200

    async def test_revoke_needs_reason(self, api, world):
        user = await api.user()
        g = await api.grant(user["id"], "viewer", account_id=world["acc"]["id"])
        r = await api.post(f"/v1/grants/{g['id']}/revoke", {})
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/reason"


class TestEffectiveAccess:
    async def test_expired_grant_is_never_effective(self, api, world, session):
        from sqlalchemy import text

        user = await api.user()
        g = await api.grant(user["id"], "approver", account_id=world["acc"]["id"], expires_at=later(hours=1))
        token = await api.token_for(user["id"])
        assert (await api.get(f"/v1/accounts/{world['acc']['id']}", token=token)).status_code == 200
        # Time passes (the row is not stamped: expiry is judged at read time).
        await session.execute(text("UPDATE access_grants SET expires_at = now() - interval '1 second'"
                                   " WHERE id = :id"), {"id": g["id"]})
        await session.commit()
        assert (await api.get(f"/v1/accounts/{world['acc']['id']}", token=token)).status_code == 404
        access = (await api.get(f"/v1/users/{user['id']}/access")).json()
        assert access["effective"] == []
        assert access["not_effective"][0]["not_effective_because"] == "expired"
        me = (await api.get("/v1/me", token=token)).json()
        assert me["grants"] == []
        # An identical new grant is possible: the expired one gets stamped.
        g2 = await api.grant(user["id"], "approver", account_id=world["acc"]["id"])
        assert g2["id"] != g["id"]
        old = (await api.get(f"/v1/grants/{g['id']}")).json()
        assert old["revoked_at"] and old["revoke_reason"] == "expired"

    async def test_lapsed_training_caps_role_at_contributor(self, api, world, session):
        from sqlalchemy import text

        user = await api.user()
        await api.grant(user["id"], "publisher", account_id=world["acc"]["id"])
        await session.execute(text("UPDATE users SET training_valid_until = current_date - 1 WHERE id = :id"),
                              {"id": user["id"]})
        await session.commit()
        access = (await api.get(f"/v1/users/{user['id']}/access")).json()
        [entry] = access["effective"]
        assert entry["effective_role"] == "contributor" and entry["not_effective_because"] == "training_expired"

    async def test_suspended_or_offboarded_user_holds_nothing(self, api, world):
        for status in ("suspended", "offboarded"):
            user = await api.user()
            await api.grant(user["id"], "viewer", account_id=world["acc"]["id"])
            token = await api.token_for(user["id"])
            await api.ok("PATCH", f"/v1/users/{user['id']}", {"status": status})
            # Their token answers 401 at once.
            r = await api.get("/v1/me", token=token)
            assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
            access = (await api.get(f"/v1/users/{user['id']}/access")).json()
            assert access["status"] == status and access["effective"] == []
            # Reinstatement does not silently restore anything.
            await api.ok("PATCH", f"/v1/users/{user['id']}", {"status": "active"})
            assert (await api.get(f"/v1/users/{user['id']}/access")).json()["effective"] == []
            assert (await api.get("/v1/me", token=token)).status_code == 401

    async def test_offboarding_flags_owned_accounts(self, api, world):
        owner = await api.user()
        acc = await api.account(world["brand"]["id"], owner_id=owner["id"], credential_custodian_id=owner["id"])
        assert acc["needs_owner"] is False
        await api.ok("PATCH", f"/v1/users/{owner['id']}", {"status": "offboarded"})
        after = (await api.get(f"/v1/accounts/{acc['id']}")).json()
        assert after["needs_owner"] is True and after["credentials_rotation_required"] is True


class TestListGrants:
    async def test_filters_and_visibility(self, api, world):
        boss = await api.user()
        await api.grant(boss["id"], "account_admin", account_id=world["acc"]["id"])
        token = await api.token_for(boss["id"])
        u1, u2 = await api.user(), await api.user()
        await api.grant(u1["id"], "viewer", account_id=world["acc"]["id"])
        await api.grant(u2["id"], "viewer", account_id=world["other_acc"]["id"])
        seen = {g["user_id"] for g in (await api.get("/v1/grants", token=token)).json()["items"]}
        assert seen == {boss["id"], u1["id"]}  # their own and those of the account they administer
        by_acc = (await api.get("/v1/grants", account_id=world["other_acc"]["id"])).json()["items"]
        assert [g["user_id"] for g in by_acc] == [u2["id"]]
        # a plain user sees only their own grants
        t1 = await api.token_for(u1["id"], scopes=("access:read",))
        assert {g["user_id"] for g in (await api.get("/v1/grants", token=t1)).json()["items"]} == {u1["id"]}
