"""Run the service with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from orfeas.api.app import create_app
from orfeas.settings import Settings, get_settings


def serve(settings: Settings | None = None) -> None:
    """Serve ORFEAS on ``settings.host:settings.port`` until interrupted (one process: the job
    store's recovery and the worker pool assume they own the data directory)."""
    settings = settings or get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,  # request logs and metrics belong to the observability middleware
        timeout_graceful_shutdown=5,  # open event streams must not hold a shutdown for long
        server_header=False,
    )
