"""revisions and decisions are history: their content cannot change

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:45:00

A revision's content (body, link, media, labels, its hash, who wrote it) and every approval
decision are immutable: triggers refuse UPDATE of those columns and DELETE/TRUNCATE of the
rows. What a submit attaches to a revision (findings, risk, stages, policy, submitted_at,
crisis) stays writable: a named stage can be reassigned. The publisher recomputes the hash
of what it sends anyway (app/publishing/service.py); these triggers make tampering loud.
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

REVISIONS_GUARD = """
CREATE FUNCTION post_revisions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'TRUNCATE') OR
     (NEW.post_id, NEW.number, NEW.body, NEW.link, NEW.media, NEW.labels, NEW.content_hash,
      NEW.created_by_kind, NEW.created_by_id, NEW.created_at)
     IS DISTINCT FROM
     (OLD.post_id, OLD.number, OLD.body, OLD.link, OLD.media, OLD.labels, OLD.content_hash,
      OLD.created_by_kind, OLD.created_by_id, OLD.created_at)
  THEN
    RAISE EXCEPTION 'post revisions are immutable' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
"""

APPROVALS_GUARD = """
CREATE FUNCTION approvals_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'approval decisions are immutable' USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    op.execute(REVISIONS_GUARD)
    op.execute("CREATE TRIGGER post_revisions_guard BEFORE UPDATE OR DELETE ON post_revisions"
               " FOR EACH ROW EXECUTE FUNCTION post_revisions_guard()")
    op.execute("CREATE TRIGGER post_revisions_no_truncate BEFORE TRUNCATE ON post_revisions"
               " FOR EACH STATEMENT EXECUTE FUNCTION post_revisions_guard()")
    op.execute(APPROVALS_GUARD)
    op.execute("CREATE TRIGGER approvals_guard BEFORE UPDATE OR DELETE ON approvals"
               " FOR EACH ROW EXECUTE FUNCTION approvals_guard()")
    op.execute("CREATE TRIGGER approvals_no_truncate BEFORE TRUNCATE ON approvals"
               " FOR EACH STATEMENT EXECUTE FUNCTION approvals_guard()")


def downgrade() -> None:
    for table in ("approvals", "post_revisions"):
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_guard ON {table}")
        op.execute(f"DROP FUNCTION {table}_guard()")
