from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk


class UserStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    offboarded = "offboarded"


class UserKind(StrEnum):
    employee = "employee"
    agency = "agency"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("status IN ('active','suspended','offboarded')", name="status"),
        CheckConstraint("kind IN ('employee','agency')", name="kind"),
        Index("uq_users_email_lower", text("lower(email)"), unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default=UserKind.employee)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.active)
    training_valid_until: Mapped[date | None]
    status_changed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ServicePrincipal(Base):
    """A non-human caller (HR system, CMS, monitoring, scripts). Its token scopes are its authority."""

    __tablename__ = "service_principals"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = created_at()
