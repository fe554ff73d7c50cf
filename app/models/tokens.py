from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (service_id IS NULL)", name="one_principal"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Non-secret leading characters, for display and support; the secret is only hashed.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    service_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("service_principals.id"), index=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    created_by_kind: Mapped[str | None] = mapped_column(String(16))
    created_by_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
