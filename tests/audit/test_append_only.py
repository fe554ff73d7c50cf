"""The audit_records guard trigger (migration 0001): append-only, sealed once (rollback tier)."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service
from app.security import SYSTEM


@pytest.fixture
async def records(session) -> AsyncSession:
    for i in range(3):
        await service.record(session, SYSTEM, "thing.made", "thing", str(i), after={"i": i})
    await service.seal_pending(session)
    await service.record(session, SYSTEM, "thing.made", "thing", "unsealed", after={"i": 9})
    return session


async def refused(session, statement: str) -> str:
    with pytest.raises(DBAPIError) as info:
        async with session.begin_nested():
            await session.execute(text(statement))
    assert "append-only" in str(info.value)
    return str(info.value)


class TestGuard:
    @pytest.mark.parametrize("statement", [
        "UPDATE audit_records SET after = '{\"i\": 99}' WHERE seq = 2",
        "UPDATE audit_records SET action = 'forged' WHERE seq = 1",
        "UPDATE audit_records SET hash = repeat('a', 64) WHERE seq = 3",
        "UPDATE audit_records SET seq = 7 WHERE seq = 3",
        "UPDATE audit_records SET seq = NULL WHERE seq = 3",
        "UPDATE audit_records SET after = '{}' WHERE seq IS NULL",
        "UPDATE audit_records SET occurred_at = now() WHERE seq IS NULL",
        "DELETE FROM audit_records WHERE seq = 2",
        "DELETE FROM audit_records WHERE seq IS NULL",
        "TRUNCATE audit_records",
    ])
    async def test_refuses_changes_and_deletes(self, records, statement):
        await refused(records, statement)
        rows = (await records.execute(text("SELECT count(*), count(seq) FROM audit_records"))).one()
        assert tuple(rows) == (4, 3)
        assert (await service.verify(records)).ok

    async def test_sealing_an_unsealed_record_once_is_allowed(self, records):
        assert await service.seal_pending(records) == 1
        result = await service.verify(records)
        assert result.ok and result.head_seq == 4 and result.unsealed == 0
        await refused(records, "UPDATE audit_records SET sealed_at = now() WHERE seq = 4")
