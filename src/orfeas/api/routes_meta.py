"""Engines and health routes: engines, liveness, readiness.

The original ORFEAS health routes (``/api/health``, ``/api/models-info``) live with the other
compatibility routes in :mod:`orfeas.api.routes_compat`; they use :func:`device` from here.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from orfeas.api.intake import MESH_TASKS
from orfeas.api.responses import JSON
from orfeas.api.runtime import Runtime, runtime
from orfeas.api.schemas import (
    PREFIX,
    EngineList,
    Liveness,
    Readiness,
    error_responses,
)
from orfeas.engines import all_engines, text_to_image_engines
from orfeas.engines.base import parameters_schema
from orfeas.mesh.doctor import DoctorParameters
from orfeas.settings import Settings

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
    out = [_engine_json(engine, settings) for engine in all_engines()]
    painters = [_engine_json(step, settings) for step in text_to_image_engines()]
    return JSON(
        {
            "engines": out,
            "text_to_image": painters,
            "mesh_doctor": {"tasks": list(MESH_TASKS), "parameters": DoctorParameters.model_json_schema()},
            "default": settings.default_engine,
            "limits": {
                "max_upload_bytes": settings.max_upload_bytes,
                "max_image_pixels": settings.max_image_pixels,
                "max_text_chars": settings.max_text_chars,
                "max_model_bytes": settings.max_model_bytes,
                "max_model_faces": settings.max_model_faces,
            },
        }
    )


def _engine_json(engine: Any, settings: Settings) -> dict[str, Any]:
    state = engine.availability(settings)
    return {
        "name": engine.name,
        "version": engine.version,
        "available": state.available,
        "reason": state.reason or None,
        "parameters": parameters_schema(engine),
    }


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
