"""audit checkpoints: signed heads of the audit chain, append-only

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00

The sealer publishes the chain's head (seq, hash, time) signed with a key kept outside the
database, so that a chain cut short at its end (its newest records deleted with triggers off)
no longer verifies. Like audit_records, the table only takes INSERTs: a trigger refuses
UPDATE, DELETE and TRUNCATE.
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

GUARD = """
CREATE FUNCTION audit_checkpoints_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit checkpoints are append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signature', sa.String(length=88), nullable=True),
    sa.Column('key_id', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    op.create_index('ix_audit_checkpoints_seq', 'audit_checkpoints', ['seq', 'id'], unique=False)
    op.execute(GUARD)
    op.execute("CREATE TRIGGER audit_checkpoints_guard BEFORE UPDATE OR DELETE ON audit_checkpoints"
               " FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_guard()")
    op.execute("CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints"
               " FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_guard()")


def downgrade() -> None:
    # Dropping the table drops its triggers; the function goes after it.
    op.drop_index('ix_audit_checkpoints_seq', table_name='audit_checkpoints')
    op.drop_table('audit_checkpoints')
    op.execute("DROP FUNCTION audit_checkpoints_guard()")
