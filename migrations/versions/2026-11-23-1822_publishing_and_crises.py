"""publishing and crises

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 18:21:22.723733
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crises',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.Column('scope_kind', sa.String(length=16), nullable=False),
    sa.Column('brand_ids', postgresql.ARRAY(sa.Uuid()), nullable=False),
    sa.Column('account_ids', postgresql.ARRAY(sa.Uuid()), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('responders', postgresql.ARRAY(sa.Uuid()), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('declared_by_kind', sa.String(length=16), nullable=False),
    sa.Column('declared_by_id', sa.UUID(), nullable=True),
    sa.Column('declared_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_count', sa.Integer(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_kind', sa.String(length=16), nullable=True),
    sa.Column('resolved_by_id', sa.UUID(), nullable=True),
    sa.Column('resolution', sa.String(length=16), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('outcome', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("resolution IS NULL OR resolution IN ('review','resume','cancel')", name=op.f('ck_crises_resolution')),
    sa.CheckConstraint("scope_kind IN ('organization','brands','accounts')", name=op.f('ck_crises_scope_kind')),
    sa.CheckConstraint("status IN ('scheduled','active','resolved')", name=op.f('ck_crises_status')),
    sa.CheckConstraint('ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at', name=op.f('ck_crises_window')),
    sa.CheckConstraint('severity BETWEEN 1 AND 4', name=op.f('ck_crises_severity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crises'))
    )
    op.create_index('ix_crises_open', 'crises', ['status'], unique=False, postgresql_where=sa.text("status <> 'resolved'"))
    op.create_table('crisis_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('crisis_id', sa.UUID(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.UUID(), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['crisis_id'], ['crises.id'], name=op.f('fk_crisis_events_crisis_id_crises')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crisis_events'))
    )
    op.create_index('ix_crisis_events_crisis', 'crisis_events', ['crisis_id', 'id'], unique=False)
    op.create_table('account_connectors',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('secret', sa.Text(), nullable=True),
    sa.Column('timeout_seconds', sa.Double(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind <> 'webhook' OR (url IS NOT NULL AND secret IS NOT NULL)", name=op.f('ck_account_connectors_webhook_target')),
    sa.CheckConstraint("kind IN ('log','webhook')", name=op.f('ck_account_connectors_kind')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_connectors_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_connectors'))
    )
    op.create_table('publications',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('post_id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('connector', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.Text(), nullable=True),
    sa.Column('media', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('labels', postgresql.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('published_by_kind', sa.String(length=16), nullable=False),
    sa.Column('published_by_id', sa.UUID(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('retracted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_publications_account_id_accounts')),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_publications_post_id_posts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publications')),
    sa.UniqueConstraint('post_id', name=op.f('uq_publications_post_id'))
    )
    op.create_index('ix_publications_account_sent', 'publications', ['account_id', 'sent_at'], unique=False)
    op.add_column('post_revisions', sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('post_revisions', sa.Column('crisis_id', sa.UUID(), nullable=True))
    op.add_column('posts', sa.Column('paused_scheduled_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('posts', sa.Column('paused_by_crisis_id', sa.UUID(), nullable=True))
    op.add_column('posts', sa.Column('pause_reason', sa.String(length=40), nullable=True))
    op.add_column('posts', sa.Column('publish_attempts', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('posts', sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('posts', sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('posts', sa.Column('sending_since', sa.DateTime(timezone=True), nullable=True))
    op.add_column('posts', sa.Column('last_error', sa.Text(), nullable=True))
    op.add_column('posts', sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_posts_due', 'posts', ['scheduled_at'], unique=False, postgresql_where=sa.text("status = 'scheduled'"))
    op.create_index('ix_posts_paused_by', 'posts', ['paused_by_crisis_id'], unique=False,
                    postgresql_where=sa.text("status = 'paused'"))
    # A GIN entry per post version made a 100k-post freeze pay for labels nobody changed.
    op.drop_index('ix_posts_labels', table_name='posts', postgresql_using='gin')
    op.create_index('ix_posts_retry', 'posts', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'publishing'"))


def downgrade() -> None:
    op.drop_index('ix_posts_retry', table_name='posts', postgresql_where=sa.text("status = 'publishing'"))
    op.create_index('ix_posts_labels', 'posts', ['labels'], unique=False, postgresql_using='gin')
    op.drop_index('ix_posts_paused_by', table_name='posts', postgresql_where=sa.text("status = 'paused'"))
    op.drop_index('ix_posts_due', table_name='posts', postgresql_where=sa.text("status = 'scheduled'"))
    op.drop_column('posts', 'published_at')
    op.drop_column('posts', 'last_error')
    op.drop_column('posts', 'sending_since')
    op.drop_column('posts', 'lease_until')
    op.drop_column('posts', 'next_attempt_at')
    op.drop_column('posts', 'publish_attempts')
    op.drop_column('posts', 'pause_reason')
    op.drop_column('posts', 'paused_by_crisis_id')
    op.drop_column('posts', 'paused_scheduled_at')
    op.drop_column('post_revisions', 'crisis_id')
    op.drop_column('post_revisions', 'submitted_at')
    op.drop_index('ix_publications_account_sent', table_name='publications')
    op.drop_table('publications')
    op.drop_table('account_connectors')
    op.drop_index('ix_crisis_events_crisis', table_name='crisis_events')
    op.drop_table('crisis_events')
    op.drop_index('ix_crises_open', table_name='crises', postgresql_where=sa.text("status <> 'resolved'"))
    op.drop_table('crises')
