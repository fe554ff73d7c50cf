"""foundation

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:27:54.876134
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

AUDIT_GUARD = """
CREATE FUNCTION audit_records_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
    RAISE EXCEPTION 'audit records are append-only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.seq IS NOT NULL
     OR NEW.seq IS NULL OR NEW.prev_hash IS NULL OR NEW.hash IS NULL
     OR (NEW.id, NEW.occurred_at, NEW.actor_kind, NEW.actor_id, NEW.action, NEW.subject_type,
         NEW.subject_id, NEW.before, NEW.after, NEW.request_id, NEW.correlation_id, NEW.client_ip)
        IS DISTINCT FROM
        (OLD.id, OLD.occurred_at, OLD.actor_kind, OLD.actor_id, OLD.action, OLD.subject_type,
         OLD.subject_id, OLD.before, OLD.after, OLD.request_id, OLD.correlation_id, OLD.client_ip)
  THEN
    RAISE EXCEPTION 'audit records are append-only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.create_table('audit_records',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.UUID(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('correlation_id', sa.String(length=128), nullable=True),
    sa.Column('client_ip', postgresql.INET(), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=True),
    sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_records'))
    )
    op.create_index('ix_audit_records_actor', 'audit_records', ['actor_id', 'id'], unique=False)
    op.create_index('ix_audit_records_subject', 'audit_records', ['subject_type', 'subject_id', 'id'], unique=False)
    op.create_index('ix_audit_records_unsealed', 'audit_records', ['id'], unique=False, postgresql_where=sa.text('seq IS NULL'))
    op.create_index('uq_audit_records_seq', 'audit_records', ['seq'], unique=True)
    # Audit records are append-only: only the sealer may fill seq/prev_hash/hash, once.
    op.execute(AUDIT_GUARD)
    op.execute("CREATE TRIGGER audit_records_guard BEFORE UPDATE OR DELETE ON audit_records"
               " FOR EACH ROW EXECUTE FUNCTION audit_records_guard()")
    op.execute("CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records"
               " FOR EACH STATEMENT EXECUTE FUNCTION audit_records_guard()")
    op.create_table('brands',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_brands'))
    )
    op.create_index('uq_brands_name_lower', 'brands', [sa.text("lower(name)")], unique=True)
    op.create_table('idempotency_keys',
    sa.Column('principal', sa.String(length=80), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('headers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('principal', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_index(op.f('ix_idempotency_keys_expires_at'), 'idempotency_keys', ['expires_at'], unique=False)
    op.create_table('service_principals',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_principals')),
    sa.UniqueConstraint('name', name=op.f('uq_service_principals_name'))
    )
    op.create_table('users',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('training_valid_until', sa.Date(), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('employee','agency')", name=op.f('ck_users_kind')),
    sa.CheckConstraint("status IN ('active','suspended','offboarded')", name=op.f('ck_users_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('external_id', name=op.f('uq_users_external_id'))
    )
    op.create_index('uq_users_email_lower', 'users', [sa.text("lower(email)")], unique=True)
    op.create_table('accounts',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('handle', sa.String(length=200), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('brand_id', sa.UUID(), nullable=False),
    sa.Column('region', sa.String(length=16), nullable=True),
    sa.Column('owner_id', sa.UUID(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('two_factor_enabled', sa.Boolean(), nullable=False),
    sa.Column('credential_custodian_id', sa.UUID(), nullable=True),
    sa.Column('needs_owner', sa.Boolean(), nullable=False),
    sa.Column('credentials_rotation_required', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('active','suspended','archived')", name=op.f('ck_accounts_status')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_accounts_brand_id_brands')),
    sa.ForeignKeyConstraint(['credential_custodian_id'], ['users.id'], name=op.f('fk_accounts_credential_custodian_id_users')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_accounts_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts'))
    )
    op.create_index(op.f('ix_accounts_brand_id'), 'accounts', ['brand_id'], unique=False)
    op.create_index(op.f('ix_accounts_credential_custodian_id'), 'accounts', ['credential_custodian_id'], unique=False)
    op.create_index(op.f('ix_accounts_owner_id'), 'accounts', ['owner_id'], unique=False)
    op.create_index('uq_accounts_platform_handle', 'accounts', ['platform', sa.text("lower(handle)")], unique=True)
    op.create_table('api_tokens',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('service_id', sa.UUID(), nullable=True),
    sa.Column('scopes', postgresql.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('created_by_kind', sa.String(length=16), nullable=True),
    sa.Column('created_by_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(user_id IS NULL) <> (service_id IS NULL)', name=op.f('ck_api_tokens_one_principal')),
    sa.ForeignKeyConstraint(['service_id'], ['service_principals.id'], name=op.f('fk_api_tokens_service_id_service_principals')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_index(op.f('ix_api_tokens_service_id'), 'api_tokens', ['service_id'], unique=False)
    op.create_index(op.f('ix_api_tokens_user_id'), 'api_tokens', ['user_id'], unique=False)
    op.create_table('access_grants',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('scope_kind', sa.String(length=16), nullable=False),
    sa.Column('brand_id', sa.UUID(), nullable=True),
    sa.Column('account_id', sa.UUID(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('granted_by_kind', sa.String(length=16), nullable=True),
    sa.Column('granted_by_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_kind', sa.String(length=16), nullable=True),
    sa.Column('revoked_by_id', sa.UUID(), nullable=True),
    sa.Column('revoke_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("(scope_kind = 'organization' AND brand_id IS NULL AND account_id IS NULL) OR (scope_kind = 'brand' AND brand_id IS NOT NULL AND account_id IS NULL) OR (scope_kind = 'account' AND account_id IS NOT NULL AND brand_id IS NULL)", name=op.f('ck_access_grants_scope_target')),
    sa.CheckConstraint("role IN ('viewer','contributor','approver','publisher','account_admin','compliance','legal','crisis_lead','admin')", name=op.f('ck_access_grants_role')),
    sa.CheckConstraint("scope_kind IN ('organization','brand','account')", name=op.f('ck_access_grants_scope_kind')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_access_grants_account_id_accounts')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_access_grants_brand_id_brands')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_access_grants_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_grants'))
    )
    op.create_index(op.f('ix_access_grants_account_id'), 'access_grants', ['account_id'], unique=False)
    op.create_index(op.f('ix_access_grants_brand_id'), 'access_grants', ['brand_id'], unique=False)
    op.create_index(op.f('ix_access_grants_user_id'), 'access_grants', ['user_id'], unique=False)
    op.create_index('uq_access_grants_live', 'access_grants', ['user_id', 'role', 'scope_kind', sa.text("coalesce(account_id, brand_id, '00000000-0000-0000-0000-000000000000'::uuid)")], unique=True, postgresql_where=sa.text('revoked_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_access_grants_live', table_name='access_grants', postgresql_where=sa.text('revoked_at IS NULL'))
    op.drop_index(op.f('ix_access_grants_user_id'), table_name='access_grants')
    op.drop_index(op.f('ix_access_grants_brand_id'), table_name='access_grants')
    op.drop_index(op.f('ix_access_grants_account_id'), table_name='access_grants')
    op.drop_table('access_grants')
    op.drop_index(op.f('ix_api_tokens_user_id'), table_name='api_tokens')
    op.drop_index(op.f('ix_api_tokens_service_id'), table_name='api_tokens')
    op.drop_table('api_tokens')
    op.drop_index('uq_accounts_platform_handle', table_name='accounts')
    op.drop_index(op.f('ix_accounts_owner_id'), table_name='accounts')
    op.drop_index(op.f('ix_accounts_credential_custodian_id'), table_name='accounts')
    op.drop_index(op.f('ix_accounts_brand_id'), table_name='accounts')
    op.drop_table('accounts')
    op.drop_index('uq_users_email_lower', table_name='users')
    op.drop_table('users')
    op.drop_table('service_principals')
    op.drop_index(op.f('ix_idempotency_keys_expires_at'), table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
    op.drop_index('uq_brands_name_lower', table_name='brands')
    op.drop_table('brands')
    op.drop_index('uq_audit_records_seq', table_name='audit_records')
    op.drop_index('ix_audit_records_unsealed', table_name='audit_records', postgresql_where=sa.text('seq IS NULL'))
    op.drop_index('ix_audit_records_subject', table_name='audit_records')
    op.drop_index('ix_audit_records_actor', table_name='audit_records')
    op.drop_table('audit_records')
    op.execute("DROP FUNCTION audit_records_guard()")
