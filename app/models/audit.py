from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, func, text
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class AuditRecord(Base):
    """Append-only. ``seq``/``prev_hash``/``hash`` are filled once, by the sealer."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_subject", "subject_type", "subject_id", "id"),
        Index("ix_audit_records_actor", "actor_id", "id"),
        Index("ix_audit_records_unsealed", "id", postgresql_where=text("seq IS NULL")),
        Index("uq_audit_records_seq", "seq", unique=True),
        # Bulk records: one per set-based change, naming every subject in after.subject_ids.
        Index("ix_audit_records_bulk", "id", postgresql_where=text("after ? 'subject_ids'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(128))
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    client_ip: Mapped[str | None] = mapped_column(INET)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    sealed_at: Mapped[datetime | None]


class AuditCheckpoint(Base):
    """Append-only: the chain's head (``seq``, ``hash``) at ``created_at``, as the sealer
    published it; ``signature`` is Ed25519 over app.audit.signing.message (None: no key)."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_seq", "seq", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    signature: Mapped[str | None] = mapped_column(String(88))
    key_id: Mapped[str | None] = mapped_column(String(16))
