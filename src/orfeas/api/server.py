"""Run the service with uvicorn, hardened for the open network: slow clients cut off
(:mod:`orfeas.api.slow_clients`), a cap on open connections, and proxy headers believed only
from ``ORFEAS_TRUSTED_PROXIES``."""

from __future__ import annotations

import logging
import resource

import uvicorn

from orfeas.api.app import create_app
from orfeas.api.slow_clients import ClientLimits, guarded_protocol
from orfeas.settings import Settings, get_settings

log = logging.getLogger("orfeas.api")

#: Descriptors kept free beside the connections (the job store, artifacts, pipes to runners).
_SPARE_DESCRIPTORS = 512


def serve(settings: Settings | None = None) -> None:
    """Serve ORFEAS on ``settings.host:settings.port`` until interrupted (one process: the job
    store's recovery and the worker pool assume they own the data directory)."""
    settings = settings or get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise_descriptor_limit(settings.max_connections + _SPARE_DESCRIPTORS)
    uvicorn.run(create_app(settings), **uvicorn_options(settings))


def uvicorn_options(settings: Settings) -> dict[str, object]:
    """The keyword arguments ``serve`` gives ``uvicorn.run`` (also for tests and other launchers)."""
    proxies = settings.trusted_proxy_list()
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": False,  # request logs and metrics belong to the observability middleware
        "timeout_graceful_shutdown": 5,  # open event streams must not hold a shutdown for long
        "server_header": False,
        # Slow clients: a head deadline, a body rate and a connection cap (uvicorn has neither of
        # the first two), plus uvicorn's own keep-alive timeout and header-size limit for h11.
        "http": guarded_protocol(ClientLimits.from_settings(settings)),
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "limit_concurrency": settings.max_connections,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, so any local
        # client could pick its address (and its rate-limit bucket): only configured proxies.
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or [],
    }


def raise_descriptor_limit(wanted: int) -> int:
    """Raise this process's soft limit on open files towards ``wanted`` (never above the hard
    limit, never lower than it is); returns the limit in force, logging when it stays short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < wanted:
        log.warning(
            "open-file limit %d is below max_connections + %d (%d): lower ORFEAS_MAX_CONNECTIONS "
            "or raise the hard limit (ulimit -Hn)",
            soft,
            _SPARE_DESCRIPTORS,
            wanted,
        )
    return soft
