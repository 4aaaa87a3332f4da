"""Cutting off slow clients: a deadline for request heads, a minimum rate for bodies, and a cap on
open connections.

uvicorn has no header timeout: ``timeout_keep_alive`` only covers idle time *between* requests
and is cancelled by every byte that arrives, so a client trickling a header line a second holds
its connection — and a file descriptor — for ever (2000 of them did, in the probe of issue 16).
Nor does anything limit how slowly a body may arrive. Two pieces here:

- :func:`guarded_protocol` makes uvicorn's HTTP protocol class (httptools or h11) enforce, per
  connection: the request line and headers within ``header_timeout_s`` of the connection (or of
  the first byte of a kept-alive connection's next request) and within ``max_header_bytes``; a
  request body at no less than ``body_min_rate_bytes_per_s`` on average after ``body_grace_s``
  (time during which the server itself stopped reading, or waits to send ``100 Continue``, does
  not count); and no more than ``max_connections`` open at once (the next is answered 503 and
  closed before it takes a descriptor for long). Responses are never timed: event streams run on.
- :func:`paced` wraps an async byte stream (``request.stream()``) with the same rule, so a reader
  can answer a slow body with a clear 408 (:class:`TooSlow`) instead of a closed socket.

Both apply one :class:`Pace`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from orfeas.errors import OrfeasError
from orfeas.settings import Settings


@dataclass(frozen=True)
class Pace:
    """Bytes must keep up: free for ``grace_s``, then at least ``min_rate`` bytes a second on
    average since the start (0: no rate), and all within ``total_s`` (``None``: no limit)."""

    grace_s: float
    min_rate: float
    total_s: float | None = None

    def overdue(self, elapsed: float, received: int) -> bool:
        """Whether ``received`` bytes after ``elapsed`` seconds are too few."""
        return elapsed > self.deadline(received)

    def deadline(self, received: int) -> float:
        """Seconds after the start at which ``received`` bytes become too few."""
        limit = float("inf") if self.min_rate <= 0 else self.grace_s + received / self.min_rate
        return min(limit, self.total_s if self.total_s is not None else float("inf"))

    @classmethod
    def for_bodies(cls, settings: Settings) -> Pace:
        return cls(grace_s=settings.body_grace_s, min_rate=float(settings.body_min_rate_bytes_per_s))


class TooSlow(OrfeasError):
    """A request body arrived slower than its :class:`Pace` allows (an HTTP 408)."""

    code = "request_timeout"


async def paced(
    stream: AsyncIterable[bytes], pace: Pace, *, clock: Callable[[], float] = time.monotonic
) -> AsyncIterator[bytes]:
    """The chunks of ``stream``, or :class:`TooSlow` as soon as they fall behind ``pace``.

    Only the time spent waiting for the next chunk counts (a consumer that parses slowly does not
    make its client slow). Each wait is bounded by the moment the pace would be broken, so a
    client that stops sending is cut off then, not when its next byte arrives.
    """
    chunks = aiter(stream)
    waited, received = 0.0, 0
    while True:
        allowed = pace.deadline(received) - waited
        if allowed <= 0:
            raise TooSlow(_too_slow_message(received, waited, pace))
        started = clock()
        try:
            chunk = await asyncio.wait_for(
                anext(chunks), timeout=None if allowed == float("inf") else allowed
            )
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise TooSlow(_too_slow_message(received, waited + (clock() - started), pace)) from None
        waited += clock() - started
        received += len(chunk)
        yield chunk


def _too_slow_message(received: int, seconds: float, pace: Pace) -> str:
    return (
        f"The request body arrived too slowly ({received:,} bytes in {seconds:.0f} s; at least "
        f"{pace.min_rate:,.0f} bytes a second are needed after the first {pace.grace_s:g} s)."
    )


# --- the transport level: uvicorn's protocol, guarded ---------------------------------------------


@dataclass(frozen=True)
class ClientLimits:
    """What a connection must keep to (from the ``ORFEAS_*`` settings of the same names)."""

    header_timeout_s: float
    max_header_bytes: int
    body: Pace
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientLimits:
        return cls(
            header_timeout_s=settings.header_timeout_s,
            max_header_bytes=settings.max_header_bytes,
            body=Pace.for_bodies(settings),
            max_connections=settings.max_connections,
        )


def _raw_response(status: str) -> bytes:
    return f"HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()


class _Guard:
    """Mixed in before uvicorn's protocol class; uses its ``cycle``, ``flow``, ``loop``,
    ``transport`` and ``connections``."""

    limits: ClientLimits
    # Attributes of uvicorn's protocol classes this mixin reads.
    cycle: Any
    flow: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    connections: set[Any]

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_started: float | None = self.loop.time()
        self._head_bytes = 0
        self._head_tail = b""  # the last bytes of a head read so far (its blank line may straddle reads)
        self._body_cycle: Any = None  # the request whose body is being timed
        self._body_seconds = 0.0
        self._body_bytes = 0
        self._last_tick = self.loop.time()
        self._ticker: asyncio.TimerHandle | None = None
        if len(self.connections) > self.limits.max_connections:
            transport.write(_raw_response("503 Service Unavailable"))
            transport.close()
            return
        self._tick_every = max(0.05, min(1.0, self.limits.header_timeout_s / 4))
        self._ticker = self.loop.call_later(self._tick_every, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        if self._awaiting_head():
            if self._head_started is None:  # the first byte of a kept-alive connection's next request
                self._head_started = self.loop.time()
            self._head_bytes += self._head_part(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self.transport.write(_raw_response("431 Request Header Fields Too Large"))
                self.transport.close()
                return
        elif self._body_cycle is self.cycle:
            self._body_bytes += len(data)
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not before and self.cycle is not None:  # a head completed in this data
            self._head_started, self._head_bytes, self._head_tail = None, 0, b""
            self._body_cycle, self._body_seconds, self._body_bytes = self.cycle, 0.0, 0

    def _head_part(self, data: bytes) -> int:
        """How many bytes of ``data`` belong to the head: up to its blank line, which may straddle
        two reads (the body often arrives in the same read as the end of the head)."""
        window = self._head_tail + data
        ends = [at + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (at := window.find(mark)) >= 0]
        if not ends:
            self._head_tail = window[-3:]
            return len(data)
        self._head_tail = b""
        return max(0, min(ends) - (len(window) - len(data)))

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        # The next head's clock starts with its first byte.
        self._head_started, self._head_bytes, self._head_tail = None, 0, b""

    def _awaiting_head(self) -> bool:
        """No request in progress: none yet, or the last one answered and its body all read (a body
        still arriving after an early answer, a 413 say, is timed as a body)."""
        return self.cycle is None or (bool(self.cycle.response_complete) and not self.cycle.more_body)

    def _waiting_on_us(self) -> bool:
        """Time the client is not to blame for: we stopped reading, or it waits for 100 Continue."""
        return bool(self.flow.read_paused or getattr(self.cycle, "waiting_for_100_continue", False))

    def _tick(self) -> None:
        now = self.loop.time()
        since, self._last_tick = now - self._last_tick, now
        if self.transport.is_closing():
            return
        if self._awaiting_head():
            if self._head_started is not None and now - self._head_started > self.limits.header_timeout_s:
                self.transport.write(_raw_response("408 Request Timeout"))
                self.transport.close()
                return
        elif self._body_cycle is self.cycle and self.cycle.more_body and not self._waiting_on_us():
            self._body_seconds += since
            if self.limits.body.overdue(self._body_seconds, self._body_bytes):
                self.transport.close()  # the app sees a disconnect; no response can be sent mid-body
                return
        self._ticker = self.loop.call_later(self._tick_every, self._tick)


def guarded_protocol(
    limits: ClientLimits, base: type[asyncio.Protocol] | None = None
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (``base``; default the one ``http="auto"`` picks) with the
    :class:`ClientLimits` enforced; pass it to uvicorn as ``http=``."""
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol
    return type(f"Guarded{base.__name__}", (_Guard, base), {"limits": limits})
