"""Hostile input, limits and access control, over real HTTP where it matters.

Every rejected request must leave no job row and no file behind.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import FAST, LiveServer, job_files, start_server, wait_job
from tests.conftest import disc_rgba, png_bytes, png_claiming

pytestmark = pytest.mark.security

MAX_UPLOAD = 200_000  # small, so the limits are cheap to reach


def small_caps_server(root: Path) -> LiveServer:
    """A real server whose caps hostile files reach cheaply (the mask route's tests use it too)."""
    return start_server(
        root / "data",
        root / "logs",
        max_upload_bytes=MAX_UPLOAD,
        max_model_bytes=MAX_UPLOAD,
        max_image_pixels=4_000_000,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = small_caps_server(tmp_path_factory.mktemp("security"))
    yield srv
    srv.stop()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'

HOSTILE = {
    "zero_bytes": (b"", 422, "empty"),
    "truncated_png": (png_bytes(disc_rgba(128))[:300], 422, "corrupt"),
    "text_named_png": (b"just some text, honestly an image\n" * 4, 415, "unsupported_type"),
    "svg": (SVG, 415, "unsupported_type"),
    "claims_30000x30000": (png_claiming(30000, 30000), 413, "too_many_pixels"),
    "over_byte_cap": (b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_UPLOAD + 1), 413, "too_large"),
}


def state_of(server: LiveServer) -> tuple[int, list[Path]]:
    with server.client() as http:
        total = http.get("/api/v1/jobs").json()["total"]
    return total, job_files(server.data_dir)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_uploads_are_refused_and_leave_nothing(server: LiveServer, name: str) -> None:
    data, status, code = HOSTILE[name]
    before = state_of(server)
    with server.client() as http:
        response = http.post("/api/v1/jobs", files={"image": ("picture.png", data, "image/png")}, data=FAST)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["field"] == "image" and error["message"]
    assert state_of(server) == before


def _raw_post(server: LiveServer, headers: str) -> socket.socket:
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        (
            "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: multipart/form-data; boundary=XyZ\r\n" + headers + "\r\n"
        ).encode()
    )
    return sock


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:  # the server drops the rest of an oversized body: expected
        pass
    return data


PART = b'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n\r\n\x89PNG\r\n\x1a\n'


