"""org members, open checkouts, duplicate subscriptions

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:05:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('org_members',
    sa.Column('org_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('fact_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'user_id', name=op.f('pk_org_members'))
    )
    op.create_index(op.f('ix_org_members_user_id'), 'org_members', ['user_id'], unique=False)
    op.create_table('open_checkouts',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('plan', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=255), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'plan', name=op.f('pk_open_checkouts')),
    sa.UniqueConstraint('session_id', name=op.f('uq_open_checkouts_session_id'))
    )
    op.create_table('duplicate_subscriptions',
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('kept_subscription_id', sa.String(length=255), nullable=False),
    sa.Column('refund_id', sa.String(length=255), nullable=True),
    sa.Column('refunded_amount', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('detected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('stripe_subscription_id', name=op.f('pk_duplicate_subscriptions'))
    )
    op.create_index(op.f('ix_duplicate_subscriptions_account_id'), 'duplicate_subscriptions', ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_duplicate_subscriptions_account_id'), table_name='duplicate_subscriptions')
    op.drop_table('duplicate_subscriptions')
    op.drop_table('open_checkouts')
    op.drop_index(op.f('ix_org_members_user_id'), table_name='org_members')
    op.drop_table('org_members')
