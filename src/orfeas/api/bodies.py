"""Reading request bodies, bounded: counted while they stream, JSON with size and depth limits.

Every route reads its body through here — the v1 submission (multipart or JSON), the original
ORFEAS routes — so a body over its limit is refused with 413 as soon as it passes it (never read
whole first), and one JSON reader refuses malformed or absurdly nested JSON with a 4xx naming the
field, instead of a ``RecursionError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from orfeas.api.errors import ApiError
from orfeas.api.security import BodyTooLarge
from orfeas.api.slow_clients import Pace, paced

#: JSON bodies carry a job's description only (text, parameters), never a file.
JSON_LIMIT = 256 * 1024
#: Deepest nesting accepted in any JSON we read: a job's description is two or three levels deep.
JSON_DEPTH = 32


def content_type(request: Request) -> str:
    """The request's media type, lower case, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def limited_stream(request: Request, limit: int, field: str | None = None) -> AsyncIterator[bytes]:
    """The request body, chunk by chunk, failing with 413 (naming ``field``, else the body) as soon
    as it passes ``limit`` bytes, and with 408 when it arrives slower than the settings' minimum
    rate (:func:`orfeas.api.slow_clients.paced`; the server's protocol guard cuts it off too)."""
    received = 0
    async for chunk in paced(request.stream(), Pace.for_bodies(request.app.state.settings)):
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit, field=field)
        yield chunk


async def read_json(request: Request, *, limit: int = JSON_LIMIT) -> Any:
    """The body as JSON (415 unless it says it is JSON; 413 past ``limit``; 400 when malformed)."""
    if content_type(request) != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send application/json.", field="content-type")
    body = bytearray()
    try:
        async for chunk in limited_stream(request, limit):
            body += chunk
    except ClientDisconnect as exc:
        raise ApiError(400, "bad_request", "The client closed the connection mid-request.") from exc
    return parse_json(bytes(body))


def parse_json(text: bytes | str, field: str | None = None) -> Any:
    """JSON text as Python values; 400 (a body) or 422 (a form ``field``) when it is not valid JSON
    or nests deeper than :data:`JSON_DEPTH`."""
    status = 422 if field else 400
    code = "invalid_parameter" if field else "bad_request"
    what = f"'{field}'" if field else "The body"
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        deep = any(word in str(exc).lower() for word in ("recursion", "depth"))
        reason = f"it nests deeper than {JSON_DEPTH} levels" if deep else str(exc)
        raise ApiError(status, code, f"{what} is not valid JSON: {reason}.", field=field) from exc
    if _depth_over(value, JSON_DEPTH):
        raise ApiError(status, code, f"{what} nests deeper than {JSON_DEPTH} levels.", field=field)
    return value


def json_object(text: str | None, field: str) -> dict[str, Any]:
    """A form field holding a JSON object (empty: ``{}``); 422 naming ``field`` otherwise."""
    if text is None or not text.strip():
        return {}
    value = parse_json(text, field)
    if not isinstance(value, dict):
        raise ApiError(422, "invalid_parameter", f"'{field}' must be a JSON object.", field=field)
    return value


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers deeper than ``limit`` (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class _CappedParser(MultiPartParser):
    """Starlette's multipart parser with a cap per file field, applied while the file streams in
    (a picture stops at the picture cap, not at the larger mesh cap the whole body allows)."""

    def __init__(self, *args: Any, file_caps: Mapping[str, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.file_caps = file_caps
        self._received = 0

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._received = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        self._received += end - start
        cap = self.file_caps.get(part.field_name) if part.file is not None else self.max_part_size
        if cap is not None and self._received > cap:
            raise BodyTooLarge(cap, field=part.field_name)
        super().on_part_data(data, start, end)


async def read_form(
    request: Request,
    limit: int,
    *,
    file_caps: Mapping[str, int] | None = None,
    max_fields: int = 64,
    max_files: int = 2,
) -> FormData:
    """The multipart form, counted while it streams: 413 past ``limit`` for the whole body, or past
    ``file_caps[field]`` for one file; 400 when it is malformed or the client goes away mid-upload.
    ``max_files`` are let through (one more than a request takes: the caller says which field is
    at fault); more are a 422. Close the form when done."""
    parser = _CappedParser(
        request.headers,
        limited_stream(request, limit),
        max_files=max_files,
        max_fields=max_fields,
        max_part_size=64 * 1024,
        file_caps=file_caps or {},
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        if "Too many files" in exc.message:
            message = "Too many files: send one picture (with its mask edit) or one mesh."
            raise ApiError(422, "invalid_parameter", message, field="image") from exc
        raise ApiError(400, "bad_request", f"The multipart body is malformed: {exc.message}") from exc
    except ClientDisconnect as exc:
        raise ApiError(400, "bad_request", "The client closed the connection mid-upload.") from exc
