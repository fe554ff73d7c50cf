"""The audit hash chain against a committed database: concurrent writers and sealers,
out-of-order commits, and tampering behind the product's back."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text

from app.audit import jobs, service
from app.security import SYSTEM

pytestmark = pytest.mark.committed


@contextlib.asynccontextmanager
async def superuser(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A raw connection outside the app's pool, with triggers off (session_replication_role)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute("SET session_replication_role = replica")
        yield conn
    finally:
        await conn.close()


async def chain_facts(committed) -> dict:
    async with committed.maker() as s:
        row = (await s.execute(text(
            "SELECT count(*) AS rows, count(seq) AS sealed, array_agg(seq ORDER BY seq) AS seqs,"
            " count(DISTINCT prev_hash) AS prevs FROM audit_records"))).mappings().one()
    return dict(row)


async def test_concurrent_writers_and_three_sealers_build_one_unforked_chain(committed):
    api = committed.api
    writers_done = asyncio.Event()
    gate = asyncio.Semaphore(12)

    async def sealer() -> int:
        sealed = 0
        while not writers_done.is_set():
            sealed += await jobs.seal_once(committed.maker)
            await asyncio.sleep(0)
        return sealed

    async def writer(i: int) -> None:
        async with gate:
            await api.brand(f"Concurrent brand {i}")

    sealers = [asyncio.create_task(sealer()) for _ in range(3)]
    try:
        await asyncio.gather(*(writer(i) for i in range(90)))
    finally:
        writers_done.set()
        await asyncio.gather(*sealers)
    await jobs.seal_once(committed.maker)

    facts = await chain_facts(committed)
    assert facts["rows"] >= 90
    assert facts["sealed"] == facts["rows"]
    assert facts["seqs"] == list(range(1, facts["rows"] + 1))
    assert facts["prevs"] == facts["rows"]  # no two records chained to the same predecessor
    result = await api.ok("GET", "/v1/audit/verify")
    assert result["ok"] is True, result
    assert result["head_seq"] == facts["rows"] and result["unsealed"] == 0


async def test_records_committed_out_of_id_order_still_seal_into_one_chain(committed):
    await jobs.seal_once(committed.maker)  # the bootstrap's records
    async with committed.maker() as slow, committed.maker() as fast:
        await service.record(slow, SYSTEM, "slow.made", "race", "slow")  # takes the lower id ...
        await service.record(fast, SYSTEM, "fast.made", "race", "fast")
        await fast.commit()
        # ... but is not committed yet: the sealer neither waits for it nor skips past it for good.
        assert await jobs.seal_once(committed.maker) == 1
        await slow.commit()
    assert await jobs.seal_once(committed.maker) == 1

    async with committed.maker() as s:
        rows = await service.list_audit(s, service.AuditFilter(subject_type="race"), None, 10)
        result = await service.verify(s)
    slow_rec, fast_rec = rows  # list order is id order
    assert slow_rec.subject_id == "slow" and slow_rec.id < fast_rec.id
    assert slow_rec.seq == fast_rec.seq + 1 and slow_rec.prev_hash == fast_rec.hash
    assert result.ok and result.head_seq == slow_rec.seq and result.unsealed == 0


async def test_only_one_sealer_at_a_time(committed):
    await committed.api.brand()
    async with committed.maker() as holder, holder.begin():
        assert await service.seal_pending(holder) > 0  # holds the sealing lock until commit
        async with committed.maker() as s:
            await service.record(s, SYSTEM, "late.made", "late", "1")
            await s.commit()
        assert await jobs.seal_once(committed.maker) == 0  # backs off instead of forking
    assert await jobs.seal_once(committed.maker) == 1
    assert (await committed.api.ok("GET", "/v1/audit/verify"))["ok"] is True


class TestTampering:
    async def test_a_modified_then_a_deleted_record_is_named_by_verify(self, committed):
        api = committed.api
        for _ in range(4):
            await api.brand()
        await jobs.seal_once(committed.maker)
        intact = await api.ok("GET", "/v1/audit/verify")
        assert intact["ok"] is True and intact["head_seq"] >= 6

        victim = intact["head_seq"] - 1
        async with superuser(committed.url) as conn:
            victim_id = await conn.fetchval(
                "UPDATE audit_records SET after = jsonb_set(after, '{name}', '\"Forged\"') WHERE seq = $1"
                " RETURNING id", victim)
        result = await api.ok("GET", "/v1/audit/verify")
        assert result["ok"] is False
        assert result["first_broken"]["seq"] == victim and result["first_broken"]["id"] == victim_id
        assert "content" in result["first_broken"]["reason"]
        assert result["head_seq"] == victim - 1

        async with superuser(committed.url) as conn:
            await conn.execute("DELETE FROM audit_records WHERE seq = 3")
        result = await api.ok("GET", "/v1/audit/verify")
        assert result["ok"] is False
        assert result["first_broken"] == {"seq": 3, "id": None, "reason": "record seq 3 is missing"}

    async def test_the_chain_keeps_growing_but_stays_broken(self, committed):
        api = committed.api
        await api.brand()
        await jobs.seal_once(committed.maker)
        async with superuser(committed.url) as conn:
            await conn.execute("UPDATE audit_records SET prev_hash = repeat('0', 63) || '1' WHERE seq = 2")
        await api.brand()
        assert await jobs.seal_once(committed.maker) == 1
        result = await api.ok("GET", "/v1/audit/verify")
        assert result["ok"] is False and result["first_broken"]["seq"] == 2
