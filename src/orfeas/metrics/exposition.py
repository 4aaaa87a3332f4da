"""The Prometheus text format (0.0.4), fast: what ``/metrics`` serves.

Most samples of a busy service are the request families, one series per route, method and
status. prometheus_client renders them through generic objects; :class:`RequestRenderer` writes
them straight from :class:`~orfeas.metrics.collectors.RequestCollector`'s numbers with cached label
strings, so a scrape after thousands of requests stays near a millisecond or two (measured in
``bench/metrics_bench.py``). The output equals ``prometheus_client.generate_latest`` family by
family (a test checks it).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.utils import floatToGoString

from orfeas.metrics.collectors import (
    DURATION,
    DURATION_LE,
    IN_FLIGHT,
    REQUEST_SIZE,
    REQUESTS,
    RESPONSE_SIZE,
    RequestCollector,
    label_value,
)


def _header(spec: tuple[str, str], kind: str, suffix: str = "") -> str:
    name = spec[0] + suffix
    return f"# HELP {name} {spec[1]}\n# TYPE {name} {kind}\n"


class RequestRenderer:
    """Renders a :class:`RequestCollector` in the text format, caching each series' label string."""

    def __init__(self, requests: RequestCollector) -> None:
        self.requests = requests
        self._prefixes: dict[tuple[str, str, str], str] = {}  # rendered sample-name-and-labels

    def render(self) -> str:
        collector = self.requests
        out = [_header(REQUESTS, "counter", "_total")]
        prefixes = self._prefixes
        for key, count in list(collector.counts.items()):
            prefix = prefixes.get(key)
            if prefix is None:
                route, method, status = (label_value(v) for v in key)
                prefix = prefixes[key] = (
                    f'orfeas_http_requests_total{{method="{method}",route="{route}",status="{status}"}} '
                )
            out.append(f"{prefix}{floatToGoString(count)}\n")
        routes = list(collector.routes.values())
        out.append(_header(DURATION, "histogram"))
        name = DURATION[0]
        for stats in routes:
            labels, total = stats.labels, 0
            for le, n in zip(DURATION_LE, stats.buckets, strict=True):
                total += n
                out.append(f'{name}_bucket{{le="{le}",{labels}}} {floatToGoString(total)}\n')
            out.append(f"{name}_count{{{labels}}} {floatToGoString(total)}\n")
            out.append(f"{name}_sum{{{labels}}} {floatToGoString(stats.duration_sum)}\n")
        for (name, help_text), attr in ((REQUEST_SIZE, "request_sum"), (RESPONSE_SIZE, "response_sum")):
            out.append(_header((name, help_text), "summary"))
            for stats in routes:
                out.append(f"{name}_count{{{stats.labels}}} {floatToGoString(sum(stats.buckets))}\n")
                out.append(f"{name}_sum{{{stats.labels}}} {floatToGoString(getattr(stats, attr))}\n")
        out.append(_header(IN_FLIGHT, "gauge"))
        out.append(f"{IN_FLIGHT[0]} {floatToGoString(collector.in_flight)}\n")
        return "".join(out)


def exposition(core: CollectorRegistry, requests: RequestRenderer) -> bytes:
    """Every family: ``core``'s through prometheus_client, the request families by ``requests``."""
    return prometheus_client.generate_latest(core) + requests.render().encode()


class MetricsApp:
    """The ``/metrics`` ASGI app: the text format, gzip-compressed when the client asks.

    Prometheus accepts the text format whatever it prefers in ``Accept``; rendering it ourselves
    is what keeps a scrape fast. A class, not a function, so Starlette's ``add_route`` mounts it
    as the raw ASGI app it is, at exactly ``/metrics``.
    """

    def __init__(self, render: Callable[[], bytes]) -> None:
        self.render = render

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        body = self.render()
        headers = [(b"content-type", prometheus_client.CONTENT_TYPE_LATEST.encode())]
        accept_encoding = b",".join(v for k, v in scope.get("headers", ()) if k == b"accept-encoding")
        if b"gzip" in accept_encoding:
            # Level 1: a tenth of the time of level 9 for a few per cent more bytes.
            body = gzip.compress(body, compresslevel=1)
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})
