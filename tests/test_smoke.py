async def test_me_with_bootstrap_token(api):
    r = await api.get("/v1/me")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["admin"] is True and body["kind"] == "user"
