"""The service's moving parts for one app: settings, store, worker pool, event hub, hooks.

One :class:`Runtime` per app (``app.state.runtime``), started and stopped by the app's lifespan:
no module-level state, so tests can run many apps side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from orfeas.api.events import EventHub
from orfeas.api.hooks import Hooks
from orfeas.api.staging import expire_staged
from orfeas.jobs.db import open_database
from orfeas.jobs.store import JobStore
from orfeas.jobs.worker import WorkerPool
from orfeas.settings import Settings

log = logging.getLogger("orfeas.api")


class Runtime:
    """Everything a request handler needs, created by :func:`orfeas.api.create_app`."""

    def __init__(self, settings: Settings, hooks: Hooks) -> None:
        self.settings = settings
        self.hooks = hooks
        self.hub = EventHub()
        self._store: JobStore | None = None
        self._pool: WorkerPool | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self.started_at = time.time()

    @property
    def store(self) -> JobStore:
        if self._store is None:
            raise RuntimeError("the service is not started (use the app inside its lifespan)")
        return self._store

    @property
    def pool(self) -> WorkerPool:
        if self._pool is None:
            raise RuntimeError("the service is not started (use the app inside its lifespan)")
        return self._pool

    @property
    def waiting(self) -> int:
        """Jobs in the queue (0 before the service starts): for gauges read at scrape time."""
        return self._pool.waiting if self._pool is not None else 0

    @property
    def running(self) -> int:
        """Jobs being generated right now (0 before the service starts)."""
        return self._pool.running if self._pool is not None else 0

    async def start(self) -> None:
        """Open the store, recover unfinished jobs, start the workers and the retention task."""
        self.hub.bind(asyncio.get_running_loop())
        db = open_database(self.settings.database_url, self.settings.data_dir)
        self._store = JobStore(self.settings.data_dir, db, jobs_dir=self.settings.jobs_dir())
        self._pool = make_queue(self._store, self.settings)
        self._pool.add_listener(self.hub.publish)
        self._pool.add_listener(self.hooks.job_event)
        recovery = self._pool.start()
        log.info(
            "ORFEAS started: data in %s, %d %s worker(s), %d job(s) waiting",
            self.settings.data_dir,
            self.settings.workers,
            self._pool.mode,
            len(recovery.queued),
        )
        self.started_at = time.time()
        self._maintenance = asyncio.create_task(self._maintain(), name="orfeas-retention")

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        if self._pool is not None:
            await run_in_threadpool(self._pool.stop)
        if self._store is not None:
            self._store.close()

    def retention(self) -> tuple[list[str], list[str]]:
        """Expire old finished jobs, then prune oldest-first to the disk budget (both are logged)."""
        expired = self.store.expire(self.settings.retention_hours * 3600)
        pruned = self.store.prune(self.settings.disk_budget_bytes)
        self.store.trim_cache(self.settings.cache_max_bytes)
        expire_staged(self.settings)
        return expired, pruned

    async def _maintain(self) -> None:
        while True:
            try:
                await run_in_threadpool(self.retention)
            except Exception:
                log.exception("retention run failed; will retry")
            await asyncio.sleep(self.settings.maintenance_interval_s)


def make_queue(store: JobStore, settings: Settings) -> WorkerPool:
    """The local worker pool, or with ``queue=celery`` the Celery queue (same interface; needs `scale`)."""
    if settings.queue == "celery":
        from orfeas.jobs.distributed import CeleryQueue

        return CeleryQueue(store, settings)  # type: ignore[return-value]
    return WorkerPool(store, settings)


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime
