from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk


class ApprovalPolicy(Base):
    """Ordered stages. Attached to accounts and brands; one may be the organisation default."""

    __tablename__ = "approval_policies"
    __table_args__ = (Index("uq_approval_policies_name_lower", text("lower(name)"), unique=True),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class OrganizationSettings(Base):
    """A single row (id = 1): organisation-wide settings such as the default policy."""

    __tablename__ = "organization_settings"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    default_approval_policy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("approval_policies.id"))
    updated_at: Mapped[datetime] = updated_at()


class Approval(Base):
    """One decision by one person on one stage of one revision (in one review round).
    Bound to the content hash the decider saw. Never deleted; voided ones stay as history."""

    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint("decision IN ('approve','reject','request_changes')", name="decision"),
        # One person decides at most one stage of a revision (per review round).
        Index("uq_approvals_one_per_person", "post_id", "revision", "round", "decided_by_kind", "decided_by_id",
              unique=True),
        Index("ix_approvals_post_revision", "post_id", "revision", "round"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id"))
    revision: Mapped[int]
    round: Mapped[int]
    stage_index: Mapped[int]
    stage_name: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(16))
    decided_by_kind: Mapped[str] = mapped_column(String(16))
    decided_by_id: Mapped[uuid.UUID]
    content_hash: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
