"""access reviews: a grant can be confirmed by someone who may grant it now

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:30:00

A grant rests on the authority of whoever granted it, or of whoever last confirmed it; when
that authority is gone the grant needs review (computed at read time, see
app/access/repository.py). Nullable columns only: no rewrite of access_grants.
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('access_grants', sa.Column('confirmed_by_kind', sa.String(length=16), nullable=True))
    op.add_column('access_grants', sa.Column('confirmed_by_id', sa.UUID(), nullable=True))
    op.add_column('access_grants', sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('access_grants', sa.Column('confirm_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    for column in ('confirm_reason', 'confirmed_at', 'confirmed_by_id', 'confirmed_by_kind'):
        op.drop_column('access_grants', column)
