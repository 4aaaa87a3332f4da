"""Engines and health routes: engines, liveness, readiness, and the original ORFEAS health routes."""

from __future__ import annotations

import shutil
import sys
import time

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from orfeas import __version__ as orfeas_version
from orfeas.api.responses import JSON
from orfeas.api.runtime import Runtime, runtime
from orfeas.api.schemas import (
    PREFIX,
    EngineList,
    LegacyHealth,
    Liveness,
    ModelsInfo,
    Readiness,
    error_responses,
)
from orfeas.engines import all_engines
from orfeas.engines.base import parameters_schema

router = APIRouter()

#: Engines with no model to load. Neural engines load their weights lazily inside a worker
#: process, which this (API) process cannot see, so they are never reported as loaded here.
WEIGHTLESS_ENGINES = frozenset({"relief"})

#: Readiness fails when the data disk has less than this much room left.
MIN_FREE_BYTES = 64 * 1024 * 1024


def device() -> str:
    """The compute device engines use: ``cuda`` only when a loaded engine brought torch with CUDA.

    torch is never imported here just to find out: that would cost seconds and hundreds of MB.
    """
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            return "cuda"
    except Exception:  # a broken CUDA install must not break health checks
        pass
    return "cpu"


@router.get(
    f"{PREFIX}/engines",
    response_model=EngineList,
    tags=["engines"],
    summary="Engines, whether each can run here (and why not), and their parameter schemas",
    responses=error_responses(401, 429),
)
async def engines(request: Request) -> Response:
    settings = runtime(request).settings
    out = []
    for engine in all_engines():
        state = engine.availability()
        out.append(
            {
                "name": engine.name,
                "version": engine.version,
                "available": state.available,
                "reason": state.reason or None,
                "parameters": parameters_schema(engine),
            }
        )
    return JSON(
        {
            "engines": out,
            "default": settings.default_engine,
            "limits": {
                "max_upload_bytes": settings.max_upload_bytes,
                "max_image_pixels": settings.max_image_pixels,
                "max_text_chars": settings.max_text_chars,
            },
        }
    )


@router.get("/healthz", response_model=Liveness, tags=["health"], summary="Liveness: the process answers")
async def healthz() -> Response:
    return JSON({"status": "ok"})


def readiness(rt: Runtime) -> tuple[bool, dict[str, dict[str, object]]]:
    """Store writable, workers alive, files within the disk budget, room left on the disk."""
    checks: dict[str, dict[str, object]] = {}
    try:
        rt.store.check_writable()
        checks["store"] = {"ok": True, "detail": "database and data folder writable"}
    except Exception as exc:
        checks["store"] = {"ok": False, "detail": f"not writable: {type(exc).__name__}: {exc}"}
    alive = rt.pool.alive()
    checks["workers"] = {
        "ok": alive,
        "detail": f"{rt.settings.workers} {rt.pool.mode} worker(s) "
        + ("alive" if alive else "not running")
        + f", {rt.pool.running} running, {rt.pool.waiting} waiting",
    }
    try:
        used = rt.store.disk_usage()
        budget = rt.settings.disk_budget_bytes
        checks["disk_budget"] = {"ok": used <= budget, "detail": f"{used} of {budget} bytes used"}
        free = shutil.disk_usage(rt.settings.data_dir).free
        checks["disk_free"] = {"ok": free >= MIN_FREE_BYTES, "detail": f"{free} bytes free"}
    except Exception as exc:
        checks["disk_budget"] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    return all(bool(c["ok"]) for c in checks.values()), checks


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["health"],
    summary="Readiness: store writable, workers alive, disk budget respected",
    responses={503: {"model": Readiness, "description": "Not ready; `checks` says what failed."}},
)
async def readyz(request: Request) -> Response:
    ok, checks = await run_in_threadpool(readiness, runtime(request))
    return JSON({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)


@router.get(
    "/api/health",
    response_model=LegacyHealth,
    tags=["health"],
    summary="Service health in the original ORFEAS shape",
)
async def legacy_health(request: Request) -> Response:
    rt = runtime(request)
    states = {e.name: e.availability().available for e in all_engines()}
    alive = rt.pool.alive()
    dev = device()
    return JSON(
        {
            "status": "online" if alive else "degraded",
            "models_ready": alive and any(states.values()),
            "device": dev,
            "gpu_available": dev == "cuda",
            "version": orfeas_version,
            "engines": states,
            "active_jobs": rt.pool.running,
            "queued_jobs": rt.pool.waiting,
            "uptime_s": round(time.time() - rt.started_at, 3),
        }
    )


@router.get(
    "/api/models-info",
    response_model=ModelsInfo,
    tags=["health"],
    summary="Engines as models, in the original ORFEAS shape",
    responses=error_responses(401, 429),
)
async def models_info(request: Request) -> Response:
    rt = runtime(request)
    dev = device()
    models = []
    for engine in all_engines():
        state = engine.availability()
        models.append(
            {
                "name": engine.name,
                "version": engine.version,
                "available": state.available,
                "loaded": state.available and engine.name in WEIGHTLESS_ENGINES,
                "reason": state.reason or None,
                "device": dev,
            }
        )
    return JSON(
        {
            "models": models,
            "device": dev,
            "default_engine": rt.settings.default_engine,
            "models_ready": any(m["available"] for m in models),
        }
    )
