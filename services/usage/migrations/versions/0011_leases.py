"""leases: a hold that serves many calls

Revision ID: 0011_leases
Revises: 0010_promotion_codes
Create Date: 2026-12-03 16:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_leases'
down_revision: str | None = '0010_promotion_codes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A lease's held credits fall to zero as its calls draw from it and it is shrunk.
    op.drop_constraint(op.f('ck_holds_amount_positive'), 'holds', type_='check')
    op.create_check_constraint(op.f('ck_holds_amount_not_negative'), 'holds', 'amount >= 0')
    op.add_column('holds', sa.Column('calls', sa.Integer(), server_default=sa.text('1'), nullable=False))
    op.add_column('holds', sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('holds', sa.Column('lease_credits', sa.BigInteger(), nullable=True))
    op.add_column('holds', sa.Column('lease_tokens', sa.BigInteger(), nullable=True))
    op.add_column('holds', sa.Column('lease_calls', sa.Integer(), nullable=True))
    op.add_column('holds', sa.Column('lease_default_completion_tokens', sa.BigInteger(), nullable=True))
    op.add_column('holds', sa.Column('lease_tokens_per_minute', sa.BigInteger(), nullable=True))
    op.add_column('holds', sa.Column('lease_final', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.create_check_constraint(op.f('ck_holds_calls_not_negative'), 'holds', 'calls >= 0')
    op.create_check_constraint(
        op.f('ck_holds_lease_granted_whole'),
        'holds',
        '(lease_until IS NULL) = (lease_credits IS NULL) AND (lease_until IS NULL) = (lease_tokens IS NULL)'
        ' AND (lease_until IS NULL) = (lease_calls IS NULL)'
        ' AND (lease_until IS NULL) = (lease_default_completion_tokens IS NULL)',
    )


def downgrade() -> None:
    op.drop_constraint(op.f('ck_holds_lease_granted_whole'), 'holds', type_='check')
    op.drop_constraint(op.f('ck_holds_calls_not_negative'), 'holds', type_='check')
    for column in ('lease_final', 'lease_tokens_per_minute', 'lease_default_completion_tokens',
                   'lease_calls', 'lease_tokens', 'lease_credits', 'lease_until', 'calls'):
        op.drop_column('holds', column)
    op.drop_constraint(op.f('ck_holds_amount_not_negative'), 'holds', type_='check')
    op.create_check_constraint(op.f('ck_holds_amount_positive'), 'holds', 'amount > 0')
