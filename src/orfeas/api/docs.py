"""The interactive API docs, served from the app's own files: Swagger UI at ``/docs`` (with its
OAuth2 redirect page) and ReDoc at ``/redoc``.

FastAPI's default pages load both from a CDN; this is FastAPI's documented self-hosting recipe
instead (the app is made with ``docs_url=None, redoc_url=None``, and these routes call
``get_swagger_ui_html`` / ``get_redoc_html`` with local URLs). The files are vendored from npm
into ``static/vendor/`` by ``scripts/build-web.sh`` (``make web``) and served by the studio's
``/static`` mount. Each page carries its own CSP (:func:`orfeas.api.security.docs_csp`) with the
hashes of its inline bootstrap, so nothing but those exact blocks may run inline.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse, Response

from orfeas.api.errors import ApiError
from orfeas.api.security import docs_csp, inline_script_hashes, inline_style_hashes

#: Where the studio's static folder is served (``orfeas.api.app``).
STATIC_URL = "/static"
#: The vendored files the pages load, relative to the static folder.
SWAGGER_JS = "vendor/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "vendor/swagger-ui/swagger-ui.css"
REDOC_JS = "vendor/redoc/redoc.standalone.js"
#: CSP hashes of the inline styles ReDoc writes at run time (computed by ``scripts/build-web.sh``).
REDOC_STYLE_HASHES = "vendor/redoc/style-hashes.txt"
FAVICON = "favicon.svg"

#: Swagger UI settings on top of FastAPI's: no online validator (it would send the spec's URL to
#: validator.swagger.io); the operation's own "Try it out" is what the page is for.
SWAGGER_PARAMETERS = {"validatorUrl": None}


def install(app: FastAPI, static_dir: Path) -> None:
    """Add ``/docs``, its OAuth2 redirect and ``/redoc`` to ``app``, loading from ``static_dir``."""
    docs_url, redoc_url = "/docs", "/redoc"
    redirect_url = app.swagger_ui_oauth2_redirect_url or f"{docs_url}/oauth2-redirect"

    def require(*files: str) -> None:
        missing = [f for f in files if not (static_dir / f).is_file()]
        if missing:  # the API still works; say how to get its docs back
            raise ApiError(
                503,
                "unavailable",
                f"The API docs are not installed here (missing {', '.join(missing)}): run `make web`. "
                f"The schema itself is at {app.openapi_url}.",
            )

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> Response:
        require(SWAGGER_JS, SWAGGER_CSS)
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=root + str(app.openapi_url),
            title=f"{app.title} — API docs",
            swagger_js_url=f"{root}{STATIC_URL}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{STATIC_URL}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{STATIC_URL}/{FAVICON}",
            oauth2_redirect_url=root + redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={**SWAGGER_PARAMETERS, **(app.swagger_ui_parameters or {})},
        )
        return _with_policy(page)

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> Response:
        return _with_policy(get_swagger_ui_oauth2_redirect_html())

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> Response:
        require(REDOC_JS, REDOC_STYLE_HASHES)
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_redoc_html(
            openapi_url=root + str(app.openapi_url),
            title=f"{app.title} — API reference",
            redoc_js_url=f"{root}{STATIC_URL}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{STATIC_URL}/{FAVICON}",
            with_google_fonts=False,
        )
        runtime_styles = (static_dir / REDOC_STYLE_HASHES).read_text().split()
        return _with_policy(page, runtime_styles)


def _with_policy(page: HTMLResponse, runtime_styles: list[str] | None = None) -> HTMLResponse:
    """The page with a CSP that lets exactly its own inline blocks (and ``runtime_styles``) apply."""
    html = bytes(page.body)
    policy = docs_csp(inline_script_hashes(html), [*inline_style_hashes(html), *(runtime_styles or ())])
    page.headers["Content-Security-Policy"] = policy
    page.headers["Cache-Control"] = "no-cache"
    return page
