"""model prices: the balance's unit becomes credits, each model priced per million tokens

Revision ID: 0009_model_prices
Revises: 0008_daily_usage_account_day
Create Date: 2026-12-03 13:00:00.000000

Balances, grants, holds, caps and allocations were counted in tokens; from here
they are credits. The reference model (gpt-4o-mini) costs 1,000,000 credits per
million tokens each way, one credit per token, so CREDITS_PER_OLD_TOKEN is 1 and
what anyone could spend on the reference model does not change. The conversion is
written out anyway: a different reference would change this one number.

Every other model of the default catalog is priced by its provider cost relative
to the reference's, direction by direction: ceil(1,000,000 × cost / reference
cost), at least 1 (``ledger.domain.price_relative_to_reference``; a unit test
checks these seeds against it). Provider costs, USD per million in / out:
gpt-4o-mini 0.15 / 0.60, gpt-4o 2.50 / 10.00, claude-3-5-haiku 0.80 / 4.00,
claude-sonnet-4 3.00 / 15.00, text-embedding-3-small 0.02 / 0.
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0009_model_prices'
down_revision: str | None = '0008_daily_usage_account_day'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREDITS_PER_OLD_TOKEN = 1
REFERENCE_PER_MILLION = 1_000_000 * CREDITS_PER_OLD_TOKEN

SEED_PRICES = {
    'gpt-4o-mini': (REFERENCE_PER_MILLION, REFERENCE_PER_MILLION),
    'gpt-4o': (16_666_667, 16_666_667),
    'claude-3-5-haiku': (5_333_334, 6_666_667),
    'claude-sonnet-4': (20_000_000, 25_000_000),
    'text-embedding-3-small': (133_334, 1),
}

# Every amount that was a number of tokens to spend, and is now credits.
AMOUNTS = {
    'grants': ('amount', 'used'),
    'holds': ('amount', 'committed_tokens'),
    'ledger_entries': ('amount',),
    'accounts': ('monthly_tokens',),
    'members': ('cap_tokens',),
}


def upgrade() -> None:
    op.create_table(
        'model_prices',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('model', sa.String(length=200), nullable=False),
        sa.Column('input_per_million', sa.BigInteger(), nullable=False),
        sa.Column('output_per_million', sa.BigInteger(), nullable=False),
        sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
        sa.Column('set_by', sa.UUID(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('input_per_million > 0 AND output_per_million > 0', name=op.f('ck_model_prices_prices_positive')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_model_prices')),
    )
    op.create_index('uq_model_prices_model_from', 'model_prices', ['model', 'effective_from'], unique=True)
    # Effective since the epoch: usage reported late for a call made before this
    # migration is charged at the seeded price, as it would have been in tokens.
    prices = sa.table(
        'model_prices',
        sa.column('model', sa.String), sa.column('input_per_million', sa.BigInteger),
        sa.column('output_per_million', sa.BigInteger), sa.column('effective_from', sa.DateTime(timezone=True)),
    )
    op.bulk_insert(prices, [
        {'model': model, 'input_per_million': i, 'output_per_million': o, 'effective_from': datetime(1970, 1, 1, tzinfo=UTC)}
        for model, (i, o) in SEED_PRICES.items()
    ])

    if CREDITS_PER_OLD_TOKEN != 1:
        for table, columns in AMOUNTS.items():
            op.execute(f"UPDATE {table} SET " + ', '.join(f"{c} = {c} * {CREDITS_PER_OLD_TOKEN}" for c in columns))

    # Holds made before prices were sized one credit per token: they settle so.
    for column in ('input_per_million', 'output_per_million'):
        op.add_column('holds', sa.Column(column, sa.BigInteger(), nullable=True))
        op.execute(f"UPDATE holds SET {column} = {REFERENCE_PER_MILLION}")
        op.alter_column('holds', column, nullable=False)
        op.add_column('usage_records', sa.Column(column, sa.BigInteger(), nullable=True))

    op.alter_column('usage_records', 'charged_tokens', new_column_name='charged_credits')
    op.alter_column('usage_records', 'uncharged_tokens', new_column_name='uncharged_credits')
    op.alter_column('daily_usage', 'charged_tokens', new_column_name='charged_credits')
    if CREDITS_PER_OLD_TOKEN != 1:
        op.execute(f"UPDATE usage_records SET charged_credits = charged_credits * {CREDITS_PER_OLD_TOKEN},"
                   f" uncharged_credits = uncharged_credits * {CREDITS_PER_OLD_TOKEN}")
        op.execute(f"UPDATE daily_usage SET charged_credits = charged_credits * {CREDITS_PER_OLD_TOKEN}")


def downgrade() -> None:
    op.alter_column('daily_usage', 'charged_credits', new_column_name='charged_tokens')
    op.alter_column('usage_records', 'uncharged_credits', new_column_name='uncharged_tokens')
    op.alter_column('usage_records', 'charged_credits', new_column_name='charged_tokens')
    for column in ('input_per_million', 'output_per_million'):
        op.drop_column('usage_records', column)
        op.drop_column('holds', column)
    op.drop_index('uq_model_prices_model_from', table_name='model_prices')
    op.drop_table('model_prices')
