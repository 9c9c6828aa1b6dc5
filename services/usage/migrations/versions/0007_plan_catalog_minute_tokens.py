"""the plan catalog as announced, and tokens counted per minute

Revision ID: 0007_plan_catalog_minute_tokens
Revises: 0006_top_ups
Create Date: 2026-12-03 13:05:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007_plan_catalog_minute_tokens'
down_revision: str | None = '0006_top_ups'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('plan_catalog',
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('monthly_tokens', sa.BigInteger(), nullable=False),
    sa.Column('limits', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_plan_catalog'))
    )
    op.create_table('minute_tokens',
    sa.Column('hold_id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('counted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('hold_id', name=op.f('pk_minute_tokens'))
    )
    op.create_index('ix_minute_tokens_member_at', 'minute_tokens', ['account_id', 'user_id', 'counted_at'], unique=False)
    op.create_index(op.f('ix_minute_tokens_counted_at'), 'minute_tokens', ['counted_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_minute_tokens_counted_at'), table_name='minute_tokens')
    op.drop_index('ix_minute_tokens_member_at', table_name='minute_tokens')
    op.drop_table('minute_tokens')
    op.drop_table('plan_catalog')
