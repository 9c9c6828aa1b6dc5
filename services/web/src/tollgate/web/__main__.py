"""``python -m tollgate.web``: serve the pages (no migrations: the app has no database)."""

import uvicorn

from tollgate.shared.logs import configure_logging
from tollgate.web.app import create_app
from tollgate.web.config import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
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
