from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk

PLATFORMS = (
    "weibo", "wechat", "douyin", "xiaohongshu", "bilibili", "x", "linkedin", "facebook",
    "instagram", "threads", "youtube", "tiktok",
)


class Brand(Base):
    __tablename__ = "brands"
    __table_args__ = (Index("uq_brands_name_lower", text("lower(name)"), unique=True),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    approval_policy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("approval_policies.id"), index=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("status IN ('active','suspended','archived')", name="status"),
        Index("uq_accounts_platform_handle", "platform", text("lower(handle)"), unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    platform: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    region: Mapped[str | None] = mapped_column(String(16))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    two_factor_enabled: Mapped[bool] = mapped_column(default=False)
    credential_custodian_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    needs_owner: Mapped[bool] = mapped_column(default=False)
    credentials_rotation_required: Mapped[bool] = mapped_column(default=False)
    approval_policy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("approval_policies.id"), index=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
