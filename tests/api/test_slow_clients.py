"""Slow clients against a real uvicorn server on real sockets (issue 16, defect 3): slow header
lines and slow bodies are cut off, connections beyond the cap are refused at once, and a real
submission goes through meanwhile. Plus the pacing rule and the async stream helper in-process."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import selectors
import socket
import time
from collections.abc import AsyncIterator, Callable

import pytest

from orfeas.api.slow_clients import Pace, TooSlow, paced
from tests.api.conftest import FAST, LiveServer, wait_job
from tests.conftest import require

#: How many slow connections the probe of the issue held open.
SLOW_CONNECTIONS = 2000


def _host_port(server: LiveServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def _raise_own_descriptor_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    require(
        hard == resource.RLIM_INFINITY or hard >= needed, f"needs {needed} open files (ulimit -Hn is {hard})"
    )
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _open(address: tuple[str, int], count: int, first: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(address, timeout=10)
        sock.sendall(first)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def _watch_until_closed(
    sockets: list[socket.socket],
    opened: dict[int, float],
    trickle: bytes | None,
    every_s: float,
    limit_s: float,
) -> tuple[dict[int, float], dict[int, bytes]]:
    """Send ``trickle`` on every open socket each ``every_s`` until the server closes them all;
    returns when each closed (seconds after it opened) and what the server said first."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    closed: dict[int, float] = {}
    said: dict[int, bytes] = {}
    deadline = time.monotonic() + limit_s
    next_trickle = time.monotonic() + every_s
    while len(closed) < len(sockets) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if data:
                said.setdefault(sock.fileno(), data)
                continue
            closed[sock.fileno()] = time.monotonic() - opened[sock.fileno()]
            selector.unregister(sock)
        if trickle is not None and time.monotonic() >= next_trickle:
            next_trickle += every_s
            for sock in sockets:
                if sock.fileno() not in closed:
                    with contextlib.suppress(OSError):  # full buffer, or closed by the server
                        sock.send(trickle)
    selector.close()
    return closed, said


@pytest.mark.integration
@pytest.mark.security
def test_2000_slow_header_connections_are_cut_off_while_a_real_submission_works(
    live_server: Callable[..., LiveServer], small_png: bytes
) -> None:
    _raise_own_descriptor_limit(SLOW_CONNECTIONS + 1000)
    server = live_server(header_timeout_s=3, max_connections=SLOW_CONNECTIONS + 500)
    address = _host_port(server)
    started = time.monotonic()
    sockets = _open(address, SLOW_CONNECTIONS, b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\n")
    opened = {sock.fileno(): started for sock in sockets}  # the first opened bounds them all
    with server.client() as http:  # meanwhile: the service works
        assert http.get("/healthz").status_code == 200
        response = http.post("/api/v1/jobs", files={"image": ("disc.png", small_png, "image/png")}, data=FAST)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
    closed, said = _watch_until_closed(sockets, opened, b"X-Slow: 1\r\n", every_s=1.0, limit_s=30)
    for sock in sockets:
        sock.close()
    assert len(closed) == SLOW_CONNECTIONS, f"{SLOW_CONNECTIONS - len(closed)} slow connections still open"
    cut_off = max(closed.values())
    print(
        f"{SLOW_CONNECTIONS} slow-header connections all cut off within {cut_off:.1f} s (header_timeout_s=3)"
    )
    assert cut_off < 3 + 5  # the timeout, one check interval, and the time it took to open 2000
    assert all(data.startswith(b"HTTP/1.1 408") for data in said.values())
    with server.client() as http:
        assert wait_job(http.get, job_id)["state"] == "succeeded"


@pytest.mark.integration
@pytest.mark.security
def test_a_body_at_one_byte_a_second_is_closed(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(header_timeout_s=5, body_grace_s=2, body_min_rate_bytes_per_s=100)
    head = (
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000\r\n\r\n"
    )
    sockets = _open(_host_port(server), 1, head)
    opened = {sockets[0].fileno(): time.monotonic()}
    closed, _ = _watch_until_closed(sockets, opened, b"{", every_s=1.0, limit_s=30)
    sockets[0].close()
    assert len(closed) == 1, "the slow body was never cut off"
    (seconds,) = closed.values()
    print(f"a body at 1 byte/s was cut off after {seconds:.1f} s (grace 2 s, at least 100 bytes/s after)")
    assert seconds < 2 + 3
    with server.client() as http:  # a real body at a real pace still goes through
        response = http.post("/api/v1/jobs", json={"text": "OK", "params": FAST})
        assert response.status_code == 202, response.text


@pytest.mark.integration
@pytest.mark.security
def test_connections_beyond_the_cap_are_refused_at_once_and_oversized_heads_stopped(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server(header_timeout_s=2, max_connections=20, max_header_bytes=8192)
    address = _host_port(server)
    sockets = _open(address, 30, b"")
    opened = {sock.fileno(): time.monotonic() for sock in sockets}
    closed, said = _watch_until_closed(sockets, opened, None, every_s=1.0, limit_s=15)
    for sock in sockets:
        sock.close()
    refused = [fd for fd, data in said.items() if data.startswith(b"HTTP/1.1 503")]
    assert len(refused) >= 10 and all(closed[fd] < 1.0 for fd in refused)
    assert len(closed) == 30  # the others by the header deadline
    with server.client() as http:
        assert http.get("/healthz").status_code == 200
    big = _open(address, 1, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    closed, said = _watch_until_closed(big, {big[0].fileno(): time.monotonic()}, None, 1.0, 10)
    big[0].close()
    assert next(iter(said.values())).startswith(b"HTTP/1.1 431 Request Header Fields Too Large")


# --- the rule and the stream helper ---------------------------------------------------------------


@pytest.mark.unit
def test_pace_allows_a_grace_then_a_minimum_average_rate() -> None:
    pace = Pace(grace_s=10, min_rate=1000, total_s=60)
    assert not pace.overdue(9.9, 0)
    assert pace.overdue(10.1, 0)
    assert not pace.overdue(20, 10_000) and pace.overdue(20, 9_000)
    assert pace.overdue(61, 10**9)  # the total time caps even a fast body
    assert not Pace(grace_s=1, min_rate=0).overdue(10**6, 0)  # rate 0: off


async def _chunks(sizes_and_pauses: list[tuple[int, float]]) -> AsyncIterator[bytes]:
    for size, pause in sizes_and_pauses:
        await asyncio.sleep(pause)
        yield b"x" * size


async def _drain(stream: AsyncIterator[bytes], consumer_pause: float = 0.0) -> int:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        await asyncio.sleep(consumer_pause)
    return total


@pytest.mark.unit
def test_paced_passes_a_brisk_stream_and_cuts_a_stalled_one_at_its_deadline() -> None:
    pace = Pace(grace_s=0.2, min_rate=1000)
    brisk = _chunks([(500, 0.05)] * 8)
    assert asyncio.run(_drain(paced(brisk, pace))) == 4000
    # A slow consumer does not make the client slow: only waiting for chunks counts.
    assert asyncio.run(_drain(paced(_chunks([(300, 0.01)] * 4), pace), consumer_pause=0.3)) == 1200

    async def stalled() -> float:
        started = time.monotonic()
        with pytest.raises(TooSlow) as caught:
            await _drain(paced(_chunks([(100, 0.0), (100, 30.0)]), pace))
        assert caught.value.code == "request_timeout" and "too slowly" in caught.value.message
        return time.monotonic() - started

    assert asyncio.run(stalled()) < 2.0  # cut at grace + 100 B / 1000 B/s, not when the next byte came
