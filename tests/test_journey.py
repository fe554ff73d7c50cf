"""The issue's "tried as a new user would" path, end to end over HTTP."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service


async def test_admin_sets_up_an_approver_then_revokes(api, session: AsyncSession):
    admin_id = (await api.get("/v1/me")).json()["id"]
    brand = await api.brand("Acme China")
    account = await api.account(brand["id"], platform="weibo", handle="acme_cn", region="CN")
    user = await api.user(email="li.wei@example.com", external_id="E1024", display_name="Li Wei",
                          training_valid_until="2027-06-30")
    grant = await api.grant(user["id"], "approver", account_id=account["id"], reason="editorial team")
    token = await api.token_for(user["id"], scopes=("posts:read", "posts:write"))

    seen = await api.get(f"/v1/accounts/{account['id']}", token=token)
    assert seen.status_code == 200 and seen.json()["handle"] == "acme_cn"
    assert [a["id"] for a in (await api.get("/v1/accounts", token=token)).json()["items"]] == [account["id"]]

    await api.ok("POST", f"/v1/grants/{grant['id']}/revoke", {"reason": "moved team"}, status=200)
    gone = await api.get(f"/v1/accounts/{account['id']}", token=token)
    assert gone.status_code == 404
    assert (await api.get("/v1/accounts", token=token)).json()["items"] == []

    records = (await api.get("/v1/audit", limit=200)).json()["items"]
    steps = [(r["action"], r["subject_id"]) for r in records if r["action"] != "token.created"]
    assert ("brand.created", brand["id"]) in steps
    assert ("account.created", account["id"]) in steps
    assert ("user.created", user["id"]) in steps
    assert ("grant.created", grant["id"]) in steps
    assert ("grant.revoked", grant["id"]) in steps
    mine = [r for r in records if r["subject_id"] in (brand["id"], account["id"], user["id"], grant["id"])]
    assert all(r["actor_id"] == admin_id and r["actor_kind"] == "user" for r in mine)
    revoked = next(r for r in records if r["action"] == "grant.revoked")
    assert revoked["before"]["revoked_at"] is None and revoked["after"]["revoke_reason"] == "moved team"

    await audit_service.seal_pending(session)
    await session.commit()
    verify = (await api.get("/v1/audit/verify")).json()
    assert verify["ok"] is True and verify["unsealed"] == 0 and verify["sealed"] >= len(records)
