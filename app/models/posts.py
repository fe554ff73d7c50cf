from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Computed, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, updated_at, uuid_pk

POST_STATUSES = ("draft", "in_review", "changes_requested", "approved", "scheduled", "rejected", "withdrawn",
                 "publishing", "published", "failed", "paused", "retracted")


# Room on each page for one more version of every row, a little wider (paused_by_crisis_id):
# a freeze (and its release) update each post in place (HOT) instead of moving and indexing it.
FILLFACTOR = 45
# The scheduler's queue key: when a scheduled post is due or a claimed one may be retried.
# A paused post keeps its scheduled slot here, so pausing does not change an indexed value.
DUE_AT = ("CASE WHEN status IN ('scheduled', 'paused') THEN scheduled_at"
          " WHEN status = 'publishing' AND sending_since IS NULL THEN coalesce(next_attempt_at, lease_until) END")
# The missed-slot worker's queue: posts still in review (MISSING_STATES) with a slot not yet flagged.
REVIEW_DUE_AT = ("CASE WHEN status IN ('in_review', 'changes_requested') AND NOT missed_schedule"
                 " THEN scheduled_at END")


class Post(Base):
    __tablename__ = "posts"
    # The crisis freeze rewrites every scheduled post in scope (100,000 in one statement), so
    # no index may name a column it changes (status, paused_by_crisis_id, version,
    # updated_at) — not as a key, not in a predicate: then each row's update is HOT (no index
    # entries, the new version on the same page, hence the fillfactor) and the freeze is ~10x
    # cheaper. The scheduler's and the missed-slot worker's queues are generated columns whose
    # value does not move when a post pauses. tests/crises/test_freeze_shape.py holds this.
    __table_args__ = (
        CheckConstraint("status IN (" + ",".join(f"'{s}'" for s in POST_STATUSES) + ")", name="status"),
        CheckConstraint("source IN ('api','cms')", name="source"),
        # The list, in (created_at, id) order: one account's range (a caller who sees a few
        # accounts), the whole order (an admin, or a caller who sees many), labels @> ARRAY[...].
        Index("ix_posts_account_created", "account_id", "created_at", "id"),
        Index("ix_posts_created", "created_at", "id"),
        Index("ix_posts_labels", "labels", postgresql_using="gin"),
        # The scheduler's claim (due scheduled posts, retries due); paused posts keep their place.
        Index("ix_posts_due", "due_at", postgresql_where=text("due_at IS NOT NULL")),
        Index("ix_posts_review_due", "review_due_at", postgresql_where=text("review_due_at IS NOT NULL")),
        # Claimed posts and retries (a freeze pauses those no send has begun for).
        Index("ix_posts_claimed", "id", postgresql_where=text("lease_until IS NOT NULL OR next_attempt_at IS NOT NULL")),
        # Sends under way (a worker that vanished mid-call leaves one behind).
        Index("ix_posts_sending", "lease_until", postgresql_where=text("sending_since IS NOT NULL")),
        Index("ix_posts_published", "published_at", postgresql_where=text("published_at IS NOT NULL")),
        Index("uq_posts_cms_ref", "account_id", "external_ref", unique=True,
              postgresql_where=text("source = 'cms' AND external_ref IS NOT NULL")),
        {"postgresql_with": {"fillfactor": FILLFACTOR}},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    author_kind: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[uuid.UUID] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(8), default="api")
    external_ref: Mapped[str | None] = mapped_column(String(200))
    # Current content (a copy of the latest revision's, for filtering and reading).
    revision: Mapped[int] = mapped_column(default=1)
    labels: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    scheduled_at: Mapped[datetime | None]
    # Each submit starts a review round; approvals of earlier rounds no longer count.
    review_round: Mapped[int] = mapped_column(default=0)
    risk: Mapped[str | None] = mapped_column(String(8))
    missed_schedule: Mapped[bool] = mapped_column(default=False)
    approved_revision: Mapped[int | None]
    approved_content_hash: Mapped[str | None] = mapped_column(String(64))
    # Publishing: claim lease, attempts, outcome.
    publish_attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    # Set while a connector call is under way: if the worker dies then, the outcome is unknown
    # and the post is never sent again on its own (at most once).
    sending_since: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    # What a crisis freeze writes, side by side and last in the row (so in the database, see
    # migration 0004): the new version of a row differs from the old in one short run of bytes.
    status: Mapped[str] = mapped_column(String(20), default="draft")
    # Which crisis holds it (a paused post keeps its slot in scheduled_at). No foreign key and
    # no index: a freeze of 100,000 posts must not pay a key check and an index entry per row
    # (the crisis is written first anyway; resolving, rare, scans posts). Nothing else the
    # freeze writes widens the row, so its new version fits beside the old on the page.
    paused_by_crisis_id: Mapped[uuid.UUID | None]
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = updated_at()
    due_at: Mapped[datetime | None] = mapped_column(Computed(DUE_AT, persisted=True))
    review_due_at: Mapped[datetime | None] = mapped_column(Computed(REVIEW_DUE_AT, persisted=True))
    # Paused for something other than a crisis (its author was offboarded): why.
    pause_reason: Mapped[str | None] = mapped_column(String(32))


class PostRevision(Base):
    """Immutable: one row per content edit."""

    __tablename__ = "post_revisions"

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    media: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    labels: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    content_hash: Mapped[str] = mapped_column(String(64))
    # Filled at submit: what the checks found, the risk, and the stages that apply.
    findings: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    risk: Mapped[str | None] = mapped_column(String(8))
    stages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    policy_id: Mapped[uuid.UUID | None]
    submitted_at: Mapped[datetime | None]
    # Submitted while this crisis was active: its crisis stages applied (a crisis response).
    crisis_id: Mapped[uuid.UUID | None]
    created_by_kind: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()


class ContentRule(Base):
    __tablename__ = "content_rules"
    __table_args__ = (
        CheckConstraint("kind IN ('banned_term','sensitive_term','required_disclosure','link_allowlist',"
                        "'max_length','personal_data','internal_marker')", name="kind"),
        CheckConstraint("severity IN ('block','high','medium','info')", name="severity"),
        CheckConstraint("NOT (account_id IS NOT NULL AND brand_id IS NOT NULL)", name="one_scope"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(32))
    terms: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    severity: Mapped[str] = mapped_column(String(8))
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    brand_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("brands.id"), index=True)
    platforms: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    max_length: Mapped[int | None]
    label: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    created_by_kind: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()
    deleted_at: Mapped[datetime | None]
