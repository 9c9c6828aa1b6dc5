"""promotion codes and their redemptions

Revision ID: 0010_promotion_codes
Revises: 0009_model_prices
Create Date: 2026-12-03 12:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010_promotion_codes'
down_revision: str | None = '0009_model_prices'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('promotion_codes',
    sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('credits', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('max_redemptions', sa.Integer(), nullable=False),
    sa.Column('redemptions', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('grant_valid_days', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', postgresql.UUID(as_uuid=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('credits > 0', name=op.f('ck_promotion_codes_credits_positive')),
    sa.CheckConstraint('max_redemptions > 0', name=op.f('ck_promotion_codes_max_redemptions_positive')),
    sa.CheckConstraint('redemptions >= 0 AND redemptions <= max_redemptions', name=op.f('ck_promotion_codes_redemptions_within_max')),
    sa.CheckConstraint('grant_valid_days IS NULL OR grant_valid_days > 0', name=op.f('ck_promotion_codes_grant_valid_days_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotion_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_promotion_codes_code'))
    )
    op.create_table('promotion_redemptions',
    sa.Column('code_id', postgresql.UUID(as_uuid=True), nullable=False),
    sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
    sa.Column('user_id', postgresql.UUID(as_uuid=True), nullable=False),
    sa.Column('grant_id', postgresql.UUID(as_uuid=True), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code_id', 'account_id', name=op.f('pk_promotion_redemptions')),
    sa.UniqueConstraint('grant_id', name=op.f('uq_promotion_redemptions_grant_id'))
    )


def downgrade() -> None:
    op.drop_table('promotion_redemptions')
    op.drop_table('promotion_codes')
