"""``python -m tollgate.billing [serve|migrate|reconcile|announce-plans]``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from tollgate.billing.app import create_app
from tollgate.billing.config import Settings
from tollgate.shared.runner import service_main

# src/tollgate/billing/__main__.py -> the service folder holding alembic.ini and migrations/
SERVICE_DIR = Path(__file__).resolve().parents[3]


async def run_reconcile(hours: int | None) -> int:
    from tollgate.billing.context import Billing
    from tollgate.billing.reconcile import reconcile
    from tollgate.shared.db import create_engine, create_sessionmaker

    settings = Settings()
    engine = create_engine(settings.database_url, pool_size=2)
    billing = Billing(settings)
    try:
        report = await reconcile(
            create_sessionmaker(engine),
            billing.stripe,
            hours=hours or settings.reconcile_lookback_hours,
        )
    finally:
        await billing.stripe.close()
        await engine.dispose()
    print(json.dumps(dataclasses.asdict(report), indent=2))
    # Non-zero when something needs a person: drift, or events that would not apply.
    return 1 if report.drift or report.events_failed else 0


async def run_announce_plans() -> int:
    from tollgate.billing.plans.service import announce_catalog
    from tollgate.shared.db import create_engine, create_sessionmaker

    engine = create_engine(Settings().database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            count = await announce_catalog(session)
    finally:
        await engine.dispose()
    # The running service's relay publishes them from the outbox.
    print(json.dumps({"plans_announced": count}))
    return 0


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "announce-plans":
        sys.exit(asyncio.run(run_announce_plans()))
    if len(sys.argv) > 1 and sys.argv[1] == "reconcile":
        parser = argparse.ArgumentParser(prog="python -m tollgate.billing reconcile")
        parser.add_argument("command")
        parser.add_argument("--hours", type=int, default=None)
        args = parser.parse_args()
        sys.exit(asyncio.run(run_reconcile(args.hours)))
    service_main(Settings, create_app, SERVICE_DIR)


if __name__ == "__main__":
    main()
