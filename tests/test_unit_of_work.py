"""The request's transaction commits before the response leaves; a failed commit is a 5xx."""
from __future__ import annotations

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.committed

FAIL_AT_COMMIT = ["""
CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.name = 'fail at commit' THEN RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'P0001'; END IF;
  RETURN NEW;
END $$
""", """
CREATE CONSTRAINT TRIGGER brands_fail_at_commit AFTER INSERT ON brands
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit()
"""]


async def test_failed_commit_is_a_5xx_and_leaves_nothing(committed):
    async with committed.engine.begin() as conn:
        for stmt in FAIL_AT_COMMIT:
            await conn.execute(text(stmt))
    r = await committed.api.post("/v1/brands", {"name": "fail at commit"})
    assert r.status_code == 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "internal-error" and "refused" not in r.text  # no internals leak
    async with committed.maker() as s:
        assert (await s.execute(text("SELECT count(*) FROM brands WHERE name = 'fail at commit'"))).scalar() == 0
        audited = (await s.execute(text("SELECT count(*) FROM audit_records WHERE action = 'brand.created'"))).scalar()
    assert audited == 0


async def test_committed_before_response(committed):
    """The commit happens before ``http.response.start`` leaves the app: recorded in order at
    the ASGI boundary and at the engine. A commit moved after the response (a yield
    dependency's teardown, a background task) puts "commit" after "response" and fails."""
    from sqlalchemy import event

    from app.main import create_app
    from tests.support.app import make_client, settings_for

    order: list[str] = []

    def on_commit(conn):
        order.append("commit")

    event.listen(committed.engine.sync_engine, "commit", on_commit)
    inner = create_app(settings_for(committed.url), sessionmaker=committed.maker)

    async def recording(scope, receive, send):
        async def sending(message):
            if message["type"] == "http.response.start":
                order.append("response")
            await send(message)
        await inner(scope, receive, sending)

    try:
        async with make_client(recording) as client:
            r = await client.post("/v1/brands", json={"name": "visible at once"}, headers=committed.api.h())
    finally:
        event.remove(committed.engine.sync_engine, "commit", on_commit)
    assert r.status_code == 201
    assert "response" in order and "commit" in order[:order.index("response")], order
    assert "commit" not in order[order.index("response"):], order
    # Another connection sees it the moment the response arrived.
    async with committed.maker() as s:
        assert (await s.execute(text("SELECT count(*) FROM brands WHERE name = 'visible at once'"))).scalar() == 1
