"""A Problem's details carry every member REST's problem+json has, so a domain adds members to
its errors without changing the shared Problem type."""
from __future__ import annotations

QUERY = """mutation($input: %s!) { %s(input: $input) { __typename
  ... on Problem { code details currentStatus } } }"""


async def test_details_carry_the_domains_members(gql, flow, newsroom):
    post = await flow.draft("Quarterly update")
    got = await gql.data(QUERY % ("ApprovePostInput", "approvePost"),
                         {"input": {"postId": post["id"], "revision": 1}}, token=newsroom.editor.token)
    problem = got["approvePost"]
    assert problem["code"] == "invalid-transition"
    assert problem["details"]["currentStatus"] == "draft" == problem["currentStatus"]
    assert "submit" in problem["details"]["allowedTransitions"]


async def test_findings_arrive_in_details_camelcased(gql, flow, newsroom):
    post = await flow.draft("guaranteed returns for everyone")
    got = await gql.data(QUERY % ("SubmitPostInput", "submitPost"), {"input": {"postId": post["id"]}},
                         token=newsroom.author.token)
    problem = got["submitPost"]
    assert problem["code"] == "content-blocked"
    [finding] = problem["details"]["findings"]
    assert finding["ruleId"] and finding["severity"] == "block" and finding["match"] == "guaranteed returns"
