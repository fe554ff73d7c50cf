"""Audit: every mutation writes its record in the caller's transaction; a sealer chains them.

The hash chain is built off the request path: writers only INSERT (no shared lock, no
read of the previous hash); the sealer, one at a time across all processes, assigns
``seq`` in commit-visibility order and ``hash = sha256(prev_hash + canonical record)``.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import context
from app.audit import repository
from app.models import AuditRecord
from app.security import Principal

GENESIS = "0" * 64


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # jsonb has no NaN/Infinity; the mutation must not fail on its audit row
    return value


def _inet(value: str | None) -> str | None:
    """The peer address as PostgreSQL inet accepts it, or None (a test client, a unix socket):
    a malformed address must not make the audited mutation fail."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.split("%", 1)[0]))
    except ValueError:
        return None


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[dict | None, dict | None]:
    """Keep only the fields that changed (both sides), so a record says what moved."""
    if before is None or after is None:
        return (jsonable(before) if before is not None else None, jsonable(after) if after is not None else None)
    b, a = jsonable(before), jsonable(after)
    keys = [k for k in a if b.get(k) != a.get(k)] + [k for k in b if k not in a]
    return {k: b.get(k) for k in keys}, {k: a.get(k) for k in keys}


@dataclass
class Entry:
    action: str
    subject_type: str
    subject_id: Any
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def _row(actor: Principal, entry: Entry, correlation_id: str | None) -> dict[str, Any]:
    before, after = changes(entry.before, entry.after)
    return {
        "actor_kind": str(actor.kind),
        "actor_id": actor.id,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": str(entry.subject_id),
        "before": before,
        "after": after,
        "request_id": context.request_id.get(),
        "correlation_id": correlation_id or context.correlation_id.get(),
        "client_ip": _inet(context.client_ip.get()),
    }


