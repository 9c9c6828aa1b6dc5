"""purchase grants, clawbacks, auto top-up watches; a grant may fall to zero

Revision ID: 0006_top_ups
Revises: 0005_yearly_terms
Create Date: 2026-12-03 13:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_top_ups'
down_revision: str | None = '0005_yearly_terms'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('purchase_grants',
    sa.Column('purchase_id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('grant_id', sa.UUID(), nullable=False),
    sa.Column('credits', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('purchase_id', name=op.f('pk_purchase_grants')),
    sa.UniqueConstraint('grant_id', name=op.f('uq_purchase_grants_grant_id'))
    )
    op.create_index(op.f('ix_purchase_grants_account_id'), 'purchase_grants', ['account_id'], unique=False)
    op.create_table('clawbacks',
    sa.Column('refund_id', sa.String(length=255), nullable=False),
    sa.Column('purchase_id', sa.UUID(), nullable=False),
    sa.Column('asked', sa.BigInteger(), nullable=False),
    sa.Column('taken', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('refund_id', name=op.f('pk_clawbacks'))
    )
    op.create_index(op.f('ix_clawbacks_purchase_id'), 'clawbacks', ['purchase_id'], unique=False)
    op.create_table('top_up_watches',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('threshold', sa.BigInteger(), nullable=False),
    sa.Column('armed', sa.Boolean(), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_top_up_watches'))
    )
    op.drop_constraint(op.f('ck_grants_amount_positive'), 'grants', type_='check')
    op.create_check_constraint(op.f('ck_grants_amount_not_negative'), 'grants', 'amount >= 0')


def downgrade() -> None:
    op.drop_constraint(op.f('ck_grants_amount_not_negative'), 'grants', type_='check')
    op.create_check_constraint(op.f('ck_grants_amount_positive'), 'grants', 'amount > 0')
    op.drop_table('top_up_watches')
    op.drop_index(op.f('ix_clawbacks_purchase_id'), table_name='clawbacks')
    op.drop_table('clawbacks')
    op.drop_index(op.f('ix_purchase_grants_account_id'), table_name='purchase_grants')
    op.drop_table('purchase_grants')
