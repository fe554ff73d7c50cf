"""Nobody can lock everyone out: the last working admin cannot be removed, and the bootstrap
recovers from any state it is left in."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from app.bootstrap import BOOTSTRAP_EMAIL, bootstrap_admin
from app.security import hash_token


async def me(api, token=None):
    return await api.get("/v1/me", token=token)


async def bootstrap_user_id(api) -> str:
    return (await me(api)).json()["id"]


async def second_admin(api) -> tuple[dict, str]:
    u = await api.user()
    await api.grant(u["id"], "admin")
    return u, await api.token_for(u["id"], scopes=("admin",))


class TestTheLastAdminStays:
    @pytest.mark.parametrize("status", ["offboarded", "suspended"])
    async def test_the_only_admin_cannot_remove_itself(self, api, status):
        uid = await bootstrap_user_id(api)
        r = await api.patch(f"/v1/users/{uid}", {"status": status})
        assert r.status_code == 409 and r.json()["code"] == "last-admin", r.text
        assert "nobody able to administer" in r.json()["detail"]
        assert (await me(api)).status_code == 200  # token, grant and user untouched
        assert (await api.get(f"/v1/users/{uid}")).json()["status"] == "active"

    async def test_nor_revoke_its_last_admin_grant(self, api):
        uid = await bootstrap_user_id(api)
        [grant] = (await api.get("/v1/grants", user_id=uid, active="true")).json()["items"]
        r = await api.post(f"/v1/grants/{grant['id']}/revoke", {"reason": "oops"})
        assert r.status_code == 409 and r.json()["code"] == "last-admin"
        assert (await api.get(f"/v1/grants/{grant['id']}")).json()["active"] is True

    async def test_nor_its_last_admin_token(self, api):
        [tok] = (await api.get("/v1/tokens")).json()["items"]
        r = await api.client.delete(f"/v1/tokens/{tok['id']}", headers=api.h())
        assert r.status_code == 409 and r.json()["code"] == "last-admin"
        assert (await me(api)).status_code == 200

    async def test_an_admin_without_an_admin_token_does_not_count(self, api):
        # A second admin who holds only a posts:read token could not administer anything.
        u = await api.user()
        await api.grant(u["id"], "admin")
        await api.token_for(u["id"], scopes=("posts:read",))
        r = await api.patch(f"/v1/users/{await bootstrap_user_id(api)}", {"status": "offboarded"})
        assert r.status_code == 409 and r.json()["code"] == "last-admin"

    async def test_with_a_second_working_admin_it_can_go(self, api):
        _, other = await second_admin(api)
        uid = await bootstrap_user_id(api)
        r = await api.patch(f"/v1/users/{uid}", {"status": "offboarded"}, token=other)
        assert r.status_code == 200 and r.json()["status"] == "offboarded"
        # ... and then the second admin is the last one.
        mine = (await me(api, other)).json()["id"]
        r = await api.patch(f"/v1/users/{mine}", {"status": "offboarded"}, token=other)
        assert r.status_code == 409 and r.json()["code"] == "last-admin"

    async def test_an_admin_service_token_keeps_administration_possible(self, api):
        await api.ok("POST", "/v1/tokens", {"service_name": "breakglass", "scopes": ["admin"]})
        r = await api.patch(f"/v1/users/{await bootstrap_user_id(api)}", {"status": "suspended"})
        assert r.status_code == 200

    async def test_offboarding_is_audited_as_such_with_its_effects(self, api):
        _, other = await second_admin(api)
        brand = await api.brand()
        u = await api.user()
        acc = await api.account(brand["id"], owner_id=u["id"])
        g = await api.grant(u["id"], "viewer", account_id=acc["id"])
        t = await api.ok("POST", "/v1/tokens", {"user_id": u["id"], "scopes": ["posts:read"]})
        await api.ok("PATCH", f"/v1/users/{u['id']}", {"status": "offboarded"}, token=other)
        [rec] = (await api.get("/v1/audit", subject_id=u["id"], action="user.offboarded")).json()["items"]
        assert rec["after"]["status"] == "offboarded"
        assert rec["after"]["revoked_grant_ids"] == [g["id"]]
        assert rec["after"]["revoked_token_ids"] == [t["id"]]
        assert rec["after"]["flagged_account_ids"] == [acc["id"]]
        await api.ok("PATCH", f"/v1/users/{u['id']}", {"status": "active"}, token=other)
        assert (await api.get("/v1/audit", subject_id=u["id"], action="user.reinstated")).json()["items"]


@pytest.mark.committed
async def test_two_admins_removing_each_other_at_once_leave_one(committed):
    api = committed.api
    a, ta = await second_admin(api)
    b, tb = await second_admin(api)
    boot = await bootstrap_user_id(api)
    await api.ok("PATCH", f"/v1/users/{boot}", {"status": "offboarded"}, token=ta)
    for _ in range(3):
        results = await asyncio.gather(
            api.patch(f"/v1/users/{b['id']}", {"status": "offboarded"}, token=ta),
            api.patch(f"/v1/users/{a['id']}", {"status": "offboarded"}, token=tb),
        )
        codes = sorted(r.status_code for r in results)
        # the loser is refused: its token already revoked (401), its admin role gone (404 or 403), or the last-admin check (409)
        assert codes[0] == 200 and codes[1] in (401, 403, 404, 409), [r.text for r in results]
        # Whoever won is still a working admin; bring the other back for the next round.
        winner = ta if results[0].status_code == 200 else tb
        loser = b if results[0].status_code == 200 else a
        assert (await me(api, winner)).status_code == 200
        await api.ok("PATCH", f"/v1/users/{loser['id']}", {"status": "active"}, token=winner)
        await api.grant(loser["id"], "admin", token=winner)
        fresh = (await api.ok("POST", "/v1/tokens", {"user_id": loser["id"], "scopes": ["admin"]},
                              token=winner))["token"]
        ta, tb = (winner, fresh) if winner == ta else (fresh, winner)


class TestBootstrapRecovers:
    TOKEN = "sgv_" + "b" * 40

    async def boot(self, maker, token=TOKEN):
        async with maker() as s:
            got = await bootstrap_admin(s, token)
            await s.commit()
        return got

    async def lock_out(self, session, *statements):
        for sql in statements:
            await session.execute(text(sql))
        await session.commit()

    async def test_idempotent_while_an_admin_works(self, maker, api):
        assert await self.boot(maker) is None
        assert await self.boot(maker) is None

    @pytest.mark.parametrize("lockout", [
        # the token revoked
        ["UPDATE api_tokens SET revoked_at = now()"],
        # the owner offboarded behind the service's back
        ["UPDATE users SET status = 'offboarded'"],
        # every admin grant revoked and the token expired
        ["UPDATE access_grants SET revoked_at = now() WHERE revoked_at IS NULL",
         "UPDATE api_tokens SET expires_at = now() - interval '1 second'"],
        # all of it at once
        ["UPDATE api_tokens SET revoked_at = now()", "UPDATE users SET status = 'offboarded'",
         "UPDATE access_grants SET revoked_at = now() WHERE revoked_at IS NULL"],
    ])
    async def test_the_configured_token_works_again(self, maker, session, client, lockout):
        from tests.support.app import Api

        assert await self.boot(maker) == self.TOKEN  # first start
        api = Api(client, self.TOKEN)
        await self.lock_out(session, *lockout)
        assert (await me(api)).status_code == 401 or not (await me(api)).json()["admin"]
        assert await self.boot(maker) == self.TOKEN  # was a unique violation of the token hash
        r = await me(api)
        assert r.status_code == 200 and r.json()["admin"] is True and r.json()["email"] == BOOTSTRAP_EMAIL
        rows = (await session.execute(text("SELECT count(*) FROM api_tokens WHERE token_hash = :h"),
                                      {"h": hash_token(self.TOKEN)})).scalar()
        assert rows == 1
        assert await self.boot(maker) is None  # and the next start does nothing

    async def test_a_random_token_when_none_is_configured(self, maker, session, client):
        from tests.support.app import Api

        first = await self.boot(maker, None)
        await self.lock_out(session, "UPDATE api_tokens SET revoked_at = now()")
        second = await self.boot(maker, None)
        assert second and second != first
        assert (await me(Api(client, second))).json()["admin"] is True