async def record(
    session: AsyncSession, actor: Principal, action: str, subject_type: str, subject_id: Any,
    *, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> None:
    await repository.insert_records(
        session, [_row(actor, Entry(action, subject_type, subject_id, before, after), correlation_id)]
    )


async def record_many(session: AsyncSession, actor: Principal, entries: Iterable[Entry],
                      *, correlation_id: str | None = None) -> None:
    await repository.insert_records(session, [_row(actor, e, correlation_id) for e in entries])


# --- the chain ----------------------------------------------------------------------------

def canonical(rec: AuditRecord, seq: int) -> bytes:
    doc = {
        "id": rec.id, "seq": seq, "occurred_at": rec.occurred_at, "actor_kind": rec.actor_kind,
        "actor_id": rec.actor_id, "action": rec.action, "subject_type": rec.subject_type,
        "subject_id": rec.subject_id, "before": rec.before, "after": rec.after,
        "request_id": rec.request_id, "correlation_id": rec.correlation_id,
        "client_ip": str(rec.client_ip) if rec.client_ip is not None else None,
    }
    return json.dumps(jsonable(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, rec: AuditRecord, seq: int) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(rec, seq)).hexdigest()


async def seal_pending(session: AsyncSession, batch: int = 1000, max_batches: int = 20) -> int:
    """Seal committed, unsealed records (at most ``batch * max_batches`` per call, so one
    transaction stays short under constant load). Returns how many; 0 if another sealer
    holds the lock."""
    if not await repository.try_seal_lock(session):
        return 0
    last = await repository.last_sealed(session)
    seq, prev = last if last else (0, GENESIS)
    total = 0
    for _ in range(max_batches):
        rows = await repository.unsealed(session, batch)
        if not rows:
            break
        seals = []
        for rec in rows:
            seq += 1
            digest = chain_hash(prev, rec, seq)
            seals.append({"id": rec.id, "seq": seq, "prev_hash": prev, "hash": digest})
            prev = digest
        if await repository.seal(session, seals) != len(seals):
            # Someone sealed part of this batch under us: never write a forked chain.
            raise RuntimeError("audit sealing raced with another sealer; rolled back")
        total += len(seals)
    return total


async def seal_once(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session, session.begin():
        return await seal_pending(session)


@dataclass
class VerifyResult:
    ok: bool
    sealed: int
    unsealed: int
    head_seq: int | None
    head_hash: str | None
    first_broken: dict[str, Any] | None


async def verify(session: AsyncSession, batch: int = 2000) -> VerifyResult:
    """Walk the sealed records in seq order from genesis; stop at the first broken link."""
    prev, expected_seq, count = GENESIS, 1, 0
    last_seq: int | None = None
    broken: dict[str, Any] | None = None
    after: int | None = None
    while broken is None:
        rows = await repository.sealed_after(session, after, batch)
        if not rows:
            break
        for rec in rows:
            assert rec.seq is not None
            if rec.seq < expected_seq:
                broken = {"seq": rec.seq, "id": rec.id, "reason": f"record has an out-of-chain seq {rec.seq}"}
                break
            if rec.seq > expected_seq:
                broken = {"seq": expected_seq, "id": None, "reason": f"record seq {expected_seq} is missing"}
                break
            if rec.prev_hash != prev:
                broken = {"seq": rec.seq, "id": rec.id, "reason": "prev_hash does not match the previous record"}
                break
            if chain_hash(prev, rec, rec.seq) != rec.hash:
                broken = {"seq": rec.seq, "id": rec.id, "reason": "record content does not match its hash"}
                break
            prev, last_seq, count = rec.hash, rec.seq, count + 1
            expected_seq += 1
        after = rows[-1].seq
    unsealed = await repository.count_unsealed(session)
    return VerifyResult(broken is None, count, unsealed, last_seq, prev if last_seq else None, broken)


# --- reading ------------------------------------------------------------------------------

@dataclass
class AuditFilter:
    subject_type: str | None = None
    subject_id: str | None = None
    actor_id: uuid.UUID | None = None
    action: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_audit(session: AsyncSession, f: AuditFilter, after_id: int | None, limit: int) -> list[AuditRecord]:
    return await repository.list_records(
        session, subject_type=f.subject_type, subject_id=f.subject_id, actor_id=f.actor_id, action=f.action,
        since=f.since, until=f.until, correlation_id=f.correlation_id, after_id=after_id, limit=limit,
    )


async def export(sessionmaker: async_sessionmaker[AsyncSession], f: AuditFilter,
                 batch: int = 1000) -> AsyncIterator[AuditRecord]:
    after_id = 0
    while True:
        async with sessionmaker() as session:
            rows = await list_audit(session, f, after_id, batch)
        for rec in rows:
            yield rec
        if len(rows) < batch:
            return
        after_id = rows[-1].id


def bulk_insert_from(source: str, *, actor: Principal, action: str, subject_type: str, subject_id: Any,
                     subjects_type: str, id_expr: str, before: dict[str, Any] | None, after_expr: str,
                     group_by: str | None = None, correlation_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """SQL that audits a set-based change of ``source`` (a CTE) in the same statement, as one
    record per group (or one for all) naming every row it changed: ``after`` is
    ``after_expr`` (an SQL jsonb expression over the group) plus ``subjects_type``,
    ``subject_ids`` and ``count``. Nothing is written when ``source`` is empty. A change of
    100,000 rows so costs one record, not 100,000 (each an entry in five indexes); the ids
    are in the hash chain all the same, and ``list_audit`` by subject finds the record."""
    sql = (
        "INSERT INTO audit_records (actor_kind, actor_id, action, subject_type, subject_id, before, after,"
        " request_id, correlation_id, client_ip)"
        " SELECT :_a_kind, CAST(:_a_id AS uuid), :_a_action, :_a_subject, :_a_subject_id, CAST(:_a_before AS jsonb),"
        f" ({after_expr}) || jsonb_build_object('subjects_type', CAST(:_a_subjects AS text),"
        f" 'count', count(*), 'subject_ids', jsonb_agg(({id_expr})::text)),"
        " :_a_rid, :_a_cid, CAST(:_a_ip AS inet)"
        f" FROM {source}" + (f" GROUP BY {group_by}" if group_by else " HAVING count(*) > 0")
    )
    params = {"_a_kind": str(actor.kind), "_a_id": str(actor.id) if actor.id else None, "_a_action": action,
              "_a_subject": subject_type, "_a_subject_id": str(subject_id), "_a_subjects": subjects_type,
              "_a_before": json.dumps(jsonable(before)) if before is not None else None,
              "_a_rid": context.request_id.get(),
              "_a_cid": correlation_id or context.correlation_id.get(), "_a_ip": _inet(context.client_ip.get())}
    return sql, params
