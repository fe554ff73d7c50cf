"""Every SQL statement of the audit domain."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditCheckpoint, AuditRecord

_INSERT = insert(AuditRecord)


async def insert_records(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(_INSERT, list(rows))


async def list_records(
    session: AsyncSession, *, subject_type: str | None, subject_id: str | None, actor_id: uuid.UUID | None,
    action: str | None, since: datetime | None, until: datetime | None, correlation_id: str | None,
    after_id: int | None, limit: int,
) -> list[AuditRecord]:
    stmt = select(AuditRecord).order_by(AuditRecord.id).limit(limit).execution_options(populate_existing=True)
    if subject_type and subject_id:
        # Its own records, and the bulk records of set-based changes that name it — only those
        # written since its first own record (a bulk record's id list can be large to read).
        own = and_(AuditRecord.subject_type == subject_type, AuditRecord.subject_id == subject_id)
        first = select(func.coalesce(func.min(AuditRecord.id), 0)).where(own).scalar_subquery()
        stmt = stmt.where(or_(own, and_(
            AuditRecord.after.has_key("subject_ids"), AuditRecord.id >= first,
            AuditRecord.after["subjects_type"].astext == subject_type,
            AuditRecord.after["subject_ids"].has_key(subject_id))))
    elif subject_type:
        stmt = stmt.where(AuditRecord.subject_type == subject_type)
    elif subject_id:
        stmt = stmt.where(AuditRecord.subject_id == subject_id)
    if actor_id:
        stmt = stmt.where(AuditRecord.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditRecord.action == action)
    if correlation_id:
        stmt = stmt.where(AuditRecord.correlation_id == correlation_id)
    if since:
        stmt = stmt.where(AuditRecord.occurred_at >= since)
    if until:
        stmt = stmt.where(AuditRecord.occurred_at < until)
    if after_id is not None:
        stmt = stmt.where(AuditRecord.id > after_id)
    return list((await session.execute(stmt)).scalars())


# Sealing: one sealer at a time (transaction advisory lock), oldest committed rows first.
# Chain reads use populate_existing: the sealer fills seq/hash with a Core UPDATE, so an
# AuditRecord already in the session's identity map (expire_on_commit=False) would still
# say "unsealed" and verify would read stale values.
_SEAL_LOCK = text("SELECT pg_try_advisory_xact_lock(7235190417235001)")
_LAST_SEALED = select(AuditRecord.seq, AuditRecord.hash).where(AuditRecord.seq.is_not(None)).order_by(
    AuditRecord.seq.desc()).limit(1)


async def try_seal_lock(session: AsyncSession) -> bool:
    return bool((await session.execute(_SEAL_LOCK)).scalar())


async def last_sealed(session: AsyncSession) -> tuple[int, str] | None:
    row = (await session.execute(_LAST_SEALED)).first()
    return (row[0], row[1]) if row else None


async def unsealed(session: AsyncSession, limit: int) -> list[AuditRecord]:
    stmt = (select(AuditRecord).where(AuditRecord.seq.is_(None)).order_by(AuditRecord.id).limit(limit)
            .execution_options(populate_existing=True))
    return list((await session.execute(stmt)).scalars())


async def seal(session: AsyncSession, seals: Sequence[dict[str, Any]]) -> int:
    """Returns how many rows were sealed (each only if it was still unsealed)."""
    if not seals:
        return 0
    result = await session.execute(
        text("""
        UPDATE audit_records a SET seq = s.seq, prev_hash = s.prev_hash, hash = s.hash, sealed_at = now()
          FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:prevs AS text[]),
                      CAST(:hashes AS text[])) AS s(id, seq, prev_hash, hash)
         WHERE a.id = s.id AND a.seq IS NULL
        """),
        {
            "ids": [s["id"] for s in seals], "seqs": [s["seq"] for s in seals],
            "prevs": [s["prev_hash"] for s in seals], "hashes": [s["hash"] for s in seals],
        },
    )
    return result.rowcount


async def sealed_after(session: AsyncSession, after_seq: int | None, limit: int) -> list[AuditRecord]:
    """Sealed records in seq order; ``after_seq=None`` starts below any seq (even a forged 0 or -1)."""
    stmt = (select(AuditRecord).where(AuditRecord.seq.is_not(None)).order_by(AuditRecord.seq).limit(limit)
            .execution_options(populate_existing=True))
    if after_seq is not None:
        stmt = stmt.where(AuditRecord.seq > after_seq)
    return list((await session.execute(stmt)).scalars())


async def count_unsealed(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT count(*) FROM audit_records WHERE seq IS NULL"))).scalar())


# Checkpoints: written by the sealer under its lock, read newest first or in seq order.
_CHECKPOINT_STATE = text("""
SELECT h.seq AS head_seq, h.hash AS head_hash, c.seq AS checkpoint_seq, c.created_at AS checkpoint_at,
       clock_timestamp() AS now
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (SELECT seq, hash FROM audit_records WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1) AS h ON true
  LEFT JOIN LATERAL (SELECT seq, created_at FROM audit_checkpoints ORDER BY id DESC LIMIT 1) AS c ON true
""")
_INSERT_CHECKPOINT = insert(AuditCheckpoint).returning(AuditCheckpoint.id)
_NEWEST_CHECKPOINT = (select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc())
                      .limit(1).execution_options(populate_existing=True))


async def checkpoint_state(session: AsyncSession) -> Any:
    """The chain's head, the newest checkpoint written (seq, time) and the database's clock."""
    return (await session.execute(_CHECKPOINT_STATE)).one()


async def insert_checkpoint(session: AsyncSession, row: dict[str, Any]) -> int:
    return int((await session.execute(_INSERT_CHECKPOINT, row)).scalar_one())


async def newest_checkpoint(session: AsyncSession) -> AuditCheckpoint | None:
    """The checkpoint with the highest seq: the furthest the chain is known to have reached."""
    return (await session.execute(_NEWEST_CHECKPOINT)).scalar_one_or_none()


async def checkpoints_by_seq(session: AsyncSession, after: tuple[int, int] | None, limit: int) -> list[AuditCheckpoint]:
    stmt = (select(AuditCheckpoint).order_by(AuditCheckpoint.seq, AuditCheckpoint.id).limit(limit)
            .execution_options(populate_existing=True))
    if after is not None:
        stmt = stmt.where(tuple_(AuditCheckpoint.seq, AuditCheckpoint.id) > tuple_(*after))
    return list((await session.execute(stmt)).scalars())


async def list_checkpoints(session: AsyncSession, before_id: int | None, limit: int) -> list[AuditCheckpoint]:
    """Newest first (by id: the order the sealer wrote them)."""
    stmt = select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(AuditCheckpoint.id < before_id)
    return list((await session.execute(stmt)).scalars())
