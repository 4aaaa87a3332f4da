"""One error shape for every response: ``{"error": {"code", "message", "field"}}``.

:class:`ApiError` is what routes and middleware raise or send; :func:`from_orfeas_error` maps the
core's typed errors to HTTP statuses (the table in the contract), and :func:`install_handlers`
makes FastAPI's own errors (404, 405, request validation) use the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orfeas.api.hooks import RejectHook
from orfeas.api.responses import JSON
from orfeas.errors import EngineUnavailable, InputRejected, OrfeasError, first_problem

log = logging.getLogger("orfeas.api")

#: Error codes of requests refused for their shape, beyond the input codes (``orfeas.errors.INPUT_CODES``).
REQUEST_CODES = ("bad_request", "unsupported_media_type", "invalid_request", "conflict")

#: InputRejected codes that are about size, not content.
_TOO_LARGE = {"too_large", "too_many_pixels"}

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_type",
    422: "invalid_parameter",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """An HTTP error with the ORFEAS body; ``headers`` carry e.g. ``Retry-After``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.field)

    def response(self) -> JSON:
        return JSON(self.body(), status_code=self.status, headers=self.headers)

    async def send(self, send: Send) -> None:
        """Answer from ASGI middleware, before any route runs."""
        payload = JSON(self.body()).body
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def from_orfeas_error(exc: OrfeasError) -> ApiError:
    """The HTTP answer to a core error raised while checking a submission."""
    if isinstance(exc, InputRejected):
        if exc.code in _TOO_LARGE:
            status = 413
        elif exc.code == "unsupported_type":
            status = 415
        else:
            status = 422
        field = exc.field
        if field is None and exc.code in _TOO_LARGE | {"unsupported_type", "corrupt", "empty", "no_subject"}:
            field = "image"
        return ApiError(status, exc.code, exc.message, field=field)
    if isinstance(exc, EngineUnavailable):
        return ApiError(422, exc.code, exc.message, field=exc.field or "engine")
    return ApiError(500, "internal", "The request could not be handled.")


def install_handlers(app: FastAPI, on_reject: RejectHook | None = None) -> None:
    """Route every error FastAPI or Starlette produces through the one body shape.

    ``on_reject(status, code, path)`` is told about every 4xx/5xx answer made here.
    """

    def answer(request: Request, error: ApiError) -> JSON:
        if on_reject is not None:
            on_reject(error.status, error.code, request.url.path)
        return error.response()

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSON:
        return answer(request, exc)

    @app.exception_handler(OrfeasError)
    async def _orfeas_error(request: Request, exc: OrfeasError) -> JSON:
        return answer(request, from_orfeas_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSON:
        field, reason = first_problem(exc.errors(), skip=("query", "path", "body", "header"))
        message = f"Parameter '{field}': {reason}." if field else reason
        return answer(request, ApiError(422, "invalid_parameter", message, field=field))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSON:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return answer(request, ApiError(exc.status_code, code, message, headers=exc.headers))


class CatchAll:
    """Turns an unexpected exception into the JSON 500 *inside* the middleware stack.

    Starlette answers unhandled errors from its outermost layer, above every middleware, so the
    security headers would be missing there; this sits just above the routes instead.
    """

    def __init__(self, app: ASGIApp, *, on_reject: RejectHook | None = None) -> None:
        self.app = app
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for a clean answer: let the server close the connection
                raise
            if self.on_reject is not None:
                self.on_reject(500, "internal", scope["path"])
            await ApiError(500, "internal", "An unexpected error occurred; it has been logged.").send(send)
