"""model price list: this service's copy of the prices usage announces

Revision ID: 0008_model_price_list
Revises: 0007_plan_versions
Create Date: 2026-12-03 13:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008_model_price_list'
down_revision: str | None = '0007_plan_versions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'model_price_list',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.Column('prices', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_model_price_list')),
    )


def downgrade() -> None:
    op.drop_table('model_price_list')
