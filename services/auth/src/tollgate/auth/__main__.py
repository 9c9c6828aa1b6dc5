import sys
from pathlib import Path

from fastapi import FastAPI

from tollgate.auth.app import create_app
from tollgate.auth.config import Settings
from tollgate.shared.runner import service_main
from tollgate.shared.settings import ServiceSettings

# src/tollgate/auth/__main__.py -> the service folder holding alembic.ini and migrations/
SERVICE_DIR = Path(__file__).resolve().parents[3]


def serve(settings: ServiceSettings) -> FastAPI:
    if not isinstance(settings, Settings):
        raise TypeError("auth needs its own Settings")
    app: FastAPI = create_app(settings)
    return app


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "create-superadmin":
        from tollgate.auth.cli import main

        main(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "announce-facts":
        from tollgate.auth.cli import announce_main

        announce_main(sys.argv[2:])
    else:
        service_main(Settings, serve, SERVICE_DIR)
