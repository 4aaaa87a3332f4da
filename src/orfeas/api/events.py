"""Live job updates for server-sent events: worker threads publish, event-loop streams wait.

The store stays the source of truth: a wake-up only says "read the job again", and a stream
re-reads at least every ``poll_s`` seconds, so a lost wake-up delays an update but never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from orfeas.jobs.queue import JobEvent
from orfeas.jobs.states import Job


class EventHub:
    """Per-job wake-ups, bound to one event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, event: JobEvent) -> None:
        """Wake the streams of ``event.job`` (safe to call from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
            loop.call_soon_threadsafe(self._wake, event.job.id)

    def _wake(self, job_id: str) -> None:
        for waiter in self._waiters.get(job_id, ()):
            waiter.set()

    @contextmanager
    def subscribe(self, job_id: str) -> Iterator[asyncio.Event]:
        waiter = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[job_id]


async def job_stream(
    hub: EventHub,
    read: Callable[[str], Job | None],
    job_id: str,
    render: Callable[[Job], dict[str, Any]],
    *,
    poll_s: float = 1.0,
    keepalive_s: float = 15.0,
    event: str = "job",
) -> AsyncIterator[str]:
    """SSE messages ``event: <event>`` (default ``job``) for each change of the job, current state
    first, until it ends. ``read(job_id)`` reads the job (a blocking store call: it runs in the
    thread pool, never on the event loop). The compatibility stream names its messages ``job_update``."""
    with hub.subscribe(job_id) as changed:
        last: str | None = None
        quiet = 0.0
        while True:
            changed.clear()  # before reading, so a change made after the read still wakes us
            job = await run_in_threadpool(read, job_id)
            if job is None:  # deleted while watched
                return
            payload = orjson.dumps(render(job)).decode()
            if payload != last:
                last = payload
                quiet = 0.0
                yield f"event: {event}\ndata: {payload}\n\n"
            if job.finished:
                return
            try:
                await asyncio.wait_for(changed.wait(), timeout=poll_s)
            except TimeoutError:
                quiet += poll_s
                if quiet >= keepalive_s:  # comments keep proxies from closing an idle stream
                    quiet = 0.0
                    yield ": keep-alive\n\n"


def sse_response(messages: AsyncIterator[str]) -> StreamingResponse:
    """A ``text/event-stream`` response of ``messages``; proxies are told not to buffer or cache it.
    (Open streams are counted by the metrics middleware, which sees the content type.)"""
    return StreamingResponse(
        messages,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
