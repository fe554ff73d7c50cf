async def test_me_over_graphql_uses_the_same_authentication(api):
    q = {"query": "{ me { kind name admin scopes grants { role scopeKind } } }"}
    r = await api.client.post("/graphql", json=q, headers=api.h())
    assert r.status_code == 200, r.text
    me = r.json()["data"]["me"]
    assert me["admin"] is True and me["grants"][0] == {"role": "admin", "scopeKind": "organization"}


async def test_graphql_without_token_says_unauthenticated(client):
    r = await client.post("/graphql", json={"query": "{ me { name } }"})
    body = r.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "unauthenticated"


async def test_graphql_with_bad_token_is_401_problem(client):
    r = await client.post("/graphql", json={"query": "{ me { name } }"},
                          headers={"Authorization": "Bearer sgv_nope"})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


async def test_a_bad_variable_is_the_callers_error_not_an_internal_one(api):
    q = {"query": "query($id: UUID!) { post(id: $id) { id } }", "variables": {"id": "not-a-uuid"}}
    body = (await api.client.post("/graphql", json=q, headers=api.h())).json()
    [error] = body["errors"]
    assert error["extensions"] == {"code": "validation-error", "status": 422, "pointer": "#/variables/id"}
    assert "UUID" in error["message"] and body["data"] is None


async def test_a_document_graphql_refuses_has_a_stable_code(api):
    q = {"query": "{ me { nosuchfield } }"}
    body = (await api.client.post("/graphql", json=q, headers=api.h())).json()
    assert body["errors"][0]["extensions"] == {"code": "invalid-query", "status": 400}
