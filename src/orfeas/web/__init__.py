"""The studio page: the static files the service serves at ``/`` (``static/index.html``) and under
``/static/`` — plain ES modules, a stylesheet, and, vendored from npm into ``static/vendor/`` by
``scripts/build-web.sh`` (run by ``make web``), three.js for the studio and Swagger UI and ReDoc
for the API docs pages (``orfeas.api.docs``). No Python logic lives here; the pages talk only to
the HTTP API of their own origin."""

from __future__ import annotations

from pathlib import Path

#: The folder to serve: ``index.html`` at its root, assets below it.
STATIC_DIR: Path = Path(__file__).parent / "static"

#: Where ``scripts/build-web.sh`` puts the vendored files; missing until ``make web`` has run.
VENDOR_DIR: Path = STATIC_DIR / "vendor"

__all__ = ["STATIC_DIR", "VENDOR_DIR"]
