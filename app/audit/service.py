"""Audit: every mutation writes its record in the caller's transaction; a sealer chains them.

The hash chain is built off the request path: writers only INSERT (no shared lock, no
read of the previous hash); the sealer, one at a time across all processes, assigns
``seq`` in commit-visibility order and ``hash = sha256(prev_hash + canonical record)``.
It also publishes checkpoints (head seq and hash, signed with a key kept outside the
database) so that a chain cut short at its end no longer verifies.
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

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import context
from app.audit import repository, signing
from app.audit.schemas import CheckpointRead
from app.config import Settings
from app.models import AuditCheckpoint, AuditRecord
from app.security import Principal

log = structlog.get_logger("socialgov.audit")

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


# One record written by the statement that makes the change, for the hot paths: ``source`` is
# a CTE of the changed row (nothing is written when it is empty, e.g. a lost compare-and-set).
# The SQL is constant (prebuilt once by the caller); the values come from ``record_params``.
RECORD_COLUMNS = ("actor_kind, actor_id, action, subject_type, subject_id, before, after, request_id,"
                  " correlation_id, client_ip")


def record_sql(source: str) -> str:
    return (f"INSERT INTO audit_records ({RECORD_COLUMNS})"
            " SELECT :_a_kind, CAST(:_a_id AS uuid), :_a_action, :_a_subject, :_a_subject_id,"
            " CAST(:_a_before AS jsonb), CAST(:_a_after AS jsonb), :_a_rid, :_a_cid, CAST(:_a_ip AS inet)"
            f" FROM {source}")


def record_params(actor: Principal, action: str, subject_type: str, subject_id: Any, *,
                  before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
                  correlation_id: str | None = None) -> dict[str, Any]:
    row = _row(actor, Entry(action, subject_type, subject_id, before, after), correlation_id)
    return {"_a_kind": row["actor_kind"], "_a_id": row["actor_id"], "_a_action": row["action"],
            "_a_subject": row["subject_type"], "_a_subject_id": row["subject_id"],
            "_a_before": json.dumps(row["before"]) if row["before"] is not None else None,
            "_a_after": json.dumps(row["after"]) if row["after"] is not None else None,
            "_a_rid": row["request_id"], "_a_cid": row["correlation_id"], "_a_ip": row["client_ip"]}


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


@dataclass(frozen=True)
class Checkpoint:
    """A published head of the chain: stored in audit_checkpoints, or ``saved`` by a verifier."""

    seq: int
    hash: str
    created_at: datetime
    signature: str | None
    key_id: str | None
    saved: bool = False

    @classmethod
    def of(cls, row: AuditCheckpoint) -> Checkpoint:
        return cls(row.seq, row.hash, row.created_at, row.signature, row.key_id)

    @property
    def name(self) -> str:
        return f"{'saved checkpoint' if self.saved else 'checkpoint'} {self.seq}"


def checkpoint_public_key(settings: Settings, *, strict: bool = True) -> Ed25519PublicKey | None:
    """The key that verifies this deployment's checkpoints (from the private key in settings).
    A malformed key raises ValueError, or (``strict=False``, for readers) is logged and ignored:
    the sealer already stops on it, reading the audit must still work."""
    try:
        key = signing.private_key(settings.audit_checkpoint_key)
    except ValueError as exc:
        if strict:
            raise
        log.error("audit checkpoint key is malformed; signatures are not checked", error=str(exc))
        return None
    return key.public_key() if key else None


async def publish_checkpoint(session: AsyncSession, key: Ed25519PrivateKey | None,
                             interval: float) -> Checkpoint | None:
    """Under the sealing lock: write a checkpoint of the head if no checkpoint covers it yet
    and the newest one is at least ``interval`` seconds old (0: whenever the head moved).
    A pass that sealed nothing still covers a head left uncovered (sealed by `socialgov audit
    verify`, or within the interval of the previous checkpoint) once the interval has passed."""
    if not await repository.try_seal_lock(session):  # re-entrant: seal_pending may hold it
        return None
    state = await repository.checkpoint_state(session)
    if state.head_seq is None:
        return None
    if state.checkpoint_seq is not None:
        # A newest checkpoint dated in the future (a forged row) must not silence checkpoints for good.
        elapsed = (state.now - state.checkpoint_at).total_seconds()
        if state.head_seq <= state.checkpoint_seq or 0 <= elapsed < interval:
            return None
    pub = key.public_key() if key is not None else None
    checkpoint = Checkpoint(
        seq=state.head_seq, hash=state.head_hash, created_at=state.now,
        signature=signing.sign(key, state.head_seq, state.head_hash, state.now) if key is not None else None,
        key_id=signing.key_id(pub) if pub is not None else None,
    )
    await repository.insert_checkpoint(session, {
        "seq": checkpoint.seq, "hash": checkpoint.hash, "created_at": checkpoint.created_at,
        "signature": checkpoint.signature, "key_id": checkpoint.key_id})
    return checkpoint


def log_checkpoint(cp: Checkpoint) -> None:
    fields = {"seq": cp.seq, "hash": cp.hash, "created_at": signing.timestamp(cp.created_at),
              "signature": cp.signature, "key_id": cp.key_id}
    if cp.signature is None:
        log.warning("audit checkpoint", **fields,
                    unsigned="SOCIALGOV_AUDIT_CHECKPOINT_KEY is not set: this checkpoint is not signed")
    else:
        log.info("audit checkpoint", **fields)


def parse_checkpoint(doc: Any) -> Checkpoint:
    """A checkpoint as GET /v1/audit/checkpoints gives it: one, or a page (the highest seq)."""
    if isinstance(doc, dict) and "items" in doc:
        items = doc["items"]
        if not isinstance(items, list) or not items:
            raise ValueError("the page holds no checkpoint")
        try:
            reads = [CheckpointRead.model_validate(item) for item in items]
        except ValueError as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None
        read = max(reads, key=lambda r: r.seq)
    else:
        try:
            read = CheckpointRead.model_validate(doc)
        except ValueError as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None
    if read.created_at.tzinfo is None:
        raise ValueError("not a checkpoint: created_at has no offset")
    return Checkpoint(read.seq, read.hash, read.created_at, read.signature, read.key_id, saved=True)


def signature_problem(cp: Checkpoint, key: Ed25519PublicKey) -> str | None:
    """Why ``cp`` is not signed by ``key``, or None if it is."""
    if cp.signature is None:
        return f"{cp.name} is unsigned, but a public key was given (key id {signing.key_id(key)})"
    if not signing.valid(key, cp.signature, cp.seq, cp.hash, cp.created_at):
        return (f"the signature of {cp.name} does not verify with public key {signing.key_id(key)}"
                f" (the checkpoint names key id {cp.key_id})")
    return None


@dataclass
class VerifyResult:
    ok: bool
    sealed: int
    unsealed: int
    head_seq: int | None
    head_hash: str | None
    first_broken: dict[str, Any] | None
    # How many stored checkpoints the chain was compared with (all of them, when it is intact).
    checkpoints_checked: int = 0
    # The newest stored checkpoint (highest seq) and how the chain compares with it.
    checkpoint: dict[str, Any] | None = None
    # The checkpoint the verifier brought (`socialgov audit verify --checkpoint`), if any.
    saved_checkpoint: dict[str, Any] | None = None


async def _in_seq_order(session: AsyncSession, batch: int, saved: Checkpoint | None) -> AsyncIterator[Checkpoint]:
    after: tuple[int, int] | None = None
    while True:
        rows = await repository.checkpoints_by_seq(session, after, batch)
        for row in rows:
            if saved is not None and saved.seq < row.seq:
                yield saved
                saved = None
            yield Checkpoint.of(row)
        if len(rows) < batch:
            break
        after = (rows[-1].seq, rows[-1].id)
    if saved is not None:
        yield saved


def _summary(cp: Checkpoint, seen: dict[int, str], walked: bool, key: Ed25519PublicKey | None) -> dict[str, Any]:
    if cp.seq in seen:
        matches: bool | None = seen[cp.seq] == cp.hash
    else:
        matches = False if walked else None  # walked the whole chain and never met its seq: shorter
    signature_ok = None  # not checked: unsigned, no key configured, or signed by another key
    if key is not None and cp.signature is not None and cp.key_id == signing.key_id(key):
        signature_ok = signing.valid(key, cp.signature, cp.seq, cp.hash, cp.created_at)
    return {"seq": cp.seq, "hash": cp.hash, "created_at": cp.created_at, "signature": cp.signature,
            "key_id": cp.key_id, "matches": matches, "signature_ok": signature_ok}


async def verify(session: AsyncSession, batch: int = 2000, *, public_key: Ed25519PublicKey | None = None,
                 saved: Checkpoint | None = None) -> VerifyResult:
    """Walk the sealed records in seq order from genesis; stop at the first broken link.

    Every stored checkpoint (and ``saved``) is compared on the way: the record at its seq must
    have its hash, and the chain must reach it — so a chain cut short at its end, or re-hashed
    after an edit, is broken too. The newest stored checkpoint's signature is checked with
    ``public_key`` when it names that key."""
    newest_row = await repository.newest_checkpoint(session)
    newest = Checkpoint.of(newest_row) if newest_row is not None else None
    watched = {cp.seq for cp in (newest, saved) if cp is not None}
    seen: dict[int, str] = {}
    checks = _in_seq_order(session, batch, saved)
    pending = await anext(checks, None)
    checked = 0

    prev, expected_seq, count = GENESIS, 1, 0
    last_seq: int | None = None
    broken: dict[str, Any] | None = None
    after: int | None = None
    try:
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
                if rec.seq in watched:
                    seen[rec.seq] = rec.hash
                while pending is not None and pending.seq <= rec.seq:
                    if pending.seq < rec.seq:
                        broken = {"seq": pending.seq, "id": None, "reason": f"{pending.name} names no record of the chain"}
                    elif pending.hash != rec.hash:
                        broken = {"seq": rec.seq, "id": rec.id,
                                  "reason": f"the chain disagrees with {pending.name}: record {rec.seq} has another hash"}
                    if broken is not None:
                        break
                    checked += not pending.saved
                    pending = await anext(checks, None)
                if broken is not None:
                    break
                prev, last_seq, count = rec.hash, rec.seq, count + 1
                expected_seq += 1
            after = rows[-1].seq
        walked = broken is None
        if walked and pending is not None:
            ends = f"it ends at seq {last_seq}" if last_seq else "it has no sealed record"
            broken = {"seq": (last_seq or 0) + 1, "id": None,
                      "reason": f"the chain is shorter than {pending.name}: {ends}"}
    finally:
        await checks.aclose()

    summary = _summary(newest, seen, walked, public_key) if newest is not None else None
    if summary is not None and summary["signature_ok"] is False and broken is None:
        broken = {"seq": newest.seq, "id": None, "reason": f"the signature of {newest.name} does not verify"
                  f" with the configured key {summary['key_id']}"}
    unsealed = await repository.count_unsealed(session)
    return VerifyResult(
        broken is None, count, unsealed, last_seq, prev if last_seq else None, broken, checked, summary,
        _summary(saved, seen, walked, public_key) if saved is not None else None)


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


async def list_checkpoints(session: AsyncSession, before_id: int | None, limit: int) -> list[AuditCheckpoint]:
    return await repository.list_checkpoints(session, before_id, limit)


def verifier(settings: Settings) -> tuple[str | None, str | None]:
    """(public key base64, key id) of this deployment's checkpoint key, or (None, None)."""
    key = checkpoint_public_key(settings, strict=False)
    return (signing.public_b64(key), signing.key_id(key)) if key is not None else (None, None)


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
