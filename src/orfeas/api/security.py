"""Request guards as plain ASGI middleware (no BaseHTTPMiddleware: it costs ~40 % of a fast route).

Order, outermost first (see :func:`orfeas.api.app.create_app`): security headers → CORS (only if
configured) → body-size check → rate limits → API keys → routes. Headers are outermost so that
every answer, including a 401/413/429 from a guard, carries them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orfeas.api.errors import ApiError
from orfeas.api.hooks import RejectHook

# --- security headers -------------------------------------------------------------------------

_COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)

#: JSON and downloads: nothing may load, run or frame (a model file opened in a tab stays inert).
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"

#: The API docs pages' paths (orfeas.api.docs); their routes send :func:`docs_csp` with hashes.
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})


def studio_csp(inline_hashes: Iterable[str] = ()) -> str:
    """The studio page's policy: same origin only, plus ``blob:``/``data:`` where three.js needs them.

    ``blob:``/``data:`` go to images, textures and ``connect-src`` (the GLB loader fetches the
    downloaded model from a blob URL); scripts are same-origin files plus the exact hashes of the
    page's inline blocks (its import map), so no inline script can be injected.
    """
    hashes = " ".join(f"'{h}'" for h in inline_hashes)
    script = f"script-src 'self' {hashes}".rstrip()
    return (
        f"default-src 'self'; {script}; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self' blob: data:; font-src 'self' data:; worker-src 'self' blob:; "
        "media-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def docs_csp(script_hashes: Iterable[str] = (), style_hashes: Iterable[str] = ()) -> str:
    """The policy of ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served from ``/static/vendor``.

    Same origin only: scripts and styles are the vendored files plus the exact hashes of the
    page's inline bootstrap (FastAPI's pages carry a small inline script or style). ``data:`` images
    are Swagger UI's icons in its stylesheet; ``blob:`` workers are ReDoc's search index.
    """
    script = " ".join(["script-src 'self'", *(f"'{h}'" for h in script_hashes)])
    style = " ".join(["style-src 'self'", *(f"'{h}'" for h in style_hashes)])
    return (
        f"default-src 'self'; {script}; {style}; img-src 'self' data:; font-src 'self' data:; "
        "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_INLINE_STYLE = re.compile(rb"<style[^>]*>(.*?)</style>", re.S | re.I)


def _sha256_sources(blocks: Iterable[bytes]) -> list[str]:
    return ["sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() for body in blocks]


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP ``sha256-…`` sources for each inline ``<script>`` block of a page."""
    return _sha256_sources(_INLINE_SCRIPT.findall(html))


def inline_style_hashes(html: bytes) -> list[str]:
    """CSP ``sha256-…`` sources for each inline ``<style>`` block of a page."""
    return _sha256_sources(_INLINE_STYLE.findall(html))


