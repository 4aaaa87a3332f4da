"""Metrics wired into the app: the request middleware, ``/metrics``, and the service's hooks.

:func:`install` builds the app's :class:`~orfeas.metrics.Metrics` with the service's vocabulary,
subscribes it to the observation hooks (:mod:`orfeas.api.hooks`) and the job queue, serves
``/metrics`` and adds :class:`MetricsMiddleware` outermost, so it times everything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.routing import Match

from orfeas.api.errors import REQUEST_CODES
from orfeas.api.hooks import Hooks
from orfeas.api.security import AUTH_FAILURE_REASONS, RATE_LIMIT_SCOPES
from orfeas.jobs.observe import recorders, service_metrics, vocabulary
from orfeas.metrics import Metrics, Vocabulary

UNMATCHED = "unmatched"
#: What an upload is counted as in ``orfeas_uploads_total``: pictures only (text and mesh jobs
#: count in ``orfeas_jobs_submitted_total{kind=…}``).
_NOT_PICTURES = frozenset({"text", "stl", "obj", "ply", "glb", "3mf"})


def route_template(scope: Mapping[str, Any]) -> str:
    """The template of the route that handled (or would handle) this request, else ``"unmatched"``.

    Starlette's router stores the matched route in ``scope["route"]``. When something answered
    before routing (a rate limiter, an auth check), the app's routes are matched here instead.
    """
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        router = getattr(app, "router", None)
        for candidate in getattr(router, "routes", ()):
            try:
                match, _ = candidate.matches(scope)
            except Exception:  # a route that cannot judge this scope does not label it
                continue
            if match is not Match.NONE:  # FULL, or PARTIAL (a 405 for another method)
                route = candidate
                break
    template = getattr(route, "path_format", None) if route is not None else None
    return template or UNMATCHED


class MetricsMiddleware:
    """Pure ASGI middleware recording request metrics by route template (add it outermost).

    Counts, duration, body sizes and in-flight for every HTTP request; a 5xx or an exception that
    escapes the app is also an error. ``BaseHTTPMiddleware`` is avoided on purpose: it is slow and
    breaks streaming.
    """

    def __init__(self, app: Callable[..., Any], metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        request_bytes = 0
        response_bytes = 0

        async def counting_receive() -> dict[str, Any]:
            nonlocal request_bytes
            message = await receive()
            if message["type"] == "http.request":
                request_bytes += len(message.get("body", b""))
            return message

        streaming = False

        async def counting_send(message: dict[str, Any]) -> None:
            nonlocal status, response_bytes, streaming
            if message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"content-type" and value.startswith(b"text/event-stream"):
                        streaming = True  # an open event stream, counted until it ends
                        metrics.event_streams.inc()
            await send(message)

        requests = metrics.requests
        requests.in_flight += 1
        try:
            await self.app(scope, counting_receive, counting_send)
        except BaseException:
            metrics.errors.labels("unhandled_exception").inc()
            raise
        else:
            if status >= 500:
                metrics.errors.labels("http_5xx").inc()
        finally:
            requests.in_flight -= 1
            if streaming:
                metrics.event_streams.dec()
            if request_bytes == 0:
                request_bytes = _declared_length(scope)
            metrics.observe_request(
                route_template(scope),
                scope.get("method", "GET"),
                status,
                time.perf_counter() - started,
                request_bytes,
                response_bytes,
            )


def install(app: Any) -> Metrics | None:
    """Wire metrics into an ORFEAS app from :func:`orfeas.api.create_app`; None when disabled.

    Reads ``app.state.settings``; when ``metrics_enabled`` it subscribes to ``app.state.hooks``,
    follows the runtime's job queue, records each engine's availability, serves ``/metrics`` and
    adds :class:`MetricsMiddleware` (call it after every other ``add_middleware``, so it is the
    outermost and times everything). The Metrics object is left on ``app.state.metrics``.
    """
    settings = app.state.settings
    if not settings.metrics_enabled:
        app.state.metrics = None
        return None
    runtime = app.state.runtime
    metrics = service_metrics(settings, api_vocabulary())
    connect(metrics, app.state.hooks)
    for listener in recorders(metrics):
        app.state.hooks.on_job(listener)
    # read at scrape time from the runtime (0 before the service starts)
    metrics.track_job_counts(queued=lambda: runtime.waiting, running=lambda: runtime.running)
    if settings.queue == "celery":
        metrics.track_broker_depth(runtime.broker_depth)
    app.add_route("/metrics", metrics.asgi_app(), include_in_schema=False)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.metrics = metrics
    return metrics


def api_vocabulary() -> Vocabulary:
    """The service's label values (:func:`orfeas.jobs.observe.vocabulary`) plus the API's own: its
    request error codes, its rate limits, and why it refuses a key."""
    return vocabulary(
        validation_reasons=REQUEST_CODES,
        rate_limit_scopes=RATE_LIMIT_SCOPES,
        auth_failure_reasons=AUTH_FAILURE_REASONS,
    )


def connect(metrics: Metrics, hooks: Hooks) -> None:
    """Rejected requests become validation, rate-limit, queue-full or auth counts; uploads,
    downloads and cache answers the business counters; masks found for the studio's preview the
    mask counts (``origin="preview"``; a job's are recorded from its report)."""
    hooks.on_reject(metrics.record_rejection)
    hooks.on_download(metrics.record_download)
    hooks.on_cache(metrics.record_cache)

    def masked(method: str, seconds: float, fell_back: bool) -> None:
        metrics.record_mask(method, seconds, "preview", fell_back=fell_back)

    hooks.on_mask(masked)

    def uploaded(fmt: str, size: int) -> None:
        if fmt not in _NOT_PICTURES:
            metrics.record_upload(fmt, size)

    hooks.on_upload(uploaded)


def _declared_length(scope: Mapping[str, Any]) -> int:
    # A body the app refused without reading (413) still has a declared size worth recording.
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return max(int(value), 0)
            except ValueError:
                return 0
    return 0
