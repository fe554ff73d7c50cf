"""a freeze that updates posts in place: no index on what it changes; bulk audit records

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 20:40:00

The crisis freeze updates every scheduled post in scope in one statement. With ``status`` in
indexes (keys or predicates) each row got a new version elsewhere plus an entry in every
index; now no index names a column the freeze changes, the scheduler's and the missed-slot
worker's queues are generated columns that keep their value when a post pauses, and the
table leaves over half of each page free, so those updates are HOT.

``fillfactor`` applies to pages written from then on: it is set first, so adding the stored
generated columns (a table rewrite, under an exclusive lock: plan a window on a large
deployment) repacks the existing rows with the free space.
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

DUE_AT = ("CASE WHEN status IN ('scheduled', 'paused') THEN scheduled_at"
          " WHEN status = 'publishing' AND sending_since IS NULL THEN coalesce(next_attempt_at, lease_until) END")
REVIEW_DUE_AT = ("CASE WHEN status IN ('in_review', 'changes_requested') AND NOT missed_schedule"
                 " THEN scheduled_at END")


# The columns a freeze writes, in the order they end up in, last in the row (before the
# generated columns, which it does not change): a row's new version then differs from the old
# one in one short run of bytes, and the WAL record carries only that run (measured: half the
# WAL of a 100,000-post freeze, ~15% of its time). PostgreSQL cannot reorder columns, so each
# one is renamed, added again at the end, copied, and the old one dropped.
FREEZE_COLUMNS = (("status", "varchar(20)", True, None), ("paused_by_crisis_id", "uuid", False, None),
                  ("version", "integer", True, None), ("updated_at", "timestamptz", True, "now()"))
STATUSES = ("'draft','in_review','changes_requested','approved','scheduled','rejected','withdrawn','publishing',"
            "'published','failed','paused','retracted'")


def _move_freeze_columns_last() -> None:
    for name, *_ in FREEZE_COLUMNS:
        op.execute(f"ALTER TABLE posts RENAME COLUMN {name} TO {name}_moving")
    op.execute("ALTER TABLE posts " + ", ".join(f"ADD COLUMN {name} {type_}" for name, type_, *_ in FREEZE_COLUMNS))
    op.execute("UPDATE posts SET " + ", ".join(f"{name} = {name}_moving" for name, *_ in FREEZE_COLUMNS))
    # Dropping the old status drops its check constraint with it.
    op.execute("ALTER TABLE posts " + ", ".join(f"DROP COLUMN {name}_moving" for name, *_ in FREEZE_COLUMNS))
    for name, _, not_null, default in FREEZE_COLUMNS:
        if not_null:
            op.execute(f"ALTER TABLE posts ALTER COLUMN {name} SET NOT NULL")
        if default:
            op.execute(f"ALTER TABLE posts ALTER COLUMN {name} SET DEFAULT {default}")
    op.execute(f"ALTER TABLE posts ADD CONSTRAINT ck_posts_status CHECK (status IN ({STATUSES}))")


def upgrade() -> None:
    op.drop_index('ix_posts_status_scheduled', table_name='posts')
    op.drop_index('ix_posts_due', table_name='posts', postgresql_where=sa.text("status = 'scheduled'"))
    op.drop_index('ix_posts_retry', table_name='posts', postgresql_where=sa.text("status = 'publishing'"))
    op.drop_index('ix_posts_paused_by', table_name='posts', postgresql_where=sa.text("status = 'paused'"))
    op.execute("ALTER TABLE posts SET (fillfactor = 45)")
    # A paused post keeps its slot in scheduled_at; only paused_by_crisis_id says who holds it
    # (a wider new version would not fit beside the old one on the page).
    op.drop_column('posts', 'paused_scheduled_at')
    op.drop_column('posts', 'pause_reason')
    _move_freeze_columns_last()
    op.add_column('posts', sa.Column('due_at', sa.DateTime(timezone=True), sa.Computed(DUE_AT, persisted=True),
                                     nullable=True))
    op.add_column('posts', sa.Column('review_due_at', sa.DateTime(timezone=True),
                                     sa.Computed(REVIEW_DUE_AT, persisted=True), nullable=True))
    op.create_index('ix_posts_due', 'posts', ['due_at'], unique=False, postgresql_where=sa.text('due_at IS NOT NULL'))
    op.create_index('ix_posts_review_due', 'posts', ['review_due_at'], unique=False,
                    postgresql_where=sa.text('review_due_at IS NOT NULL'))
    op.create_index('ix_posts_sending', 'posts', ['lease_until'], unique=False,
                    postgresql_where=sa.text('sending_since IS NOT NULL'))
    op.create_index('ix_posts_claimed', 'posts', ['id'], unique=False,
                    postgresql_where=sa.text('lease_until IS NOT NULL OR next_attempt_at IS NOT NULL'))
    op.create_index('ix_posts_published', 'posts', ['published_at'], unique=False,
                    postgresql_where=sa.text('published_at IS NOT NULL'))
    # Bulk records (one per set-based change, naming every subject): found by subject too.
    op.create_index('ix_audit_records_bulk', 'audit_records', ['id'], unique=False,
                    postgresql_where=sa.text("after ? 'subject_ids'"))
    # A bulk record's ids do not compress with pglz (it gives up on them after trying: ~150 ms
    # for 100,000 ids); lz4 is ~3x faster. Servers before 14 or built without lz4 keep pglz.
    op.execute("""
        DO $$ BEGIN
            IF current_setting('server_version_num')::int >= 140000 THEN
                EXECUTE 'ALTER TABLE audit_records ALTER COLUMN after SET COMPRESSION lz4';
            END IF;
        EXCEPTION WHEN feature_not_supported THEN NULL;
        END $$""")


def downgrade() -> None:
    op.execute("""
        DO $$ BEGIN
            IF current_setting('server_version_num')::int >= 140000 THEN
                EXECUTE 'ALTER TABLE audit_records ALTER COLUMN after SET COMPRESSION default';
            END IF;
        END $$""")
    op.drop_index('ix_posts_claimed', table_name='posts',
                  postgresql_where=sa.text('lease_until IS NOT NULL OR next_attempt_at IS NOT NULL'))
    op.drop_index('ix_audit_records_bulk', table_name='audit_records', postgresql_where=sa.text("after ? 'subject_ids'"))
    op.drop_index('ix_posts_published', table_name='posts', postgresql_where=sa.text('published_at IS NOT NULL'))
    op.drop_index('ix_posts_sending', table_name='posts', postgresql_where=sa.text('sending_since IS NOT NULL'))
    op.drop_index('ix_posts_review_due', table_name='posts', postgresql_where=sa.text('review_due_at IS NOT NULL'))
    op.drop_index('ix_posts_due', table_name='posts', postgresql_where=sa.text('due_at IS NOT NULL'))
    op.execute("ALTER TABLE posts RESET (fillfactor)")
    op.drop_column('posts', 'review_due_at')
    op.drop_column('posts', 'due_at')
    op.add_column('posts', sa.Column('pause_reason', sa.String(length=40), nullable=True))
    op.add_column('posts', sa.Column('paused_scheduled_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE posts SET paused_scheduled_at = scheduled_at, pause_reason = 'crisis'"
               " WHERE paused_by_crisis_id IS NOT NULL")
    op.create_index('ix_posts_paused_by', 'posts', ['paused_by_crisis_id'], unique=False,
                    postgresql_where=sa.text("status = 'paused'"))
    op.create_index('ix_posts_retry', 'posts', ['next_attempt_at'], unique=False,
                    postgresql_where=sa.text("status = 'publishing'"))
    op.create_index('ix_posts_due', 'posts', ['scheduled_at'], unique=False,
                    postgresql_where=sa.text("status = 'scheduled'"))
    op.create_index('ix_posts_status_scheduled', 'posts', ['status', 'scheduled_at'], unique=False)
