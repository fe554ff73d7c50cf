from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk


class AccessGrant(Base):
    """(user, scope, role). Never deleted: revocation stamps it; expiry is read-time."""

    __tablename__ = "access_grants"
    __table_args__ = (
        CheckConstraint("scope_kind IN ('organization','brand','account')", name="scope_kind"),
        CheckConstraint(
            "(scope_kind = 'organization' AND brand_id IS NULL AND account_id IS NULL)"
            " OR (scope_kind = 'brand' AND brand_id IS NOT NULL AND account_id IS NULL)"
            " OR (scope_kind = 'account' AND account_id IS NOT NULL AND brand_id IS NULL)",
            name="scope_target",
        ),
        CheckConstraint(
            "role IN ('viewer','contributor','approver','publisher','account_admin',"
            "'compliance','legal','crisis_lead','admin')",
            name="role",
        ),
        # At most one live grant per (user, scope, role): the database decides races.
        Index(
            "uq_access_grants_live",
            "user_id",
            "role",
            "scope_kind",
            text("coalesce(account_id, brand_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
        # Holders of a role over an account: live grants held organisation-wide, on its brand or
        # on it (one BitmapOr arm each; revoked grants, never deleted, stay out of the way).
        Index("ix_access_grants_org_live", "role",
              postgresql_where=text("scope_kind = 'organization' AND revoked_at IS NULL")),
        Index("ix_access_grants_brand_live", "brand_id", "role",
              postgresql_where=text("brand_id IS NOT NULL AND revoked_at IS NULL")),
        Index("ix_access_grants_account_live", "account_id", "role",
              postgresql_where=text("account_id IS NOT NULL AND revoked_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    scope_kind: Mapped[str] = mapped_column(String(16))
    brand_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("brands.id"), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    granted_by_kind: Mapped[str | None] = mapped_column(String(16))
    granted_by_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by_kind: Mapped[str | None] = mapped_column(String(16))
    revoked_by_id: Mapped[uuid.UUID | None]
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    # An access review: someone who may grant this now vouches for it, and it rests on their
    # authority instead of the granter's (a granter who lost theirs flags it for review).
    confirmed_by_kind: Mapped[str | None] = mapped_column(String(16))
    confirmed_by_id: Mapped[uuid.UUID | None]
    confirmed_at: Mapped[datetime | None]
    confirm_reason: Mapped[str | None] = mapped_column(Text)
