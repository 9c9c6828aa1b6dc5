"""credit packs, purchases, auto top-ups

Revision ID: 0006_credit_packs
Revises: 0005_trials_yearly_promotions
Create Date: 2026-12-03 13:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_credit_packs'
down_revision: str | None = '0005_trials_yearly_promotions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('credit_packs',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('credits', sa.BigInteger(), nullable=False),
    sa.Column('price_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('valid_days', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('credits > 0', name=op.f('ck_credit_packs_credits_positive')),
    sa.CheckConstraint('price_cents > 0', name=op.f('ck_credit_packs_price_positive')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_credit_packs'))
    )
    op.create_table('purchases',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('org_id', sa.UUID(), nullable=True),
    sa.Column('pack_code', sa.String(length=40), nullable=False),
    sa.Column('credits', sa.BigInteger(), nullable=False),
    sa.Column('price_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('valid_days', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('checkout_session_id', sa.String(length=255), nullable=True),
    sa.Column('checkout_url', sa.Text(), nullable=True),
    sa.Column('payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('charge_id', sa.String(length=255), nullable=True),
    sa.Column('crossing_id', sa.UUID(), nullable=True),
    sa.Column('credits_refunded', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('credits_expire_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['pack_code'], ['credit_packs.code'], name=op.f('fk_purchases_pack_code_credit_packs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchases')),
    sa.UniqueConstraint('checkout_session_id', name=op.f('uq_purchases_checkout_session_id')),
    sa.UniqueConstraint('crossing_id', name=op.f('uq_purchases_crossing_id')),
    sa.UniqueConstraint('payment_intent_id', name=op.f('uq_purchases_payment_intent_id'))
    )
    op.create_index(op.f('ix_purchases_account_id'), 'purchases', ['account_id'], unique=False)
    op.create_index(op.f('ix_purchases_charge_id'), 'purchases', ['charge_id'], unique=False)
    op.create_index('uq_purchases_open_checkout', 'purchases', ['account_id', 'pack_code'], unique=True, postgresql_where=sa.text("status = 'open'"))
    op.create_table('auto_top_ups',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('org_id', sa.UUID(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('threshold', sa.BigInteger(), nullable=False),
    sa.Column('pack_code', sa.String(length=40), nullable=False),
    sa.Column('disabled_reason', sa.Text(), nullable=True),
    sa.Column('sequence', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['pack_code'], ['credit_packs.code'], name=op.f('fk_auto_top_ups_pack_code_credit_packs')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_auto_top_ups'))
    )


def downgrade() -> None:
    op.drop_table('auto_top_ups')
    op.drop_index('uq_purchases_open_checkout', table_name='purchases', postgresql_where=sa.text("status = 'open'"))
    op.drop_index(op.f('ix_purchases_charge_id'), table_name='purchases')
    op.drop_index(op.f('ix_purchases_account_id'), table_name='purchases')
    op.drop_table('purchases')
    op.drop_table('credit_packs')
