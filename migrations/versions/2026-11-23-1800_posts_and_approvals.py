"""posts and approvals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 17:59:09.767335
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('approval_policies',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('stages', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_policies'))
    )
    op.create_index('uq_approval_policies_name_lower', 'approval_policies', [sa.text("lower(name)")], unique=True)
    op.create_table('organization_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('default_approval_policy_id', sa.UUID(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_organization_settings_singleton')),
    sa.ForeignKeyConstraint(['default_approval_policy_id'], ['approval_policies.id'], name=op.f('fk_organization_settings_default_approval_policy_id_approval_policies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_settings'))
    )
    op.execute("INSERT INTO organization_settings (id) VALUES (1)")
    op.create_table('content_rules',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('terms', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=True),
    sa.Column('brand_id', sa.UUID(), nullable=True),
    sa.Column('platforms', postgresql.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('max_length', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=64), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_by_kind', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('banned_term','sensitive_term','required_disclosure','link_allowlist','max_length','personal_data','internal_marker')", name=op.f('ck_content_rules_kind')),
    sa.CheckConstraint("severity IN ('block','high','medium','info')", name=op.f('ck_content_rules_severity')),
    sa.CheckConstraint('NOT (account_id IS NOT NULL AND brand_id IS NOT NULL)', name=op.f('ck_content_rules_one_scope')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_content_rules_account_id_accounts')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_content_rules_brand_id_brands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_rules'))
    )
    op.create_index(op.f('ix_content_rules_account_id'), 'content_rules', ['account_id'], unique=False)
    op.create_index(op.f('ix_content_rules_brand_id'), 'content_rules', ['brand_id'], unique=False)
    op.create_table('posts',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('author_kind', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.UUID(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('external_ref', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('labels', postgresql.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_round', sa.Integer(), nullable=False),
    sa.Column('risk', sa.String(length=8), nullable=True),
    sa.Column('missed_schedule', sa.Boolean(), nullable=False),
    sa.Column('approved_revision', sa.Integer(), nullable=True),
    sa.Column('approved_content_hash', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("source IN ('api','cms')", name=op.f('ck_posts_source')),
    sa.CheckConstraint("status IN ('draft','in_review','changes_requested','approved','scheduled','rejected','withdrawn','publishing','published','failed','paused','retracted')", name=op.f('ck_posts_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_posts_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posts'))
    )
    op.create_index('ix_posts_account_created', 'posts', ['account_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_posts_author_id'), 'posts', ['author_id'], unique=False)
    op.create_index('ix_posts_labels', 'posts', ['labels'], unique=False, postgresql_using='gin')
    op.create_index('ix_posts_status_scheduled', 'posts', ['status', 'scheduled_at'], unique=False)
    op.create_index('uq_posts_cms_ref', 'posts', ['account_id', 'external_ref'], unique=True, postgresql_where=sa.text("source = 'cms' AND external_ref IS NOT NULL"))
    op.create_table('approvals',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('post_id', sa.UUID(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('stage_index', sa.Integer(), nullable=False),
    sa.Column('stage_name', sa.String(length=100), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('decided_by_kind', sa.String(length=16), nullable=False),
    sa.Column('decided_by_id', sa.UUID(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("decision IN ('approve','reject','request_changes')", name=op.f('ck_approvals_decision')),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_approvals_post_id_posts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approvals'))
    )
    op.create_index('ix_approvals_post_revision', 'approvals', ['post_id', 'revision', 'round'], unique=False)
    op.create_index('uq_approvals_one_per_person', 'approvals', ['post_id', 'revision', 'round', 'decided_by_kind', 'decided_by_id'], unique=True)
    op.create_table('post_revisions',
    sa.Column('post_id', sa.UUID(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.Text(), nullable=True),
    sa.Column('media', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('labels', postgresql.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('findings', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('risk', sa.String(length=8), nullable=True),
    sa.Column('stages', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('policy_id', sa.UUID(), nullable=True),
    sa.Column('created_by_kind', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_post_revisions_post_id_posts')),
    sa.PrimaryKeyConstraint('post_id', 'number', name=op.f('pk_post_revisions'))
    )
    op.add_column('accounts', sa.Column('approval_policy_id', sa.UUID(), nullable=True))
    op.create_index(op.f('ix_accounts_approval_policy_id'), 'accounts', ['approval_policy_id'], unique=False)
    op.create_foreign_key(op.f('fk_accounts_approval_policy_id_approval_policies'), 'accounts', 'approval_policies', ['approval_policy_id'], ['id'])
    op.add_column('brands', sa.Column('approval_policy_id', sa.UUID(), nullable=True))
    op.create_index(op.f('ix_brands_approval_policy_id'), 'brands', ['approval_policy_id'], unique=False)
    op.create_foreign_key(op.f('fk_brands_approval_policy_id_approval_policies'), 'brands', 'approval_policies', ['approval_policy_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_brands_approval_policy_id_approval_policies'), 'brands', type_='foreignkey')
    op.drop_index(op.f('ix_brands_approval_policy_id'), table_name='brands')
    op.drop_column('brands', 'approval_policy_id')
    op.drop_constraint(op.f('fk_accounts_approval_policy_id_approval_policies'), 'accounts', type_='foreignkey')
    op.drop_index(op.f('ix_accounts_approval_policy_id'), table_name='accounts')
    op.drop_column('accounts', 'approval_policy_id')
    op.drop_table('post_revisions')
    op.drop_index('uq_approvals_one_per_person', table_name='approvals')
    op.drop_index('ix_approvals_post_revision', table_name='approvals')
    op.drop_table('approvals')
    op.drop_index('uq_posts_cms_ref', table_name='posts', postgresql_where=sa.text("source = 'cms' AND external_ref IS NOT NULL"))
    op.drop_index('ix_posts_status_scheduled', table_name='posts')
    op.drop_index('ix_posts_labels', table_name='posts', postgresql_using='gin')
    op.drop_index(op.f('ix_posts_author_id'), table_name='posts')
    op.drop_index('ix_posts_account_created', table_name='posts')
    op.drop_table('posts')
    op.drop_index(op.f('ix_content_rules_brand_id'), table_name='content_rules')
    op.drop_index(op.f('ix_content_rules_account_id'), table_name='content_rules')
    op.drop_table('content_rules')
    op.drop_table('organization_settings')
    op.drop_index('uq_approval_policies_name_lower', table_name='approval_policies')
    op.drop_table('approval_policies')
