"""``python -m tollgate.usage [serve|migrate|announce-prices]``; USAGE_WORKERS processes serve."""

import sys
from pathlib import Path

from tollgate.shared.runner import service_main
from tollgate.usage.app import create_app
from tollgate.usage.config import Settings

# src/tollgate/usage/__main__.py -> the service folder holding alembic.ini and migrations/
SERVICE_DIR = Path(__file__).resolve().parents[3]


def main() -> None:
    if sys.argv[1:2] == ["announce-prices"]:
        from tollgate.usage.prices.cli import main as announce_prices

        announce_prices()
        return
    service_main(Settings, create_app, SERVICE_DIR)


if __name__ == "__main__":
    main()
