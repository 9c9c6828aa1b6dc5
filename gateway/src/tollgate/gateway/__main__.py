"""``python -m tollgate.gateway``: serve on GATEWAY_PORT with GATEWAY_WORKERS processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys

import uvloop
from aiohttp import web

from tollgate.gateway.app import create_app
from tollgate.gateway.config import Settings
from tollgate.shared.logs import configure_logging


def serve(settings: Settings, reuse_port: bool) -> None:
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
        reuse_port=reuse_port,
        # A client that hangs up cancels its handler, which closes the upstream call.
        handler_cancellation=True,
        max_field_size=16384,
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "migrate":
        return  # no database: nothing to migrate
    settings = Settings()
    if settings.workers == 1:
        serve(settings, reuse_port=False)
        return
    # Processes sharing the port (SO_REUSEPORT); the kernel spreads connections.
    workers = [
        multiprocessing.Process(target=serve, args=(settings, True), daemon=False)
        for _ in range(settings.workers)
    ]
    for worker in workers:
        worker.start()

    def stop(signum: int, _frame: object) -> None:
        # Pass the stop on, so no worker outlives the process that was asked to stop.
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
