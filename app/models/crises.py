from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk


class CrisisStatus(StrEnum):
    """scheduled: a blackout window ahead; active: in force; resolved. The one declaration
    (the CLI keeps its own copy so that it starts without importing the service)."""

    scheduled = "scheduled"
    active = "active"
    resolved = "resolved"


class Crisis(Base):
    """A freeze over a scope. ``scheduled`` = a blackout window ahead; ``active`` = in force."""

    __tablename__ = "crises"
    __table_args__ = (
        CheckConstraint("severity BETWEEN 1 AND 4", name="severity"),
        CheckConstraint("scope_kind IN ('organization','brands','accounts')", name="scope_kind"),
        CheckConstraint("status IN (" + ",".join(f"'{s.value}'" for s in CrisisStatus) + ")", name="status"),
        CheckConstraint("resolution IS NULL OR resolution IN ('review','resume','cancel')", name="resolution"),
        CheckConstraint("ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name="window"),
        Index("ix_crises_open", "status", postgresql_where=text("status <> 'resolved'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    severity: Mapped[int]
    scope_kind: Mapped[str] = mapped_column(String(16))
    brand_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list)
    account_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list)
    reason: Mapped[str] = mapped_column(Text)
    responders: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list)
    status: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    declared_by_kind: Mapped[str] = mapped_column(String(16))
    declared_by_id: Mapped[uuid.UUID | None]
    declared_at: Mapped[datetime] = created_at()
    activated_at: Mapped[datetime | None]
    paused_count: Mapped[int] = mapped_column(default=0)
    resolved_at: Mapped[datetime | None]
    resolved_by_kind: Mapped[str | None] = mapped_column(String(16))
    resolved_by_id: Mapped[uuid.UUID | None]
    resolution: Mapped[str | None] = mapped_column(String(16))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(default=1)


class CrisisEvent(Base):
    """The crisis timeline: what the system and people did, in order."""

    __tablename__ = "crisis_events"
    __table_args__ = (Index("ix_crisis_events_crisis", "crisis_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    crisis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("crises.id"))
    at: Mapped[datetime] = mapped_column(server_default=text("clock_timestamp()"))
    kind: Mapped[str] = mapped_column(String(40))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
