"""``python -m tollgate.llm_proxy [serve|migrate]``; LLM_PROXY_WORKERS processes serve."""

import sys
from pathlib import Path

import uvicorn

from tollgate.llm_proxy.app import create_app
from tollgate.llm_proxy.config import Settings
from tollgate.shared.logs import configure_logging
from tollgate.shared.runner import service_main

# src/tollgate/llm_proxy/__main__.py -> the service folder holding alembic.ini and migrations/
SERVICE_DIR = Path(__file__).resolve().parents[3]


def main() -> None:
    settings = Settings()
    if settings.workers <= 1 or "migrate" in sys.argv[1:]:
        service_main(Settings, create_app, SERVICE_DIR)
        return
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    # Each worker builds its own app from the environment (pools, relay, consumers).
    uvicorn.run(
        "tollgate.llm_proxy.app:create_app",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
