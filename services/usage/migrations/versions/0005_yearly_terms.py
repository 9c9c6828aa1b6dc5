"""the end of a paid term, so a yearly plan's allocation renews month by month

Revision ID: 0005_yearly_terms
Revises: 0004
Create Date: 2026-12-03 13:05:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_yearly_terms'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('accounts', sa.Column('term_end', sa.DateTime(timezone=True), nullable=True))
    # Paid periods so far were all one month long: the term is the period.
    op.execute("UPDATE accounts SET term_end = period_end WHERE plan <> 'free'")


def downgrade() -> None:
    op.drop_column('accounts', 'term_end')
