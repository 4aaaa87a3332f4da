"""The app factory: :func:`create_app` builds one independent ORFEAS service.

Everything the app needs hangs off ``app.state``: ``settings``, ``hooks`` (observation points,
see :mod:`orfeas.api.hooks`) and ``runtime`` (store, worker pool, event hub; started by the
lifespan). Nothing is global, so tests build as many apps as they like.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from orfeas.api import docs, routes_compat, routes_jobs, routes_mask, routes_meta
from orfeas.api.errors import CatchAll, install_handlers
from orfeas.api.hooks import Hooks
from orfeas.api.intake import body_limit
from orfeas.api.observability import install as install_metrics
from orfeas.api.runtime import Runtime
from orfeas.api.security import (
    ApiKeyAuth,
    BodySizeLimit,
    HostAndOrigin,
    RateLimit,
    RateLimiter,
    SecurityHeaders,
    inline_script_hashes,
    studio_csp,
)
from orfeas.settings import Settings, get_settings
from orfeas.version import VERSION
from orfeas.web import STATIC_DIR

DESCRIPTION = """\
ORFEAS turns a picture or a line of text into a watertight, print-ready 3D model.

Submit a job (`POST /api/v1/jobs`), follow it (`GET /api/v1/jobs/{id}/events`, server-sent
events), download its files. See a picture's cut-out first with `POST /api/v1/mask`, and send a
painted correction of it with the job (`mask_edit`).
Every error answer is `{"error": {"code", "message", "field"}}`.
When the server has API keys configured, `/api` routes need one as `X-API-Key` or
`Authorization: Bearer`.
"""


def create_app(settings: Settings | None = None, *, static_dir: Path | None = None) -> FastAPI:
    """A new ORFEAS app. ``settings`` default to the environment (``ORFEAS_*``)."""
    settings = settings or get_settings()
    static_dir = static_dir if static_dir is not None else STATIC_DIR
    hooks = Hooks()
    rt = Runtime(settings, hooks)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await rt.start()
        try:
            yield
        finally:
            await rt.stop()

    app = FastAPI(
        title="ORFEAS",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # orfeas.api.docs serves /docs and /redoc from local files
        redoc_url=None,
        openapi_tags=[
            {"name": "jobs", "description": "Jobs (generate, analyze or repair a mesh) and their files."},
            {"name": "masks", "description": "A picture's subject mask before any model is built."},
            {"name": "engines", "description": "What can generate here."},
            {"name": "health", "description": "Liveness, readiness and the original ORFEAS health routes."},
            {"name": "compat", "description": "The original ORFEAS routes, over v1 (docs/compat.md)."},
        ],
    )
    app.state.settings = settings
    app.state.hooks = hooks
    app.state.runtime = rt

    install_handlers(app, on_reject=hooks.rejected)
    app.include_router(routes_jobs.router)
    app.include_router(routes_mask.router)
    app.include_router(routes_meta.router)
    app.include_router(routes_compat.router)  # the original ORFEAS routes, over v1
    _mount_studio(app, static_dir)
    docs.install(app, static_dir)

    # Middleware: the last added runs first. Requests pass headers → host and origin → CORS → size →
    # rate → keys → catch-all (unexpected errors become a JSON 500 inside the headers layer) → routes.
    app.add_middleware(CatchAll, on_reject=hooks.rejected)
    app.add_middleware(
        ApiKeyAuth,
        keys=settings.api_key_set(),
        protect_metrics=settings.metrics_protected(),
        on_reject=hooks.rejected,
    )
    app.add_middleware(
        RateLimit,
        requests=RateLimiter(settings.rate_limit_requests_per_minute),
        submissions=RateLimiter(settings.rate_limit_submissions_per_minute),
        on_reject=hooks.rejected,
    )
    app.add_middleware(BodySizeLimit, limit=body_limit(settings), on_reject=hooks.rejected)
    origins = settings.cors_origin_list()
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization"],
            expose_headers=["Location", "Retry-After", "Content-Disposition"],
            max_age=600,
        )
    app.add_middleware(
        HostAndOrigin, hosts=settings.allowed_host_set(), origins=origins, on_reject=hooks.rejected
    )
    app.add_middleware(SecurityHeaders, studio_policy=studio_csp())
    install_metrics(app)  # last, so its middleware is outermost and times everything
    return app


def _mount_studio(app: FastAPI, static_dir: Path) -> None:
    """Serve the studio page at ``/`` and its files at ``/static`` when the page is installed."""
    index = static_dir / "index.html"
    if not index.is_file():
        return

    @app.get("/", include_in_schema=False)
    async def studio(request: Request) -> Response:
        html = index.read_bytes()  # read per request: small, and a rebuilt page needs new hashes
        policy = studio_csp(inline_script_hashes(html))
        return HTMLResponse(html, headers={"Content-Security-Policy": policy, "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=static_dir), name="static")
