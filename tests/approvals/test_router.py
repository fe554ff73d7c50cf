from __future__ import annotations

import uuid

STAGES = [{"name": "editorial", "role": "approver", "min_approvals": 1, "when": "always"},
          {"name": "compliance", "role": "compliance", "min_approvals": 1, "when": "risk>=high"}]


class TestPolicies:
    async def test_create_read_replace(self, api):
        p = await api.ok("POST", "/v1/approval-policies", {"name": "regulated", "stages": STAGES})
        assert p["stages"][1] == {"name": "compliance", "role": "compliance", "min_approvals": 1, "when": "risk>=high"}
        r = await api.get(f"/v1/approval-policies/{p['id']}")
        assert r.headers["etag"] == '"1"'
        r = await api.client.put(f"/v1/approval-policies/{p['id']}", json={"name": "regulated", "stages": STAGES[:1]},
                                 headers=api.h(**{"If-Match": '"1"'}))
        assert r.status_code == 200 and r.json()["version"] == 2
        r = await api.client.put(f"/v1/approval-policies/{p['id']}", json={"name": "regulated", "stages": STAGES},
                                 headers=api.h(**{"If-Match": '"1"'}))
        assert r.status_code == 412
        assert (await api.post("/v1/approval-policies", {"name": "REGULATED", "stages": STAGES})).status_code == 409

    async def test_stage_validation(self, api):
        bad = [
            [{"name": "x", "when": "always"}],                                         # no decider
            [{"name": "x", "role": "approver", "approvers": [str(uuid.uuid4())]}],     # both
            [{"name": "x", "role": "viewer"}],                                         # cannot decide
            [{"name": "x", "role": "approver", "when": "risk>=extreme"}],
            [{"name": "x", "role": "approver"}, {"name": "X", "role": "publisher"}],   # duplicate names
            [{"name": "x", "approvers": [str(uuid.uuid4())], "min_approvals": 2}],
            [],
        ]
        for stages in bad:
            r = await api.post("/v1/approval-policies", {"name": f"p{uuid.uuid4()}", "stages": stages})
            assert r.status_code == 422 and r.json()["errors"][0]["pointer"].startswith("#/stages"), (stages, r.text)
        r = await api.post("/v1/approval-policies", {"name": "ghosts", "stages": [
            {"name": "legal", "approvers": [str(uuid.uuid4())], "mode": "all"}]})
        assert r.status_code == 422 and r.json()["code"] == "unknown-approver"
        assert r.json()["errors"][0]["pointer"] == "#/stages/0/approvers/0"

    async def test_only_admin_or_compliance_manage_and_attach(self, api):
        brand = await api.brand()
        acc = await api.account(brand["id"])
        boss = await api.user()
        await api.grant(boss["id"], "account_admin", account_id=acc["id"])
        bt = await api.token_for(boss["id"])
        assert (await api.post("/v1/approval-policies", {"name": "mine", "stages": STAGES}, token=bt)).status_code == 403
        p = await api.ok("POST", "/v1/approval-policies", {"name": "strict", "stages": STAGES})
        r = await api.patch(f"/v1/accounts/{acc['id']}", {"approval_policy_id": p["id"]}, token=bt)
        assert r.status_code == 403 and r.json()["errors"][0]["pointer"] == "#/approval_policy_id"
        officer = await api.user()
        await api.grant(officer["id"], "compliance")
        ot = await api.token_for(officer["id"])
        r = await api.patch(f"/v1/accounts/{acc['id']}", {"approval_policy_id": p["id"]}, token=ot)
        assert r.status_code == 200 and r.json()["approval_policy_id"] == p["id"]
        # ...but compliance does not administer the account otherwise
        r = await api.patch(f"/v1/accounts/{acc['id']}", {"region": "US"}, token=ot)
        assert r.status_code == 403
        r = await api.patch(f"/v1/accounts/{acc['id']}", {"approval_policy_id": None})
        assert r.status_code == 200 and r.json()["approval_policy_id"] is None
        r = await api.patch(f"/v1/brands/{brand['id']}", {"approval_policy_id": str(uuid.uuid4())})
        assert r.status_code == 404 and r.json()["code"] == "approval-policy-not-found"

    async def test_default_policy(self, api):
        got = (await api.get("/v1/approval-policies/default")).json()
        assert got["policy_id"] is None and got["builtin_stages"][0]["role"] == "approver"
        p = await api.ok("POST", "/v1/approval-policies", {"name": "org", "stages": STAGES})
        r = await api.client.put("/v1/approval-policies/default", json={"policy_id": p["id"]}, headers=api.h())
        assert r.status_code == 200 and r.json()["policy"]["is_default"] is True
        listed = (await api.get("/v1/approval-policies")).json()["items"]
        assert [x["is_default"] for x in listed if x["id"] == p["id"]] == [True]
        actions = [a["action"] for a in (await api.get("/v1/audit", subject_type="organization")).json()["items"]]
        assert actions == ["approval_policy.default_set"]