def test_declared_oversized_body_is_refused_before_it_is_sent(server: LiveServer) -> None:
    before = state_of(server)
    sock = _raw_post(server, "Content-Length: 500000000\r\n")
    sock.sendall(PART)  # a few bytes of the promised 500 MB: the answer must not wait for the rest
    response = _read_response(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"code":"too_large"' in response
    assert state_of(server) == before


def test_streamed_oversized_body_is_cut_off_while_counting(server: LiveServer) -> None:
    before = state_of(server)
    sock = _raw_post(server, "Transfer-Encoding: chunked\r\n")
    total = 50 * MAX_UPLOAD
    sent = 0
    payload = PART + b"\0" * 16384
    while sent < total:
        try:
            sock.sendall(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(payload)
        payload = b"\0" * 16384
        if select.select([sock], [], [], 0)[0]:  # the server answered: stop sending
            break
    response = _read_response(sock)
    sock.close()
    assert sent < total  # the server did not wait for the whole body
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert state_of(server) == before


def test_artifact_names_cannot_escape_the_job_folder(server: LiveServer) -> None:
    with server.client() as http:
        job = http.post(
            "/api/v1/jobs",
            files={"image": ("d.png", png_bytes(disc_rgba(96)), "image/png")},
            data={**FAST, "formats": "stl"},
        ).json()
        done = wait_job(http.get, job["id"])
        assert done["state"] == "succeeded"
    secret = (server.data_dir / "orfeas.db").read_bytes()[:64]
    base = f"/api/v1/jobs/{job['id']}/artifacts/"
    attempts = [
        "../../orfeas.db",
        "..%2F..%2Forfeas.db",
        "%2e%2e%2f%2e%2e%2forfeas.db",
        "..%5c..%5corfeas.db",
        "....//....//orfeas.db",
        "%2Fetc%2Fpasswd",
        "..",
        "model.stl%00.png",
        "model.stl/..",
        "MODEL.STL",
        "input.png%2F..%2F..%2F..%2Forfeas.db",
    ]
    port = int(server.url.rsplit(":", 1)[1])
    for attempt in attempts:
        # raw requests: an HTTP client would normalise the dots away before sending
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                f"GET {base}{attempt} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            response = _read_response(sock)
        status = int(response.split(b" ", 2)[1])
        assert 400 <= status < 500, (attempt, response[:200])
        assert b"invalid_host" not in response  # refused by the route, not before it
        assert secret not in response and b"root:" not in response
    with server.client() as http:
        assert http.get(f"{base}model.stl").status_code == 200  # the real one still works


# --- rate limits and API keys (in-process apps with their own settings) ----------------------


def test_request_rate_limit_is_429_with_retry_after(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_requests_per_minute=3)
    codes = [client.get("/api/v1/engines").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    limited = client.get("/api/v1/jobs")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-content-type-options"] == "nosniff"
    # health checks are never limited, and other clients have their own budget
    assert client.get("/healthz").status_code == 200 and client.get("/api/health").status_code == 200
    other = TestClient(client.app, client=("10.0.0.9", 1234))
    assert other.get("/api/v1/engines").status_code == 200


def test_submission_rate_limit(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    client = make_client(rate_limit_submissions_per_minute=1)
    client.app.state.runtime.jobs.queue.stop()
    assert client.post("/api/v1/jobs", json={"text": "A"}).status_code == 202
    limited = client.post("/api/v1/jobs", json={"text": "B"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "submissions" in limited.json()["error"]["message"]
    assert client.get("/api/v1/jobs").json()["total"] == 1  # reading is still fine


def test_api_keys(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys="k-one, k-two", protect_metrics=True)
    denied = client.get("/api/v1/engines")
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "unauthorized"
    assert denied.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/v1/engines", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/api/v1/engines", headers={"Authorization": "Bearer"}).status_code == 401
    assert client.get("/api/v1/engines", headers={"X-API-Key": "k-one"}).status_code == 200
    assert client.get("/api/v1/engines", headers={"Authorization": "Bearer k-two"}).status_code == 200
    assert client.post("/api/v1/jobs", json={"text": "A"}).status_code == 401
    assert client.get("/api/models-info").status_code == 401
    assert client.get("/metrics").status_code == 401  # protect_metrics
    for open_path in ("/healthz", "/readyz", "/api/health", "/openapi.json"):
        assert client.get(open_path).status_code == 200, open_path
    assert client.get("/api/v1/jobs").status_code == 401
    assert client.get("/api/v1/jobs", headers={"x-api-key": "k-two"}).status_code == 200


def test_no_keys_means_open_api(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert client.get("/api/v1/engines").status_code == 200


def test_settings_have_no_secret_defaults() -> None:
    from orfeas.settings import Settings

    defaults = Settings()
    assert defaults.api_keys == "" and defaults.api_key_set() == frozenset()
    assert defaults.cors_origins == ""
    assert defaults.host == "127.0.0.1"  # loopback unless told otherwise


def test_server_refuses_work_it_cannot_parse_without_crashing(server: LiveServer) -> None:
    with server.client() as http:
        for content, ctype in (
            (b"\xff" * 100, "multipart/form-data; boundary=zz"),
            (
                b"--zz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--zz--\r\n",
                "multipart/form-data; boundary=zz",
            ),
            (b"", "multipart/form-data"),
            (b"{}", "application/json"),
        ):
            response = http.post("/api/v1/jobs", content=content, headers={"content-type": ctype})
            assert 400 <= response.status_code < 500, (content, response.text)
            assert set(response.json()["error"]) == {"code", "message", "field"}
        assert http.get("/healthz").status_code == 200
    tls = httpx.Client(base_url=server.url.replace("http", "https"), timeout=5)
    with tls, pytest.raises(httpx.HTTPError):  # not HTTP at all: the server drops it, and lives on
        tls.get("/healthz")
    with server.client() as http:
        assert http.get("/healthz").status_code == 200
