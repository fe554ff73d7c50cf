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
    r = await committed.api.post("/v1/brands", {"name": "visible at once"})
    assert r.status_code == 201
    # Another connection sees it the moment the response arrived.
    async with committed.maker() as s:
        assert (await s.execute(text("SELECT count(*) FROM brands WHERE name = 'visible at once'"))).scalar() == 1
