import uvloop
from aiohttp import web

from tollgate.gateway.app import create_app
from tollgate.gateway.config import Settings
from tollgate.shared.logs import configure_logging


def main() -> None:
    settings = Settings()
    configure_logging(settings.service_name, settings.log_level)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
