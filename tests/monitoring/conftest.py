"""Fixtures for the monitoring tests: the real tools (promtool, amtool, Prometheus, Alertmanager,
docker-compose from Debian's packages), a fully exercised :class:`orfeas.metrics.Metrics`, and a
throw-away Prometheus server on loopback. A missing tool skips locally and fails in CI."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orfeas.api.observability import api_vocabulary
from orfeas.jobs.queue import JobEvent
from orfeas.metrics import GpuSample, JobEventRecorder, Metrics
from tests.conftest import require
from tests.jobs.conftest import make_job

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
PROMETHEUS_DIR = MONITORING / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
ALERTMANAGER_DIR = MONITORING / "alertmanager"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "orfeas.json"
README = MONITORING / "README.md"

#: The 17 alerts of DESIGN.md §5 (JobQueueFull is the critical "one more of your choice").
CRITICAL_ALERTS = (
    "ApplicationDown",
    "CriticalErrorRate",
    "CriticalLatency",
    "CriticalCPUUsage",
    "CriticalMemoryUsage",
    "PossibleDDoS",
    "CriticalDiskSpace",
    "NoSuccessfulGenerations",
    "JobQueueFull",
)
WARNING_ALERTS = (
    "HighErrorRate",
    "HighLatency",
    "HighCPUUsage",
    "HighMemoryUsage",
    "HighGenerationFailureRate",
    "LowDiskSpace",
    "HighRateLimitRejections",
    "SlowGenerations",
)

#: Which Debian package brings each tool (all listed in scripts/apt-packages.txt).
DEBIAN_PACKAGE = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "amtool": "prometheus-alertmanager",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "docker-compose": "docker-compose",
}


def tool(name: str) -> str:
    """Path of a tool from Debian's packages: skipped when missing locally, a failure in CI."""
    path = shutil.which(name)
    require(path is not None, f"`{name}` is missing: apt-get install {DEBIAN_PACKAGE.get(name, name)}")
    assert path is not None
    return path


