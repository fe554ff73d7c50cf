"""app.audit.service: records, canonical hashing, sealing and verification (rollback tier)."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from app import context
from app.access.policy import Role
from app.audit import jobs, repository, service
from app.models import AuditRecord
from app.security import SYSTEM


async def add(session, n: int = 1, **after) -> None:
    for i in range(n):
        await service.record(session, SYSTEM, "thing.made", "thing", uuid.uuid4(), after={"i": i, **after})


async def chain(session) -> list[AuditRecord]:
    stmt = select(AuditRecord).where(AuditRecord.seq.is_not(None)).order_by(AuditRecord.seq)
    return list((await session.execute(stmt.execution_options(populate_existing=True))).scalars())


class TestChanges:
    def test_keeps_only_changed_fields_on_both_sides(self):
        before, after = service.changes({"a": 1, "b": 2, "gone": 3}, {"a": 1, "b": 5})
        assert before == {"b": 2, "gone": 3}
        assert after == {"b": 5, "gone": None}

    def test_creation_and_deletion_keep_the_whole_side(self):
        assert service.changes(None, {"a": 1}) == (None, {"a": 1})
        assert service.changes({"a": 1}, None) == ({"a": 1}, None)

    def test_values_become_json(self):
        uid = uuid.uuid4()
        value = service.jsonable({"u": uid, "d": date(2026, 1, 2), "t": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
                                  "r": Role.admin, "n": Decimal("1.10"), "s": {"b", "a"}, 1: (1, 2),
                                  "inf": float("inf")})
        assert value == {"u": str(uid), "d": "2026-01-02", "t": "2026-01-02T03:04:00+00:00", "r": "admin",
                         "n": "1.10", "s": ["a", "b"], "1": [1, 2], "inf": "inf"}


class TestRecord:
    async def test_request_context_is_recorded(self, session):
        tokens = [context.request_id.set("rid-1"), context.client_ip.set("10.1.2.3"),
                  context.correlation_id.set("corr-ctx")]
        try:
            await service.record(session, SYSTEM, "thing.made", "thing", "t-1")
            await service.record(session, SYSTEM, "thing.made", "thing", "t-2", correlation_id="explicit")
        finally:
            for var, token in zip((context.request_id, context.client_ip, context.correlation_id), tokens,
                                  strict=True):
                var.reset(token)
        rows = await service.list_audit(session, service.AuditFilter(subject_type="thing"), None, 10)
        assert [(r.request_id, str(r.client_ip), r.correlation_id) for r in rows] == [
            ("rid-1", "10.1.2.3", "corr-ctx"), ("rid-1", "10.1.2.3", "explicit")]
        assert rows[0].actor_kind == "system" and rows[0].actor_id is None

    @pytest.mark.parametrize(("peer", "stored"), [
        ("testclient", None), ("", None), ("::1", "::1"), ("fe80::1%eth0", "fe80::1"), ("192.168.0.9", "192.168.0.9"),
    ])
    async def test_a_peer_address_that_is_not_an_ip_does_not_break_the_mutation(self, session, peer, stored):
        token = context.client_ip.set(peer)
        try:
            await service.record(session, SYSTEM, "thing.made", "thing", "t")
        finally:
            context.client_ip.reset(token)
        [row] = await service.list_audit(session, service.AuditFilter(subject_type="thing"), None, 10)
        assert (str(row.client_ip) if row.client_ip is not None else None) == stored

    async def test_record_many_writes_one_row_per_entry(self, session):
        await service.record_many(session, SYSTEM, [service.Entry("x.a", "x", 1), service.Entry("x.b", "x", 2)],
                                  correlation_id="batch-1")
        rows = await service.list_audit(session, service.AuditFilter(correlation_id="batch-1"), None, 10)
        assert [(r.action, r.subject_id) for r in rows] == [("x.a", "1"), ("x.b", "2")]


class TestSeal:
    async def test_seals_every_pending_record_into_one_chain(self, session):
        await add(session, 5)
        assert await service.seal_pending(session, batch=2) == 5
        assert await service.seal_pending(session) == 0
        records = await chain(session)
        assert [r.seq for r in records] == [1, 2, 3, 4, 5]
        assert records[0].prev_hash == service.GENESIS
        for prev, rec in zip([None, *records], records, strict=False):
            expected_prev = prev.hash if prev else service.GENESIS
            assert rec.prev_hash == expected_prev
            assert rec.hash == service.chain_hash(expected_prev, rec, rec.seq)
            assert rec.sealed_at is not None

    async def test_verify_after_sealing_in_the_same_session(self, session):
        # The CLI seals then verifies in one session (expire_on_commit=False): records the
        # sealer loaded while unsealed must not be read back stale.
        await add(session, 3)
        held = await service.list_audit(session, service.AuditFilter(), None, 10)  # in the identity map
        assert [r.seq for r in held] == [None, None, None]
        await service.seal_pending(session)
        await session.commit()
        result = await service.verify(session)
        assert result.ok and result.sealed == 3 and result.head_seq == 3
        again = await service.list_audit(session, service.AuditFilter(), None, 10)
        assert [r.seq for r in again] == [1, 2, 3] and again[0] is held[0]

    async def test_the_hash_is_stable_across_a_jsonb_round_trip(self, maker):
        awkward = {
            "zeta": 1, "a": [3, 1.5, "ü漢字", None, True, {"y": 2, "x": [1]}], "big": 10 ** 20, "f": 0.1,
            "e": 1e16, "tiny": 1e-7, "when": datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
            "day": date(2026, 5, 6), "uid": uuid.UUID(int=7), "n": Decimal("2.50"), "set": {"q", "p"},
            "role": Role.publisher, "quote": 'a "b" \\ c\n', "": "empty key", "nan": float("nan"),
        }
        async with maker() as s:
            await service.record(s, SYSTEM, "odd.made", "odd", "1", before={"k": "v"}, after=awkward)
            await s.commit()
        await jobs.seal_once(maker)
        async with maker() as s:  # a fresh session: values exactly as jsonb gives them back
            [rec] = await chain(s)
            assert rec.hash == service.chain_hash(rec.prev_hash, rec, rec.seq)
            assert service.canonical(rec, rec.seq) == service.canonical(rec, rec.seq)
            assert (await service.verify(s)).ok

    async def test_the_hash_covers_every_recorded_field(self, session):
        await add(session, 1)
        await service.seal_pending(session)
        [rec] = await chain(session)
        original = service.chain_hash(rec.prev_hash, rec, rec.seq)
        for field, value in [("action", "other"), ("subject_id", "x"), ("actor_kind", "user"),
                             ("actor_id", uuid.uuid4()), ("after", {"i": 1}), ("before", {}),
                             ("request_id", "r"), ("correlation_id", "c"), ("client_ip", "10.0.0.1"),
                             ("occurred_at", datetime(2000, 1, 1, tzinfo=UTC)), ("id", rec.id + 1)]:
            saved = getattr(rec, field)
            setattr(rec, field, value)
            assert service.chain_hash(rec.prev_hash, rec, rec.seq) != original, field
            setattr(rec, field, saved)
        assert service.chain_hash(rec.prev_hash, rec, rec.seq + 1) != original
        assert service.chain_hash(service.GENESIS[:-1] + "1", rec, rec.seq) != original
        session.expunge(rec)


async def tamper(session, *statements: str) -> None:
    """Bypass the append-only trigger the way a superuser with shell access could."""
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    for stmt in statements:
        await session.execute(text(stmt))
    await session.execute(text("SET LOCAL session_replication_role = origin"))


class TestVerify:
    async def test_an_empty_chain_is_intact(self, session):
        await session.execute(text("SELECT 1"))
        result = await service.verify(session)
        assert result.ok and result.head_seq is None and result.head_hash is None

    async def test_counts_unsealed_records(self, session):
        await add(session, 3)
        await service.seal_pending(session)
        await add(session, 2)
        result = await service.verify(session)
        assert (result.ok, result.sealed, result.unsealed, result.head_seq) == (True, 3, 2, 3)

    @pytest.mark.parametrize(("statements", "seq", "reason"), [
        (["UPDATE audit_records SET after = '{\"i\": 99}' WHERE seq = 3"], 3, "content"),
        (["UPDATE audit_records SET actor_kind = 'user' WHERE seq = 1"], 1, "content"),
        (["UPDATE audit_records SET occurred_at = occurred_at + interval '1 second' WHERE seq = 4"], 4, "content"),
        (["UPDATE audit_records SET hash = repeat('a', 64) WHERE seq = 5"], 5, "content"),
        (["UPDATE audit_records SET prev_hash = repeat('b', 64) WHERE seq = 2"], 2, "prev_hash"),
        (["DELETE FROM audit_records WHERE seq = 3"], 3, "missing"),
        (["DELETE FROM audit_records WHERE seq = 1"], 1, "missing"),
        (["UPDATE audit_records SET seq = NULL, prev_hash = NULL, hash = NULL WHERE seq = 2"], 2, "missing"),
        # reorder: swap records 2 and 3
        (["UPDATE audit_records SET seq = -3 WHERE seq = 3", "UPDATE audit_records SET seq = 3 WHERE seq = 2",
          "UPDATE audit_records SET seq = 2 WHERE seq = -3"], 2, "prev_hash"),
        # reorder and also relink prev_hash: the hash (which covers seq) still breaks
        (["UPDATE audit_records SET seq = -3 WHERE seq = 3", "UPDATE audit_records SET seq = 3 WHERE seq = 2",
          "UPDATE audit_records SET seq = 2 WHERE seq = -3",
          "UPDATE audit_records a SET prev_hash = p.hash FROM audit_records p WHERE a.seq = 2 AND p.seq = 1",
          "UPDATE audit_records a SET prev_hash = p.hash FROM audit_records p WHERE a.seq = 3 AND p.seq = 2"],
         2, "content"),
        (["UPDATE audit_records SET seq = 0 WHERE seq = 5"], 0, "out-of-chain"),
    ])
    async def test_reports_the_first_broken_link(self, session, statements, seq, reason):
        await add(session, 6)
        await service.seal_pending(session)
        good = await service.verify(session)
        assert good.ok and good.head_seq == 6
        await tamper(session, *statements)

        result = await service.verify(session)
        assert result.ok is False
        assert result.first_broken["seq"] == seq
        assert reason in result.first_broken["reason"]
        assert result.sealed == max(seq - 1, 0)
        assert result.head_seq == (seq - 1 if seq > 1 else None)

    async def test_walks_long_chains_in_batches(self, session):
        await add(session, 7)
        await service.seal_pending(session, batch=3)
        assert (await service.verify(session, batch=2)).head_seq == 7
        await tamper(session, "UPDATE audit_records SET after = '{}' WHERE seq = 6")
        assert (await service.verify(session, batch=2)).first_broken["seq"] == 6


class TestSealingRace:
    async def test_a_batch_partly_sealed_under_the_sealer_is_rolled_back_not_forked(self, session, monkeypatch):
        await add(session, 3)
        real_unsealed = repository.unsealed

        async def racing_unsealed(s, limit):
            rows = await real_unsealed(s, limit)
            if rows:  # another sealer gets the first row in between (as if the lock had failed)
                await repository.seal(s, [{"id": rows[0].id, "seq": 99, "prev_hash": "x" * 64, "hash": "y" * 64}])
            return rows

        monkeypatch.setattr(repository, "unsealed", racing_unsealed)
        with pytest.raises(RuntimeError, match="raced"):
            async with session.begin_nested():  # as seal_once's transaction: the error rolls it back
                await service.seal_pending(session)
        assert await session.scalar(select(func.count()).where(AuditRecord.seq.is_not(None))) == 0


class TestExport:
    async def test_export_pages_through_everything_matching(self, maker):
        async with maker() as s:
            for i in range(7):
                await service.record(s, SYSTEM, "exp.made", "exp", str(i))
            await service.record(s, SYSTEM, "other.made", "other", "x")
            await s.commit()
        got = [r.subject_id async for r in service.export(maker, service.AuditFilter(subject_type="exp"), batch=3)]
        assert got == [str(i) for i in range(7)]
