"""A memory budget around the expensive step of admission (decoding a picture, parsing a mesh).

Each check is priced before it runs (:func:`orfeas.admission.admission_cost`, from the header or a
cheap bound, asked for through the job service) and only as many checks run at once as fit in
``settings.admission_memory_bytes``. One that does not fit waits, in arrival order, for up to
``settings.admission_wait_s``, then is refused with :class:`AdmissionBusy` (an HTTP 503 with
``Retry-After``), so N hostile uploads at once cost the budget, not N times a decode. A check
priced above the whole budget runs alone.

    cost = await run_in_threadpool(jobs.admission_cost, spec, data)
    async with budget.hold(cost):
        accepted = await run_in_threadpool(jobs.submit, spec, data)

The prices are measured peaks (``bench/admission.py`` prints them), rounded up.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from orfeas.errors import OrfeasError
from orfeas.settings import Settings


class AdmissionBusy(OrfeasError):
    """The admission checks in flight fill the memory budget; try again after ``retry_after`` s."""

    code = "busy"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AdmissionBudget:
    """Lets checks run while their prices fit in ``capacity_bytes``, first come first served.

    For one event loop (the API's): waiting is asynchronous, the checks themselves run wherever
    the caller puts them (a thread pool). ``in_use`` and ``waiting`` are there for metrics.
    """

    def __init__(self, capacity_bytes: int, *, wait_s: float = 2.0) -> None:
        if capacity_bytes < 1:
            raise ValueError("capacity_bytes must be positive")
        self.capacity = capacity_bytes
        self.wait_s = wait_s
        self.in_use = 0
        self._queue: deque[int] = deque()  # tickets of the waiting checks, in arrival order
        self._tickets = itertools.count()
        self._changed: asyncio.Condition | None = None
        self._mean_hold_s = 0.5  # a first guess for Retry-After until checks have run

    @classmethod
    def from_settings(cls, settings: Settings) -> AdmissionBudget:
        return cls(settings.admission_memory_bytes, wait_s=settings.admission_wait_s)

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @asynccontextmanager
    async def hold(self, cost_bytes: int) -> AsyncIterator[None]:
        """Run the body once ``cost_bytes`` fit (a cost above the capacity waits for an idle
        budget), or raise :class:`AdmissionBusy` after ``wait_s``."""
        cost = min(max(0, int(cost_bytes)), self.capacity)
        await self._acquire(cost)
        started = time.monotonic()
        try:
            yield
        finally:
            held = time.monotonic() - started
            self._mean_hold_s += 0.2 * (held - self._mean_hold_s)
            await self._release(cost)

    def retry_after(self) -> int:
        """Seconds after which a refused check has a fair chance: the queue ahead, at the mean hold."""
        return max(1, min(60, math.ceil(self._mean_hold_s * (1 + len(self._queue)))))

    async def _acquire(self, cost: int) -> None:
        changed = self._condition()
        ticket = next(self._tickets)
        deadline = time.monotonic() + self.wait_s
        async with changed:
            self._queue.append(ticket)
            try:
                while self._queue[0] != ticket or self.in_use + cost > self.capacity:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise AdmissionBusy(
                            "The server is busy checking other uploads; try again shortly.",
                            retry_after=self.retry_after(),
                        )
                    try:
                        await asyncio.wait_for(changed.wait(), remaining)
                    except TimeoutError:
                        continue  # the loop raises AdmissionBusy, or finds room that came at the last moment
                self.in_use += cost
            finally:
                self._queue.remove(ticket)
                changed.notify_all()  # the next in line may fit now (or be the head now)

    async def _release(self, cost: int) -> None:
        changed = self._condition()
        async with changed:
            self.in_use -= cost
            changed.notify_all()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:  # made on first use, inside the loop that will use it
            self._changed = asyncio.Condition()
        return self._changed
