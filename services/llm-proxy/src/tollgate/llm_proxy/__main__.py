"""``python -m tollgate.llm_proxy [serve|migrate]``; LLM_PROXY_WORKERS processes serve."""

from pathlib import Path

from tollgate.llm_proxy.app import create_app
from tollgate.llm_proxy.config import Settings
from tollgate.shared.runner import service_main

# src/tollgate/llm_proxy/__main__.py -> the service folder holding alembic.ini and migrations/
SERVICE_DIR = Path(__file__).resolve().parents[3]


def main() -> None:
    service_main(Settings, create_app, SERVICE_DIR)


if __name__ == "__main__":
    main()
