from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk


class AccountConnector(Base):
    """How an account publishes. No row = the ``log`` connector."""

    __tablename__ = "account_connectors"
    __table_args__ = (
        CheckConstraint("kind IN ('log','webhook')", name="kind"),
        CheckConstraint("kind <> 'webhook' OR (url IS NOT NULL AND secret IS NOT NULL)", name="webhook_target"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)
    timeout_seconds: Mapped[float] = mapped_column(default=10.0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = updated_at()


class Publication(Base):
    """What went out: the exact content sent, once per post (the unique post_id is the
    database's own at-most-once fence). The ``log`` connector's output is this row."""

    __tablename__ = "publications"
    __table_args__ = (Index("ix_publications_account_sent", "account_id", "sent_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id"), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    revision: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    connector: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    media: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    labels: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    attempt: Mapped[int]
    response_status: Mapped[int | None]
    external_id: Mapped[str | None] = mapped_column(String(200))
    published_by_kind: Mapped[str] = mapped_column(String(16))
    published_by_id: Mapped[uuid.UUID | None]
    sent_at: Mapped[datetime] = mapped_column(server_default=text("clock_timestamp()"))
    created_at: Mapped[datetime] = created_at()
    retracted_at: Mapped[datetime | None]
