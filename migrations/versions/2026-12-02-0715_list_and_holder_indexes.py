"""indexes for the real queries: the posts list (its order, labels) and grant holders

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:15:00

Posts: the list reads posts in (created_at, id) order, LIMIT n+1. ``ix_posts_created`` lets
the planner walk that order and stop after n+1 (an admin, or a caller who sees a large share
of the posts); for a caller who sees a few accounts it reads their ranges of the existing
``ix_posts_account_created`` — which takes the visibility filter as ``account_id = ANY(...)``,
never an ``IN (subquery)`` inside an OR (no index condition, a default selectivity guess).
The walk assumes a caller's posts are spread over time: one whose accounts only have recent
posts walks most of the index before its first row.
``ix_posts_labels`` (GIN) serves ``labels @> ARRAY[...]`` for a rare label. No index names a
column the crisis freeze writes (status, paused_by_crisis_id, version, updated_at): its
updates stay HOT (tests/crises/test_freeze_shape.py).

Grants: a holder lookup asks for live grants of some roles held organisation-wide, on the
post's brand or on its account. Each arm of that OR gets a partial index over the live grants of
its scope kind (``revoked_at IS NULL``: grants are never deleted, revoked ones pile up; the
``IS NOT NULL`` is implied by ``brand_id = :b``, so the planner proves the predicate), and the
lookup is a BitmapOr of three small ranges instead of a scan of every grant ever made (PG 18
skip-scans ``uq_access_grants_live`` by role, which hid this; PG 15-17 scan). The full
indexes on account_id and brand_id stay: the grant history lists revoked grants too.

Plain CREATE INDEX (a SHARE lock on posts while it builds: on a large deployment, plan a
window, as for 0004).
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

ORG_LIVE = "scope_kind = 'organization' AND revoked_at IS NULL"
BRAND_LIVE = "brand_id IS NOT NULL AND revoked_at IS NULL"
ACCOUNT_LIVE = "account_id IS NOT NULL AND revoked_at IS NULL"


def upgrade() -> None:
    op.create_index('ix_posts_created', 'posts', ['created_at', 'id'], unique=False)
    op.create_index('ix_posts_labels', 'posts', ['labels'], unique=False, postgresql_using='gin')
    op.create_index('ix_access_grants_org_live', 'access_grants', ['role'], unique=False,
                    postgresql_where=sa.text(ORG_LIVE))
    op.create_index('ix_access_grants_brand_live', 'access_grants', ['brand_id', 'role'], unique=False,
                    postgresql_where=sa.text(BRAND_LIVE))
    op.create_index('ix_access_grants_account_live', 'access_grants', ['account_id', 'role'], unique=False,
                    postgresql_where=sa.text(ACCOUNT_LIVE))


def downgrade() -> None:
    op.drop_index('ix_access_grants_account_live', table_name='access_grants',
                  postgresql_where=sa.text(ACCOUNT_LIVE))
    op.drop_index('ix_access_grants_brand_live', table_name='access_grants', postgresql_where=sa.text(BRAND_LIVE))
    op.drop_index('ix_access_grants_org_live', table_name='access_grants', postgresql_where=sa.text(ORG_LIVE))
    op.drop_index('ix_posts_labels', table_name='posts', postgresql_using='gin')
    op.drop_index('ix_posts_created', table_name='posts')
