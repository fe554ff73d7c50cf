"""Races on grants, with real concurrent requests against a committed database."""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.committed


async def test_thirty_identical_grants_leave_exactly_one(committed):
    api = committed.api
    brand = await api.brand()
    acc = await api.account(brand["id"])
    user = await api.user()
    body = {"user_id": user["id"], "role": "approver", "account_id": acc["id"], "reason": "race"}
    answers = await asyncio.gather(*(api.post("/v1/grants", body) for _ in range(30)))
    codes = Counter(r.status_code for r in answers)
    assert codes == {201: 1, 409: 29}, codes
    assert all(r.json()["code"] == "grant-exists" for r in answers if r.status_code == 409)
    async with committed.maker() as s:
        live = (await s.execute(text("SELECT count(*) FROM access_grants WHERE user_id = :u AND revoked_at IS NULL"),
                                {"u": user["id"]})).scalar()
        created = (await s.execute(text("SELECT count(*) FROM audit_records WHERE action = 'grant.created'"
                                        " AND after->>'user_id' = :u"), {"u": user["id"]})).scalar()
    assert live == 1 and created == 1


async def test_concurrent_grant_and_revoke_never_leave_an_unaudited_change(committed):
    api = committed.api
    brand = await api.brand()
    acc = await api.account(brand["id"])
    users = [await api.user() for _ in range(5)]
    body = lambda u: {"user_id": u["id"], "role": "viewer", "account_id": acc["id"], "reason": "race"}  # noqa: E731

    for _round in range(6):
        # Each user has one live grant; revoke it twice and re-grant it three times, all at once.
        live = {}
        for u in users:
            r = await api.post("/v1/grants", body(u))
            if r.status_code == 409:
                live[u["id"]] = r.json()["existing_grant_id"]
            else:
                live[u["id"]] = r.json()["id"]
        calls = []
        for u in users:
            calls += [api.post(f"/v1/grants/{live[u['id']]}/revoke", {"reason": "race"}) for _ in range(2)]
            calls += [api.post("/v1/grants", body(u)) for _ in range(3)]
        answers = await asyncio.gather(*calls)
        assert all(r.status_code in (200, 201, 409) for r in answers), [r.text for r in answers if r.status_code >= 500]

    async with committed.maker() as s:
        rows = (await s.execute(text(
            "SELECT g.id::text, g.revoked_at IS NOT NULL AS revoked,"
            " (SELECT count(*) FROM audit_records a WHERE a.subject_id = g.id::text AND a.action='grant.created') c,"
            " (SELECT count(*) FROM audit_records a WHERE a.subject_id = g.id::text AND a.action='grant.revoked') r"
            " FROM access_grants g WHERE g.account_id = :a"), {"a": acc["id"]})).all()
        per_user_live = (await s.execute(text(
            "SELECT user_id, count(*) FROM access_grants WHERE account_id = :a AND revoked_at IS NULL"
            " GROUP BY user_id"), {"a": acc["id"]})).all()
    assert rows
    for gid, revoked, created_records, revoked_records in rows:
        assert created_records == 1, gid
        assert revoked_records == (1 if revoked else 0), gid
    assert all(n <= 1 for _, n in per_user_live)
