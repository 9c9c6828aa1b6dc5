"""``python -m tollgate.<service> [serve|migrate]`` for every service.

A service whose settings have ``workers`` above one (``USAGE_WORKERS``,
``LLM_PROXY_WORKERS``) is served by that many processes sharing the port: uvicorn
starts each from the app factory's import path, and each builds its own app from
the environment (pools, relay, consumers), as a single process does.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from tollgate.shared.db import run_alembic_upgrade
from tollgate.shared.logs import configure_logging
from tollgate.shared.settings import ServiceSettings

__all__ = ["service_main"]


def service_main(
    settings_factory: Callable[[], ServiceSettings],
    # Each service's create_app takes its own Settings subclass.
    app_factory: Callable[[Any], FastAPI],
    service_dir: Path,
) -> None:
    parser = argparse.ArgumentParser(description="Run the service or its migrations.")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args()
    settings = settings_factory()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    if args.command == "migrate":
        # Alembic narrates every plugin and step at INFO; a migration says something
        # only when it fails (and then its traceback says it).
        logging.getLogger("alembic").setLevel(logging.WARNING)
        run_alembic_upgrade(service_dir, settings.database_url)
        return
    # Only the services that can run several processes declare the setting.
    workers: int = getattr(settings, "workers", 1)
    app: FastAPI | str
    if workers > 1:
        app = f"{app_factory.__module__}:{app_factory.__qualname__}"
    else:
        app = app_factory(settings)
    uvicorn.run(
        app,
        factory=workers > 1,
        workers=workers if workers > 1 else None,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        # Only the gateway sits in front of us; X-Forwarded-* is read explicitly where needed.
        proxy_headers=False,
        server_header=False,
        # Longer than the gateway keeps an idle connection (30 s): the side that reuses a
        # connection must be the one to close it, or a request can meet a closing socket.
        timeout_keep_alive=75,
    )