class SecurityHeaders:
    """Adds the security headers to every HTTP response, with a CSP chosen by what is served."""

    def __init__(self, app: ASGIApp, *, studio_policy: str, hsts: bool = False) -> None:
        self.app = app
        self.studio = studio_policy.encode()
        self.api = API_CSP.encode()
        self.docs = docs_csp().encode()  # the docs routes send their own, with their hashes
        self.hsts = hsts

    def _policy(self, path: str) -> bytes:
        if path in DOCS_PATHS:
            return self.docs
        if path == "/" or path.startswith("/static/"):
            return self.studio
        return self.api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self._policy(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {k.lower() for k, _ in headers}
                headers += [h for h in _COMMON_HEADERS if h[0] not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", policy))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


# --- host and origin ----------------------------------------------------------------------------

#: Methods that change something: a cross-origin one is refused unless CORS allows its origin.
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _host_name(value: str) -> str:
    """``example.org:8000`` → ``example.org``; ``[::1]:8000`` → ``::1``; lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostAndOrigin:
    """Refuses a request for a Host this service does not answer to (a DNS-rebinding page that
    resolved its own name to us), and a state-changing request sent from another origin that the
    CORS settings do not allow (a cross-site form post): 400 and 403, with the error body.

    ``hosts`` ``None`` answers any Host (bound to all interfaces without ``allowed_hosts``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: frozenset[str] | None,
        origins: Iterable[str] = (),
        on_reject: RejectHook | None = None,
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in (b"host", b"origin")}
        host = headers.get("host", "")
        error = None
        if self.hosts is not None and _host_name(host) not in self.hosts:
            error = ApiError(
                400,
                "invalid_host",
                f"This server does not answer to the host '{host}' (ORFEAS_ALLOWED_HOSTS).",
                field="host",
            )
        elif scope["method"] in _STATE_CHANGING and "origin" in headers:
            origin = headers["origin"].rstrip("/").lower()
            same = origin.split("://", 1)[-1] == host.strip().lower()
            if not same and origin not in self.origins:
                error = ApiError(
                    403,
                    "cross_origin",
                    f"Requests from '{headers['origin']}' may not change anything here "
                    "(allow the origin with ORFEAS_CORS_ORIGINS).",
                    field="origin",
                )
        if error is not None:
            if self.on_reject:
                self.on_reject(error.status, error.code, scope["path"])
            await error.send(send)
            return
        await self.app(scope, receive, send)


# --- body size --------------------------------------------------------------------------------


class BodyTooLarge(ApiError):
    """413: the body (or the file in ``field``) is over ``limit`` bytes; the connection is closed."""

    def __init__(self, limit: int, *, field: str | None = None) -> None:
        what = f"The file in '{field}'" if field else "The request body"
        super().__init__(
            413,
            "too_large",
            f"{what} is larger than the limit of {limit / 1e6:.1f} MB.",
            field=field,
            headers={"Connection": "close"},
        )


class BodySizeLimit:
    """Rejects a request whose declared ``Content-Length`` is over the limit before reading it.

    Bodies without a length (chunked) are counted while they stream, by the route that reads them
    (:func:`orfeas.api.bodies.limited_stream`), so no body is ever held whole when it is too big.
    """

    def __init__(self, app: ASGIApp, *, limit: int, on_reject: RejectHook | None = None) -> None:
        self.app = app
        self.limit = limit
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for key, value in scope["headers"]:
                if key == b"content-length":
                    try:
                        declared = int(value)
                    except ValueError:
                        await ApiError(400, "bad_request", "Content-Length is not a number.").send(send)
                        return
                    if declared > self.limit:
                        if self.on_reject:
                            self.on_reject(413, "too_large", scope["path"])
                        await BodyTooLarge(self.limit).send(send)
                        return
                    break
        await self.app(scope, receive, send)


# --- rate limits ------------------------------------------------------------------------------


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets per client: ``per_minute`` requests, refilled continuously, bursts up to it.

    ``allow`` answers ``0`` when the request may pass, else the seconds to wait (``Retry-After``).
    Idle clients are forgotten so the table cannot grow without bound.
    """

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, max_clients: int = 100_000
    ):
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> int:
        if self.per_minute <= 0:
            return 0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                if len(self._buckets) >= self.max_clients:
                    self._forget_idle(now)
                bucket = self._buckets[client] = _Bucket(float(self.per_minute), now)
            else:
                bucket.tokens = min(self.per_minute, bucket.tokens + (now - bucket.stamp) * self.rate)
                bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0
            return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def _forget_idle(self, now: float) -> None:
        full_after = 60.0  # a bucket idle this long is full again: same as forgetting it
        idle = [k for k, b in self._buckets.items() if now - b.stamp >= full_after]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= self.max_clients:  # still full: drop the oldest half
            for key, _ in sorted(self._buckets.items(), key=lambda kv: kv[1].stamp)[: self.max_clients // 2]:
                del self._buckets[key]


def client_id(scope: Scope) -> str:
    """Who a request is from, for rate limiting: the peer address (uvicorn applies trusted
    ``X-Forwarded-For`` to it when ``--forwarded-allow-ips`` says so). Never the unverified key."""
    client = scope.get("client")
    return client[0] if client else "unknown"


#: Requests that start work, counted against submissions/min as well: v1 submissions, a picture's
#: mask (``POST /api/v1/mask``) and the original ORFEAS routes that queue a job or paint a picture
#: (``orfeas.api.routes_compat``).
SUBMISSION_PATHS = frozenset({"/api/v1/jobs", "/api/v1/mask", "/api/generate-3d", "/api/text-to-image"})


#: The two per-client limits, as metrics label them.
RATE_LIMIT_SCOPES = ("submissions", "requests")
#: Why an API key was refused: none sent, a wrong one, or (a generic 401) not said.
AUTH_FAILURE_REASONS = ("missing", "invalid", "unauthorized")


class RateLimit:
    """429 + ``Retry-After`` when a client exceeds requests/min on ``/api`` or submissions/min."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        requests: RateLimiter,
        submissions: RateLimiter,
        on_reject: RejectHook | None = None,
    ) -> None:
        self.app = app
        self.requests = requests
        self.submissions = submissions
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_api(scope["path"]):
            client = client_id(scope)
            wait = self.requests.allow(client)
            kind = "requests"
            if not wait and scope["method"] == "POST" and scope["path"].rstrip("/") in SUBMISSION_PATHS:
                wait = self.submissions.allow(client)
                kind = "submissions"
            if wait:
                if self.on_reject:  # the hook is told which limit it was
                    self.on_reject(429, f"rate_limited_{kind}", scope["path"])
                limit = self.requests.per_minute if kind == "requests" else self.submissions.per_minute
                await ApiError(
                    429,
                    "rate_limited",
                    f"Too many {kind}: the limit is {limit} per minute. Retry in {wait} s.",
                    headers={"Retry-After": str(wait)},
                ).send(send)
                return
        await self.app(scope, receive, send)


# --- API keys ---------------------------------------------------------------------------------

_OPEN_API_PATHS = frozenset({"/api/health"})


def _is_api(path: str) -> bool:
    return path.startswith("/api/") and path not in _OPEN_API_PATHS


def presented_key(scope: Scope) -> str | None:
    """The key sent as ``X-API-Key`` or ``Authorization: Bearer …``, if any."""
    for key, value in scope["headers"]:
        if key == b"x-api-key":
            return value.decode("latin-1").strip()
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class ApiKeyAuth:
    """When keys are configured, ``/api`` routes (health aside) need one of them (401 otherwise).

    ``/metrics`` needs one too when ``protect_metrics`` is set. Keys are compared in constant time.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: frozenset[str],
        protect_metrics: bool = False,
        on_reject: RejectHook | None = None,
    ) -> None:
        self.app = app
        self.keys = [k.encode() for k in keys]
        self.protect_metrics = protect_metrics
        self.on_reject = on_reject

    def _protected(self, path: str) -> bool:
        return _is_api(path) or (self.protect_metrics and path.rstrip("/") == "/metrics")

    def _valid(self, key: str | None) -> bool:
        if key is None:
            return False
        given = key.encode()
        found = False
        for candidate in self.keys:  # no early exit: the time taken does not depend on which matched
            found |= hmac.compare_digest(given, candidate)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.keys
            and scope["method"] != "OPTIONS"
            and self._protected(scope["path"])
            and not self._valid(key := presented_key(scope))
        ):
            if self.on_reject:
                self.on_reject(401, "missing_key" if key is None else "invalid_key", scope["path"])
            await ApiError(
                401,
                "unauthorized",
                "This server needs an API key: send it as 'X-API-Key' or 'Authorization: Bearer'.",
                headers={"WWW-Authenticate": 'Bearer realm="orfeas"'},
            ).send(send)
            return
        await self.app(scope, receive, send)
