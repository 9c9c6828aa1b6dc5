"""index daily usage by account and day: a period's sums read whole days from the rollup

Revision ID: 0008_daily_usage_account_day
Revises: 0007_plan_catalog_minute_tokens
Create Date: 2026-12-03 13:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_daily_usage_account_day"
down_revision: str | None = "0007_plan_catalog_minute_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_daily_usage_account_day", "daily_usage", ["account_id", "day"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_daily_usage_account_day", table_name="daily_usage")
