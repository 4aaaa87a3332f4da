"""A real ORFEAS process scraped by a real Prometheus (Debian's package) on loopback.

One scenario, in order (so parallel test workers never split it): start ORFEAS and a Prometheus
that scrapes it every second and evaluates the recording rules; run a few jobs and a few bad
requests; check ORFEAS's own /metrics (promtool, dashboard names); check what Prometheus stored;
stop ORFEAS and watch ``up`` fall to 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orfeas.metrics import GPU_METRICS, NvmlProbe
from tests.conftest import disc_rgba, png_bytes
from tests.monitoring.conftest import (
    RULES_DIR,
    PrometheusServer,
    dashboard_queries,
    free_port,
    recording_rule_names,
    sample_names,
    tool,
)
from tests.monitoring.promql import metric_names, substitute

pytestmark = pytest.mark.integration

WIRING_HINT = "wire orfeas.metrics into the service (see the monitoring report / monitoring/README.md)"


class OrfeasProcess:
    """``orfeas serve`` in a child process with its own data directory and port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "ORFEAS_HOST": "127.0.0.1",
            "ORFEAS_PORT": str(self.port),
            "ORFEAS_DATA_DIR": str(workdir / "data"),
            "ORFEAS_WORKERS": "1",
            "ORFEAS_METRICS_ENABLED": "true",
        }
        self.log_path = workdir / "orfeas.log"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orfeas.cli", "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 90
        while True:
            assert self.process.poll() is None, f"orfeas serve exited:\n{self.log_path.read_text()}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"orfeas did not become ready:\n{self.log_path.read_text()}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def orfeas(tmp_path: Path) -> Iterator[OrfeasProcess]:
    server = OrfeasProcess(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prometheus(orfeas: OrfeasProcess, tmp_path: Path) -> Iterator[PrometheusServer]:
    rules = sorted(str(p) for p in RULES_DIR.glob("*.yml"))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": rules,
        "scrape_configs": [
            {
                "job_name": "orfeas",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{orfeas.port}"]}],
            }
        ],
    }
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    tool("prometheus")
    server = PrometheusServer(json.dumps(config), workdir)  # JSON is YAML
    try:
        yield server
    finally:
        server.stop()


def instant(prometheus: PrometheusServer, expr: str) -> list[dict[str, Any]]:
    status, answer = prometheus.query(expr)
    assert status == 200, (expr, answer)
    return answer["data"]["result"]


def scalar(prometheus: PrometheusServer, expr: str) -> float | None:
    result = instant(prometheus, expr)
    return float(result[0]["value"][1]) if result else None


def eventually(check, what: str, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def run_some_traffic(client: httpx.Client) -> list[str]:
    """Three image jobs, one text job, three bad requests and a missing job; returns the job ids."""
    ids = []
    picture = png_bytes(disc_rgba(160))
    for _ in range(3):
        answer = client.post(
            "/api/v1/jobs", files={"image": ("disc.png", picture, "image/png")}, data={"formats": "stl"}
        )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    answer = client.post("/api/v1/jobs", json={"text": "HI", "formats": ["stl"]})
    assert answer.status_code == 202, answer.text
    ids.append(answer.json()["id"])

    bad = [
        client.post("/api/v1/jobs", files={"image": ("x.png", b"this is not a picture", "image/png")}),
        client.post(
            "/api/v1/jobs", files={"image": ("d.png", picture, "image/png")}, data={"engine": "nope"}
        ),
        client.post("/api/v1/jobs", json={"text": "HI", "params": {"size_mm": -5}}),
    ]
    assert all(400 <= r.status_code < 500 for r in bad), [(r.status_code, r.text) for r in bad]
    assert client.get("/api/v1/jobs/0123456789abcdef").status_code == 404

    for job_id in ids:
        job = eventually(
            lambda job_id=job_id: (
                (j := client.get(f"/api/v1/jobs/{job_id}").json())["state"]
                in ("succeeded", "failed", "cancelled")
                and j
            ),
            f"job {job_id} to finish",
            timeout=120,
        )
        assert job["state"] == "succeeded", job
    artifact = client.get(job["artifacts"][0]["url"])
    assert artifact.status_code == 200 and artifact.content
    return ids


def check_own_exposition(text: str) -> None:
    """promtool accepts it, and the dashboard reads only names it exports."""
    checked = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    exported = sample_names(text)
    assert "orfeas_generations_total" in exported, WIRING_HINT
    gpu_here = NvmlProbe().available
    conditional = set() if gpu_here else set(GPU_METRICS)
    if not gpu_here:
        assert not set(GPU_METRICS) & exported, "GPU series must be absent without a GPU, not zero"
    used = set().union(*(metric_names(substitute(expr)) for _, expr in dashboard_queries()))
    missing = used - exported - recording_rule_names() - {"up"} - conditional
    assert not missing, f"the dashboard reads metrics this ORFEAS does not export: {sorted(missing)}"


def test_prometheus_scrapes_a_running_orfeas(orfeas: OrfeasProcess, prometheus: PrometheusServer) -> None:
    with httpx.Client(base_url=orfeas.url, timeout=30) as client:
        run_some_traffic(client)
        metrics = client.get("/metrics")
    assert metrics.status_code == 200, WIRING_HINT
    check_own_exposition(metrics.text)

    # Prometheus has the target up and, after its next scrapes, what the traffic produced.
    assert eventually(lambda: scalar(prometheus, 'up{job="orfeas"}') == 1, "up == 1")
    succeeded = 'sum(orfeas_generations_total{job="orfeas", outcome="succeeded"})'
    eventually(lambda: (scalar(prometheus, succeeded) or 0) >= 4, "4 successful generations in Prometheus")
    assert scalar(prometheus, 'sum(orfeas_generations_total{job="orfeas"})') > 0
    buckets = instant(
        prometheus,
        'orfeas_http_request_duration_seconds_bucket{job="orfeas", route="/api/v1/jobs", method="POST"}',
    )
    assert len(buckets) >= 10, "request-duration buckets of the submit route"
    assert max(float(b["value"][1]) for b in buckets) >= 7, "7 submissions were timed"
    eventually(
        lambda: (scalar(prometheus, 'sum(orfeas_validation_errors_total{job="orfeas"})') or 0) >= 3,
        "validation errors in Prometheus",
    )
    assert scalar(prometheus, 'sum(orfeas_jobs_succeeded_total{job="orfeas"})') >= 4
    assert scalar(prometheus, 'sum(orfeas_downloads_total{job="orfeas", format="stl"})') >= 1
    job_route = instant(prometheus, 'orfeas_http_requests_total{job="orfeas", route="/api/v1/jobs/{job_id}"}')
    assert job_route, "status polls are labelled by route template"
    assert not instant(prometheus, 'orfeas_http_requests_total{route=~".*[0-9a-f]{16}.*"}'), "no raw ids"
    # The recording rules evaluate against live data.
    eventually(lambda: instant(prometheus, "instance:orfeas_host_memory_usage:ratio"), "a recording rule")

    orfeas.stop()
    eventually(lambda: scalar(prometheus, 'up{job="orfeas"}') == 0, "up == 0 after ORFEAS stopped")
