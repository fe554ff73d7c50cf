"""posts paused for a reason other than a crisis say why (author_offboarded)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 07:00:00

A leaver's scheduled posts are paused until an account admin reassigns or releases them. A
crisis pause names its crisis (paused_by_crisis_id); this names any other reason. Nullable,
no index, written only by those pauses: the freeze's HOT updates are untouched.
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('posts', sa.Column('pause_reason', sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column('posts', 'pause_reason')
