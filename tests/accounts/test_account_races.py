"""Concurrent PATCHes never lose an update (committed tier, real concurrent requests)."""
from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.committed


async def test_twenty_concurrent_patches_all_apply_in_some_order(committed):
    api = committed.api
    brand = await api.brand()
    acc = await api.account(brand["id"])
    answers = await asyncio.gather(*(api.patch(f"/v1/accounts/{acc['id']}", {"display_name": f"name {i}"})
                                     for i in range(20)))
    assert [r.status_code for r in answers] == [200] * 20, [r.text for r in answers if r.status_code != 200]
    final = (await api.get(f"/v1/accounts/{acc['id']}")).json()
    assert final["version"] == 21
    records = (await api.get("/v1/audit", subject_id=acc["id"], action="account.updated", limit=100)).json()["items"]
    assert len(records) == 20
    # The audit trail is one unbroken sequence of changes: each before is the previous after.
    chain = [None] + [r["after"]["display_name"] for r in records]
    assert [r["before"]["display_name"] for r in records] == chain[:-1]
    assert final["display_name"] == chain[-1]


async def test_concurrent_if_match_exactly_one_wins(committed):
    api = committed.api
    brand = await api.brand()
    answers = await asyncio.gather(*(api.patch(f"/v1/brands/{brand['id']}", {"description": f"d{i}"},
                                               **{"If-Match": '"1"'}) for i in range(10)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [412] * 9, codes
    assert (await api.get(f"/v1/brands/{brand['id']}")).json()["version"] == 2


async def test_concurrent_user_patches(committed):
    api = committed.api
    user = await api.user()
    answers = await asyncio.gather(*(api.patch(f"/v1/users/{user['id']}", {"display_name": f"u{i}"})
                                     for i in range(10)))
    assert all(r.status_code == 200 for r in answers)
    assert (await api.get(f"/v1/users/{user['id']}")).json()["version"] == 11
