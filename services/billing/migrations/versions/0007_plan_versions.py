"""plan versions, carried by plan.updated

Revision ID: 0007_plan_versions
Revises: 0006_credit_packs
Create Date: 2026-12-03 13:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_plan_versions'
down_revision: str | None = '0006_credit_packs'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'plans', sa.Column('version', sa.BigInteger(), server_default=sa.text('1'), nullable=False)
    )


def downgrade() -> None:
    op.drop_column('plans', 'version')
