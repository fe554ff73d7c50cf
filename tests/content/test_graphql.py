"""Content rules over GraphQL."""
from __future__ import annotations

CREATE = """mutation($i: CreateContentRuleInput!) { createContentRule(input: $i) {
  __typename ... on ContentRulePayload { rule { id kind terms severity scope accountId } }
  ... on Error { code status } ... on Problem { pointer } } }"""
LIST = "query($f: ContentRuleFilter) { contentRules(filter: $f) { items { id kind terms scope } nextCursor } }"


async def test_rules_of_an_account(gql, newsroom):
    data = await gql.data(LIST, {"f": {"accountId": newsroom.account["id"]}}, token=newsroom.author.token)
    assert sorted((r["kind"], r["scope"]) for r in data["contentRules"]["items"]) == [
        ("banned_term", "account"), ("sensitive_term", "account")]
    data = await gql.data(LIST, {"f": {"accountId": newsroom.account["id"], "kind": "banned_term"}},
                          token=newsroom.author.token)
    assert [r["terms"] for r in data["contentRules"]["items"]] == [["guaranteed returns", "稳赚"]]
    assert (await gql.data(LIST, {"f": {"accountId": newsroom.account["id"]}},
                           token=newsroom.outsider.token))["contentRules"]["items"] == []
    body = await gql(LIST, {"f": {"kind": "nonsense"}}, token=newsroom.author.token)
    assert body["errors"][0]["extensions"]["code"] == "validation-error"


async def test_create_rule(gql, newsroom):
    got = (await gql.data(CREATE, {"i": {"kind": "banned_term", "terms": ["free money"], "severity": "block",
                                         "accountId": newsroom.account["id"]}}))["createContentRule"]
    assert (got["rule"]["scope"], got["rule"]["terms"]) == ("account", ["free money"])
    got = (await gql.data(CREATE, {"i": {"kind": "max_length", "terms": ["x"], "severity": "block",
                                         "maxLength": 10}}))["createContentRule"]
    assert (got["code"], got["status"], got["pointer"]) == ("invalid-content-rule", 422, "#/terms")
    got = (await gql.data(CREATE, {"i": {"kind": "banned_term", "terms": ["x"], "severity": "block"}},
                          token=newsroom.author.token))["createContentRule"]
    assert (got["code"], got["status"]) == ("cannot-manage-content-rules", 403)
    got = (await gql.data(CREATE, {"i": {"kind": "banned", "terms": ["x"], "severity": "block"}}))["createContentRule"]
    assert (got["code"], got["pointer"]) == ("validation-error", "#/kind")
