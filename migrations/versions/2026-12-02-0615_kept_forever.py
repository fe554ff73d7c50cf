"""what the product never deletes, the database refuses to delete

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:15:00

People, tokens, grants, brands, accounts, posts, crises, publications, rules and policies are
never deleted through the product: grants and tokens are revoked, users offboarded, rules
retired, all stamped, so the audit trail keeps pointing at something. Triggers make that hold
below the API too: DELETE and TRUNCATE of those tables are refused (an operator with the
rights to drop the triggers first is a different matter: audit checkpoints cover that).
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TABLES = ("users", "service_principals", "api_tokens", "access_grants", "brands", "accounts", "posts",
          "content_rules", "approval_policies", "crises", "crisis_events", "publications")

GUARD = """
CREATE FUNCTION kept_forever_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are never deleted (revoke, retire or offboard instead)', TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    op.execute(GUARD)
    for table in TABLES:
        # Statement-level: refused whether or not a row matches, and no per-row cost.
        op.execute(f"CREATE TRIGGER {table}_kept_forever BEFORE DELETE OR TRUNCATE ON {table}"
                   " FOR EACH STATEMENT EXECUTE FUNCTION kept_forever_guard()")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_kept_forever ON {table}")
    op.execute("DROP FUNCTION kept_forever_guard()")
