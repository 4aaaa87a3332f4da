"""The studio page: the static files the service serves at ``/`` (``static/index.html``) and under
``/static/`` — plain ES modules, a stylesheet, and three.js vendored from npm into
``static/vendor/`` by ``scripts/build-web.sh`` (run by ``make web``). No Python logic lives here;
the page talks only to the HTTP API of its own origin."""

from __future__ import annotations

from pathlib import Path

#: The folder to serve: ``index.html`` at its root, assets below it.
STATIC_DIR: Path = Path(__file__).parent / "static"

#: Where ``scripts/build-web.sh`` puts three.js; missing until ``make web`` has run.
VENDOR_DIR: Path = STATIC_DIR / "vendor"

__all__ = ["STATIC_DIR", "VENDOR_DIR"]
