"""trials, yearly prices and promotion-code discounts

Revision ID: 0005_trials_yearly_promotions
Revises: 0004
Create Date: 2026-12-03 13:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_trials_yearly_promotions'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('plans', sa.Column('yearly_price', sa.Numeric(precision=12, scale=2), nullable=True))
    op.add_column('plans', sa.Column('stripe_yearly_price_id', sa.String(length=255), nullable=True))
    op.add_column('plans', sa.Column('trial_days', sa.Integer(), server_default=sa.text('0'), nullable=False))
    op.create_unique_constraint(op.f('uq_plans_stripe_yearly_price_id'), 'plans', ['stripe_yearly_price_id'])
    op.add_column('subscriptions', sa.Column('billing_interval', sa.String(length=10), server_default=sa.text("'month'"), nullable=False))
    op.add_column('subscriptions', sa.Column('trial_end', sa.DateTime(timezone=True), nullable=True))
    op.add_column('subscriptions', sa.Column('trial_started_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('invoices', sa.Column('subtotal', sa.BigInteger(), nullable=True))
    op.add_column('invoices', sa.Column('discount', sa.BigInteger(), server_default=sa.text('0'), nullable=False))
    op.add_column('invoices', sa.Column('promotion_code', sa.String(length=255), nullable=True))
    op.add_column('open_checkouts', sa.Column('billing_interval', sa.String(length=10), server_default=sa.text("'month'"), nullable=False))
    op.add_column('open_checkouts', sa.Column('trial', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.drop_constraint('pk_open_checkouts', 'open_checkouts', type_='primary')
    op.create_primary_key('pk_open_checkouts', 'open_checkouts', ['account_id', 'plan', 'billing_interval', 'trial'])


def downgrade() -> None:
    op.execute("DELETE FROM open_checkouts WHERE billing_interval <> 'month' OR trial")
    op.drop_constraint('pk_open_checkouts', 'open_checkouts', type_='primary')
    op.create_primary_key('pk_open_checkouts', 'open_checkouts', ['account_id', 'plan'])
    op.drop_column('open_checkouts', 'trial')
    op.drop_column('open_checkouts', 'billing_interval')
    op.drop_column('invoices', 'promotion_code')
    op.drop_column('invoices', 'discount')
    op.drop_column('invoices', 'subtotal')
    op.drop_column('subscriptions', 'trial_started_at')
    op.drop_column('subscriptions', 'trial_end')
    op.drop_column('subscriptions', 'billing_interval')
    op.drop_constraint(op.f('uq_plans_stripe_yearly_price_id'), 'plans', type_='unique')
    op.drop_column('plans', 'trial_days')
    op.drop_column('plans', 'stripe_yearly_price_id')
    op.drop_column('plans', 'yearly_price')
