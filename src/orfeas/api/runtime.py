"""The service's moving parts for one app: settings, the job service, the event hub, the hooks.

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
from orfeas.jobs.service import JobService
from orfeas.settings import Settings

log = logging.getLogger("orfeas.api")


class Runtime:
    """Everything a request handler needs, created by :func:`orfeas.api.create_app`."""

    def __init__(self, settings: Settings, hooks: Hooks) -> None:
        self.settings = settings
        self.hooks = hooks
        self.hub = EventHub()
        self._jobs: JobService | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self.started_at = time.time()

    @property
    def jobs(self) -> JobService:
        if self._jobs is None:
            raise RuntimeError("the service is not started (use the app inside its lifespan)")
        return self._jobs

    @property
    def waiting(self) -> int:
        """Jobs in the queue (0 before the service starts): for gauges read at scrape time."""
        return self._jobs.queue.waiting if self._jobs is not None else 0

    @property
    def running(self) -> int:
        """Jobs being generated right now (0 before the service starts)."""
        return self._jobs.queue.running if self._jobs is not None else 0

    def broker_depth(self) -> int | None:
        """Messages waiting in the broker (queue=celery; ``None`` otherwise or before the start)."""
        return self._jobs.queue.broker_depth() if self._jobs is not None else None

    async def start(self) -> None:
        """Open the store, recover unfinished jobs, start the workers and the retention task."""
        self.hub.bind(asyncio.get_running_loop())
        self._jobs = await run_in_threadpool(JobService.open, self.settings)
        queue = self._jobs.queue
        queue.add_listener(self.hub.publish)
        queue.add_listener(self.hooks.job_event)
        recovery = await run_in_threadpool(queue.start)
        log.info(
            "ORFEAS started: data in %s, %d %s worker(s), %d job(s) waiting",
            self.settings.data_dir,
            self.settings.workers,
            queue.mode,
            len(recovery.queued),
        )
        self.started_at = time.time()
        self._maintenance = asyncio.create_task(self._maintain(), name="orfeas-retention")

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        if self._jobs is not None:
            await run_in_threadpool(self._jobs.queue.stop)
            self._jobs.close()

    def retention(self) -> tuple[list[str], list[str]]:
        """Expire old finished jobs and staged pictures, prune to the disk budget (all logged)."""
        expired, pruned = self.jobs.retention()
        expire_staged(self.settings)
        return expired, pruned

    async def _maintain(self) -> None:
        while True:
            try:
                await run_in_threadpool(self.retention)
            except Exception:
                log.exception("retention run failed; will retry")
            await asyncio.sleep(self.settings.maintenance_interval_s)


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime
