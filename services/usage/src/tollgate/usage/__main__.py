"""``python -m tollgate.usage [serve|migrate]``; USAGE_WORKERS processes serve."""

from pathlib import Path

from tollgate.shared.runner import service_main
from tollgate.usage.app import create_app
from tollgate.usage.config import Settings

# src/tollgate/usage/__main__.py -> the service folder holding alembic.ini and migrations/
SERVICE_DIR = Path(__file__).resolve().parents[3]


def main() -> None:
    service_main(Settings, create_app, SERVICE_DIR)


if __name__ == "__main__":
    main()
