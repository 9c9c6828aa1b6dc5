"""member permissions and the time of the fact applied last

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:55:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('members', sa.Column('permissions', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('members', sa.Column('fact_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('members', 'fact_at')
    op.drop_column('members', 'permissions')
