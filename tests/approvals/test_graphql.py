"""Approval policies over GraphQL."""
from __future__ import annotations

POLICY = "id name version isDefault stages { name role minApprovals approvers mode when }"
CREATE = f"""mutation($i: CreateApprovalPolicyInput!) {{ createApprovalPolicy(input: $i) {{
  __typename ... on ApprovalPolicyPayload {{ policy {{ {POLICY} }} }}
  ... on Error {{ code status }} ... on Problem {{ pointer errors {{ pointer }} }} }} }}"""


async def test_policies_read_like_rest(api, gql, newsroom):
    t = newsroom.author.token
    data = await gql.data(f"query($id: UUID!) {{ approvalPolicy(id: $id) {{ {POLICY} }} }}",
                          {"id": newsroom.policy["id"]}, token=t)
    got = data["approvalPolicy"]
    assert (got["name"], got["isDefault"]) == (newsroom.policy["name"], False)
    assert [(s["name"], s["role"], s["minApprovals"], s["when"]) for s in got["stages"]] == [
        ("editorial", "approver", 1, "always"), ("compliance", "compliance", 1, "risk>=high")]
    listed = await gql.data("{ approvalPolicies(first: 200) { items { id } nextCursor } }", token=t)
    assert newsroom.policy["id"] in [p["id"] for p in listed["approvalPolicies"]["items"]]
    await api.ok("PUT", "/v1/approval-policies/default", {"policy_id": newsroom.policy["id"]}, status=200)
    q = f"{{ defaultApprovalPolicy {{ policyId policy {{ {POLICY} }} builtinStages {{ name role }} }} }}"
    data = await gql.data(q, token=t)
    default = data["defaultApprovalPolicy"]
    assert default["policyId"] == newsroom.policy["id"] and default["policy"]["isDefault"] is True
    assert default["builtinStages"] == [{"name": "review", "role": "approver"}]
    body = await gql("query($id: UUID!) { approvalPolicy(id: $id) { id } }",
                     {"id": "00000000-0000-4000-8000-000000000000"}, token=t)
    assert body["errors"][0]["extensions"]["code"] == "approval-policy-not-found"


async def test_create_policy(gql, newsroom):
    stages = [{"name": "editorial", "role": "approver"},
              {"name": "legal", "approvers": [newsroom.editor.id], "mode": "all", "when": "label:contest"}]
    got = await gql.data(CREATE, {"i": {"name": "contests", "stages": stages}})
    policy = got["createApprovalPolicy"]["policy"]
    assert [(s["name"], s["minApprovals"], s["approvers"], s["mode"]) for s in policy["stages"]] == [
        ("editorial", 1, None, None), ("legal", None, [newsroom.editor.id], "all")]
    again = (await gql.data(CREATE, {"i": {"name": "contests", "stages": stages}}))["createApprovalPolicy"]
    assert (again["code"], again["status"], again["pointer"]) == ("approval-policy-name-taken", 409, "#/name")
    bad = [{"name": "x", "role": "approver", "approvers": [newsroom.editor.id]}]
    got = (await gql.data(CREATE, {"i": {"name": "bad", "stages": bad}}))["createApprovalPolicy"]
    assert (got["code"], got["errors"][0]["pointer"]) == ("validation-error", "#/stages/0")
    got = (await gql.data(CREATE, {"i": {"name": "mine", "stages": stages[:1]}},
                          token=newsroom.author.token))["createApprovalPolicy"]
    assert (got["code"], got["status"]) == ("forbidden", 403)