def run(
    args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output (never raises on a non-zero exit)."""
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> dict[str, dict[str, Any]]:
    """Every alerting rule in monitoring/prometheus/rules, by alert name."""
    rules: dict[str, dict[str, Any]] = {}
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["alert"] not in rules, f"alert {rule['alert']} defined twice"
                    rules[rule["alert"]] = rule
    return rules


def recording_rule_names() -> set[str]:
    return {
        rule["record"]
        for path in sorted(RULES_DIR.glob("*.yml"))
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL expression) for every query of every panel of the dashboard."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p["targets"]]


# --- exposition parsing -------------------------------------------------------------------------
_TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.M)
_SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", re.M)
_LABEL_NAME = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="')
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def families(exposition: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Metric family name (as in ``# TYPE``) → (type, label names other than ``le``)."""
    types = dict(_TYPE_LINE.findall(exposition))
    labels: dict[str, set[str]] = {name: set() for name in types}
    for sample, label_text in _SAMPLE_LINE.findall(exposition):
        family = sample
        if family not in types:
            for suffix in _HISTOGRAM_SUFFIXES:
                if sample.endswith(suffix) and sample[: -len(suffix)] in types:
                    family = sample[: -len(suffix)]
        if family in labels and label_text:
            labels[family].update(n for n in _LABEL_NAME.findall(label_text) if n != "le")
    return {name: (types[name], frozenset(labels[name])) for name in types}


def sample_names(exposition: str) -> set[str]:
    """Every name a query can use: family names plus histogram ``_bucket``/``_sum``/``_count``."""
    names = set()
    for name, (kind, _) in families(exposition).items():
        names.add(name)
        if kind == "histogram":
            names.update(name + suffix for suffix in _HISTOGRAM_SUFFIXES)
        elif kind == "summary":
            names.update((name + "_sum", name + "_count"))
    return names


def new_metrics(data_dir: Path, gpu_probe: Any = None, version: str | None = None) -> Metrics:
    """A Metrics with the service's own vocabulary, as the app builds it."""
    return Metrics(vocabulary=api_vocabulary(), data_dir=data_dir, gpu_probe=gpu_probe, version=version)


def exercise(metrics: Metrics) -> Metrics:
    """Call every recording function once, so every family has a sample."""
    metrics.requests.in_flight += 1
    metrics.observe_request("/api/v1/jobs/{job_id}", "GET", 200, 0.004, 0, 512)
    metrics.requests.in_flight -= 1
    metrics.record_error("storage")
    metrics.record_validation_error("unsupported_type")
    metrics.record_rate_limited("submissions")
    metrics.record_queue_full()
    metrics.record_auth_failure("invalid")
    metrics.set_capacity(workers=2, queue_size=8)
    recorder = JobEventRecorder(metrics)
    recorder(JobEvent("submitted", make_job(), 0.0))
    metrics.record_upload("image/png", 20_000)
    metrics.record_generation(
        "relief", "image", "succeeded", {"decode": 0.01, "mask": 0.2, "height": 0.1}, 0.82, 48_000
    )
    metrics.record_generation("relief", "text", "failed", {"decode": 0.01})
    metrics.job_finished("succeeded", turnaround_s=1.2)
    metrics.record_failure("mesh_invalid")
    metrics.set_model_loaded("relief", True)
    metrics.observe_model_load("hunyuan3d", 12.0)
    metrics.set_engine_available("relief", True)
    metrics.record_mask("neural", 0.3, "job")
    metrics.record_mask("grabcut", 0.9, "preview", fell_back=True)
    metrics.queue_wait_observed(0.5)
    metrics.track_broker_depth(lambda: 3)  # queue=celery only
    metrics.event_streams.inc()
    metrics.event_streams.dec()
    metrics.record_download("stl", 80_000)
    recorder(JobEvent("submitted", make_job(text="A"), 0.0))
    metrics.job_finished("cancelled")
    return metrics


def fake_gpu() -> list[GpuSample]:
    """A fixed GPU reading, so the GPU families appear where no GPU exists."""
    return [GpuSample(0, "Test GPU", 0.42, 2.0e9, 8.0e9, 61.0)]


@pytest.fixture
def exercised_metrics(tmp_path: Path) -> Metrics:
    """A Metrics with every family populated, GPU ones included."""
    return exercise(new_metrics(tmp_path, fake_gpu, "0.0.test"))


@pytest.fixture
def exported_families(exercised_metrics: Metrics) -> dict[str, tuple[str, frozenset[str]]]:
    return families(exercised_metrics.exposition().decode())


# --- a real Prometheus server on loopback -------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str, data: bytes | None = None, timeout: float = 10) -> tuple[int, Any]:
    """GET (or POST form ``data``): the status and the JSON answer (text when it is not JSON).

    HTTP errors are returned, not raised; connection errors raise ``OSError``.
    """
    request = urllib.request.Request(url, data=data)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


class PrometheusServer:
    """A Prometheus process with its own config and empty TSDB in a temporary directory."""

    def __init__(self, config: str, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config_path = workdir / "prometheus.yml"
        config_path.write_text(config)
        self.log = (workdir / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as ready,
            ):
                if ready.status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("prometheus did not become ready")

    def query(self, expr: str) -> tuple[int, Any]:
        """POST an instant query: (HTTP status, decoded answer). A parse error is a 400."""
        return http_json(f"{self.url}/api/v1/query", urllib.parse.urlencode({"query": expr}).encode())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def idle_prometheus() -> Iterator[PrometheusServer]:
    """A Prometheus that scrapes nothing: its query API parses and evaluates expressions."""
    with tempfile.TemporaryDirectory(prefix="orfeas-prom-") as workdir:
        server = PrometheusServer("global:\n  scrape_interval: 1m\nscrape_configs: []\n", Path(workdir))
        try:
            yield server
        finally:
            server.stop()


def _env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


@pytest.fixture
def clean_env() -> dict[str, str]:
    """The environment without the variables the monitoring files read."""
    return _env_without(
        "GRAFANA_ADMIN_PASSWORD",
        "GRAFANA_ADMIN_USER",
        "ALERT_WEBHOOK_URL",
        "ALERT_SLACK_API_URL",
        "ALERT_SLACK_CHANNEL",
        "ALERT_EMAIL_TO",
        "ALERT_EMAIL_FROM",
        "ALERT_SMTP_SMARTHOST",
        "ALERT_SMTP_USERNAME",
        "ALERT_SMTP_PASSWORD",
    )
