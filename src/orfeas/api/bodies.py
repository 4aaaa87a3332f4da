"""Reading request bodies, bounded: counted while they stream, JSON with size and depth limits.

Every route reads its body through here — the v1 submission (multipart or JSON), the original
ORFEAS routes — so a body over its limit is refused with 413 as soon as it passes it (never read
whole first), and one JSON reader refuses malformed or absurdly nested JSON with a 4xx naming the
field, instead of a ``RecursionError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from orfeas.api.errors import ApiError
from orfeas.api.security import BodyTooLarge

#: JSON bodies carry a job's description only (text, parameters), never a file.
JSON_LIMIT = 256 * 1024
#: Deepest nesting accepted in any JSON we read: a job's description is two or three levels deep.
JSON_DEPTH = 32


def content_type(request: Request) -> str:
    """The request's media type, lower case, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def limited_stream(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body, chunk by chunk, failing with 413 as soon as it passes ``limit`` bytes."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit)
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
        reason = "it nests too deeply" if "recursion" in str(exc).lower() else str(exc)
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


async def read_form(request: Request, limit: int, *, max_fields: int = 64) -> FormData:
    """The multipart form: one file at most, counted while it streams (413 past ``limit``), 400
    when it is malformed or the client goes away mid-upload. Close it when done."""
    parser = MultiPartParser(
        request.headers,
        limited_stream(request, limit),
        max_files=1,
        max_fields=max_fields,
        max_part_size=64 * 1024,
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, "bad_request", f"The multipart body is malformed: {exc.message}") from exc
    except ClientDisconnect as exc:
        raise ApiError(400, "bad_request", "The client closed the connection mid-upload.") from exc
