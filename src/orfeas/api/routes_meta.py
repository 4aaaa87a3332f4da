"""Engines and health routes: engines, liveness, readiness.

The original ORFEAS health routes (``/api/health``, ``/api/models-info``) live with the other
compatibility routes in :mod:`orfeas.api.routes_compat`; they use :func:`device` from here.
"""

from __future__ import annotations

import shutil
import sys

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from orfeas.api.responses import JSON
from orfeas.api.runtime import Runtime, runtime
from orfeas.api.schemas import (
    PREFIX,
    EngineList,
    Liveness,
    Readiness,
    error_responses,
)

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
    summary="Engines, whether each can run here (and why not), their parameter schemas, limits and rules",
    responses=error_responses(401, 429),
)
async def engines(request: Request) -> Response:
    return JSON(await run_in_threadpool(runtime(request).jobs.catalog))


@router.get("/healthz", response_model=Liveness, tags=["health"], summary="Liveness: the process answers")
async def healthz() -> Response:
    return JSON({"status": "ok"})


def readiness(rt: Runtime) -> tuple[bool, dict[str, dict[str, object]]]:
    """Store writable, workers alive, files within the disk budget, room left on the disk."""
    checks: dict[str, dict[str, object]] = {}
    store = rt.jobs.store
    try:
        store.check_writable()
        checks["store"] = {"ok": True, "detail": "database and data folder writable"}
    except Exception as exc:
        checks["store"] = {"ok": False, "detail": f"not writable: {type(exc).__name__}: {exc}"}
    queue = rt.jobs.queue
    alive = queue.alive()
    checks["workers"] = {
        "ok": alive,
        "detail": f"{rt.settings.workers} {queue.mode} worker(s) "
        + ("alive" if alive else "not running")
        + f", {queue.running} running, {queue.waiting} waiting",
    }
    try:
        used = store.disk_usage()
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
