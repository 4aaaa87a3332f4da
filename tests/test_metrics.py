"""orfeas.metrics: the families, bounded labels, the system collector, the middleware and /metrics."""

from __future__ import annotations

import gzip
import platform
import re
import subprocess
import time
from pathlib import Path

import prometheus_client
import pytest
from fastapi import FastAPI, HTTPException, WebSocket
from fastapi.responses import StreamingResponse
from starlette.testclient import TestClient

from orfeas import errors
from orfeas.api.observability import MetricsMiddleware, api_vocabulary
from orfeas.jobs.queue import JobEvent
from orfeas.jobs.states import SERVER_FAULTS, FailureReason
from orfeas.metrics import GPU_METRICS, GpuSample, JobEventRecorder, MaskRecorder, Metrics, NvmlProbe
from tests.jobs.conftest import make_job
from tests.monitoring.conftest import exercise, fake_gpu, families, new_metrics, tool

FAMILIES_OF_THE_DESIGN = 40


def value(m: Metrics, metric: str, **labels: str) -> float | None:
    """A sample's current value from the registry (None when the series does not exist)."""
    return m.registry.get_sample_value(metric, labels)


def exported(m: Metrics) -> dict[str, tuple[str, frozenset[str]]]:
    return families(m.exposition().decode())


@pytest.fixture
def m(tmp_path: Path) -> Metrics:
    return new_metrics(tmp_path, lambda: [], "0.0.test")


# --- families -------------------------------------------------------------------------------------
@pytest.mark.unit
def test_at_least_forty_named_families_with_help(tmp_path: Path) -> None:
    text = exercise(new_metrics(tmp_path, fake_gpu)).exposition().decode()
    helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.M))
    names = families(text)
    assert len(names) >= FAMILIES_OF_THE_DESIGN
    assert all(name.startswith("orfeas_") for name in names)
    assert all(helps[name].strip() for name in names)
    assert "orfeas_build_info" in names
    assert "_created" not in text, "created series are switched off (they double the scrape)"


@pytest.mark.integration
def test_promtool_check_metrics_passes(tmp_path: Path) -> None:
    text = exercise(new_metrics(tmp_path, fake_gpu)).exposition()
    checked = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout.strip() == b"" and checked.stderr.strip() == b"", "no lint warnings"


@pytest.mark.unit
def test_two_metrics_objects_do_not_share_state(tmp_path: Path) -> None:
    first, second = new_metrics(tmp_path), new_metrics(tmp_path)
    first.record_validation_error("corrupt")
    assert value(first, "orfeas_validation_errors_total", reason="corrupt") == 1
    assert value(second, "orfeas_validation_errors_total", reason="corrupt") == 0


@pytest.mark.unit
def test_build_info(m: Metrics) -> None:
    assert value(m, "orfeas_build_info", version="0.0.test", python_version=platform.python_version()) == 1


@pytest.mark.unit
def test_the_vocabulary_comes_from_its_owners() -> None:
    from orfeas.catalog import engine_names
    from orfeas.pipeline import STAGES
    from orfeas.spec import OUTPUT_FORMATS

    words = api_vocabulary()
    assert words.stages == STAGES and set(words.engines) == set(engine_names())
    assert set(words.failure_reasons) == {r.value for r in FailureReason} - {"cancelled"}
    assert set(words.server_failure_reasons) == {r.value for r in SERVER_FAULTS}
    assert errors.InputRejected.code in words.failure_reasons
    for error in (errors.EngineUnavailable, errors.MeshInvalid):
        assert error.code in words.server_failure_reasons
    assert set(errors.INPUT_CODES) <= set(words.validation_reasons)
    assert errors.EngineUnavailable.code in words.validation_reasons
    assert set(words.download_formats) == {*OUTPUT_FORMATS, "png"}  # stl.zip included
    from orfeas.imaging.sources import MASK_METHODS

    assert words.mask_methods == MASK_METHODS


# --- bounded labels -------------------------------------------------------------------------------
@pytest.mark.unit
def test_unknown_label_values_become_other(m: Metrics) -> None:
    m.record_validation_error("a reason nobody planned")
    m.record_rate_limited("per-planet")
    m.record_error("cosmic rays")
    m.record_download("../../etc/passwd")
    m.record_upload("application/x-evil")
    m.record_generation("some-new-engine", "video", "exploded", {"warp": 1.0})
    m.record_auth_failure("forged")
    m.observe_request("/x", "BREW", 999, 0.1)
    assert value(m, "orfeas_validation_errors_total", reason="other") == 1
    assert value(m, "orfeas_rate_limited_total", scope="other") == 1
    assert value(m, "orfeas_errors_total", type="other") == 1
    assert value(m, "orfeas_downloads_total", format="other") == 1
    assert value(m, "orfeas_uploads_total", type="other") == 1
    assert value(m, "orfeas_generations_total", engine="other", kind="other", outcome="other") == 1
    assert value(m, "orfeas_generation_stage_duration_seconds_count", engine="other", stage="other") == 1
    assert value(m, "orfeas_auth_failures_total", reason="other") == 1
    assert value(m, "orfeas_http_requests_total", route="/x", method="other", status="other") == 1


@pytest.mark.unit
@pytest.mark.parametrize(
    ("given", "label"),
    [("image/png", "png"), ("PNG", "png"), ("image/jpg", "jpeg"), ("jpeg", "jpeg"), ("image/tif", "tiff"),
     ("image/webp; q=1", "webp")],
)  # fmt: skip
def test_upload_types_are_normalised(m: Metrics, given: str, label: str) -> None:
    m.record_upload(given, 100)
    assert value(m, "orfeas_uploads_total", type=label) == 1


@pytest.mark.unit
def test_known_series_start_at_zero(m: Metrics) -> None:
    assert value(m, "orfeas_errors_total", type="http_5xx") == 0
    assert value(m, "orfeas_jobs_failed_total", reason="gpu_oom") == 0
    assert value(m, "orfeas_generations_total", engine="relief", kind="image", outcome="succeeded") == 0
    assert value(m, "orfeas_downloads_total", format="3mf") == 0


# --- jobs, generations and business outcomes ------------------------------------------------------
@pytest.mark.unit
def test_job_outcomes_and_counts(m: Metrics) -> None:
    m.set_capacity(workers=2, queue_size=8)
    counts = {"queued": 3, "running": 0}
    m.track_job_counts(queued=lambda: counts["queued"], running=lambda: counts["running"])
    recorder = JobEventRecorder(m)
    for job in (make_job(), make_job(), make_job(text="A")):
        recorder(JobEvent("submitted", job, 0.0))
    assert value(m, "orfeas_jobs_queued") == 3
    counts.update(queued=1, running=2)  # read at scrape time, never drifting
    assert (value(m, "orfeas_jobs_queued"), value(m, "orfeas_jobs_active")) == (1, 2)
    recorder(JobEvent("started", make_job(created_at=1.0, started_at=1.3), 0.0))
    m.job_finished("succeeded", turnaround_s=2.0)
    m.job_finished("failed", "invalid_input", turnaround_s=1.0)
    m.job_finished("cancelled")
    assert value(m, "orfeas_jobs_submitted_total", kind="image") == 2
    assert value(m, "orfeas_jobs_submitted_total", kind="text") == 1
    assert value(m, "orfeas_jobs_succeeded_total") == 1
    assert value(m, "orfeas_jobs_failed_total", reason="invalid_input") == 1
    assert value(m, "orfeas_jobs_cancelled_total") == 1
    assert value(m, "orfeas_job_queue_wait_seconds_count") == 1
    assert value(m, "orfeas_job_turnaround_seconds_count", state="failed") == 1
    assert value(m, "orfeas_worker_slots") == 2 and value(m, "orfeas_job_queue_capacity") == 8


@pytest.mark.unit
def test_input_failures_are_not_server_errors(m: Metrics) -> None:
    m.record_failure("invalid_input")
    assert value(m, "orfeas_errors_total", type="generation") == 0
    m.record_failure("gpu_oom")
    m.job_finished("failed", None)  # no reason given: "other", a server-side failure
    assert value(m, "orfeas_errors_total", type="generation") == 2
    assert value(m, "orfeas_jobs_failed_total", reason="other") == 1


@pytest.mark.unit
def test_record_generation(m: Metrics) -> None:
    timings = {"decode": 0.01, "mask": 0.2, "height": 0.1, "mesh": 0.05}
    m.record_generation("relief", "image", "succeeded", timings, quality_score=0.9, faces=50_000)
    m.record_generation("relief", "image", "failed", {"decode": 0.01}, quality_score=0.1, faces=10)
    m.record_generation("relief", "text", "cancelled")
    assert value(m, "orfeas_generations_total", engine="relief", kind="image", outcome="succeeded") == 1
    assert value(m, "orfeas_generation_duration_seconds_sum", engine="relief", kind="image") == pytest.approx(
        0.37
    )
    assert value(m, "orfeas_generation_duration_seconds_count", engine="relief", kind="text") is None
    assert value(m, "orfeas_generation_stage_duration_seconds_count", engine="relief", stage="decode") == 2
    # Quality and faces describe models that were produced.
    assert value(m, "orfeas_generation_quality_score_count", engine="relief") == 1
    assert value(m, "orfeas_generation_mesh_faces_bucket", engine="relief", le="50000.0") == 1
    m.record_generation("relief", "text", "succeeded", duration_s=12.0)
    bucket = "orfeas_generation_duration_seconds_bucket"
    assert value(m, bucket, engine="relief", kind="text", le="10.0") == 0
    assert value(m, bucket, engine="relief", kind="text", le="30.0") == 1


@pytest.mark.unit
def test_models_and_engines(m: Metrics) -> None:
    m.set_engine_available("relief", True)
    m.set_engine_available("hunyuan3d", False)
    m.observe_model_load("hunyuan3d", 42.0)
    assert value(m, "orfeas_engine_available", engine="hunyuan3d") == 0
    assert value(m, "orfeas_model_loaded", engine="hunyuan3d") == 1
    m.set_model_loaded("hunyuan3d", False)
    assert value(m, "orfeas_model_loaded", engine="hunyuan3d") == 0
    assert value(m, "orfeas_model_load_duration_seconds_sum", engine="hunyuan3d") == 42.0


@pytest.mark.unit
def test_masks_by_source_and_origin_from_reports_and_previews(m: Metrics) -> None:
    from dataclasses import replace

    from orfeas.api.hooks import Hooks
    from orfeas.api.observability import connect

    assert value(m, "orfeas_masks_total", source="neural", origin="job") == 0  # there from the start
    record = MaskRecorder(m)
    report = {"engine": {"mask_method": "neural", "mask_seconds": 0.31}}
    job = replace(make_job(), report=report)
    record(JobEvent("succeeded", job, 0.0))
    record(JobEvent("failed", job, 0.0))  # only a finished model's report counts
    record(JobEvent("succeeded", replace(job, cached_from="an earlier job"), 0.0))  # found no mask itself
    fell_back = {"engine": {"mask_method": "grabcut", "mask_seconds": 1.2, "mask_reason": "no model file"}}
    record(JobEvent("succeeded", replace(job, report=fell_back), 0.0))
    record(JobEvent("succeeded", replace(job, report={"engine": {"mode": "lithophane"}}), 0.0))  # no mask
    assert value(m, "orfeas_masks_total", source="neural", origin="job") == 1
    assert value(m, "orfeas_mask_duration_seconds_sum", source="neural", origin="job") == pytest.approx(0.31)
    assert value(m, "orfeas_mask_duration_seconds_count", source="grabcut", origin="job") == 1
    assert value(m, "orfeas_mask_fallbacks_total", origin="job") == 1
    hooks = Hooks()
    connect(m, hooks)
    hooks.masked("alpha", 0.01, False)
    hooks.masked("a source nobody planned", 0.2, False)
    assert value(m, "orfeas_masks_total", source="alpha", origin="preview") == 1
    assert value(m, "orfeas_masks_total", source="other", origin="preview") == 1
    assert value(m, "orfeas_mask_fallbacks_total", origin="preview") == 0


@pytest.mark.unit
def test_downloads_and_errors(m: Metrics) -> None:
    m.record_download("STL", 1000)
    m.record_download("glb")
    m.record_queue_full()
    assert value(m, "orfeas_downloads_total", format="stl") == 1
    assert value(m, "orfeas_download_bytes_total", format="stl") == 1000
    assert value(m, "orfeas_queue_full_rejections_total") == 1


# --- system collector -----------------------------------------------------------------------------
@pytest.mark.unit
def test_system_metrics_are_read_at_scrape_time(tmp_path: Path) -> None:
    m = new_metrics(tmp_path / "not" / "created" / "yet", lambda: [])
    names = exported(m)
    for name in (
        "orfeas_process_resident_memory_bytes",
        "orfeas_host_memory_total_bytes",
        "orfeas_data_disk_free_bytes",
        "orfeas_host_cpu_seconds_total",
        "orfeas_process_open_fds",
    ):
        assert name in names
    first = value(m, "orfeas_process_cpu_seconds_total")
    sum(i * i for i in range(300_000))  # burn a little CPU
    assert value(m, "orfeas_process_cpu_seconds_total") > first
    total, free = value(m, "orfeas_data_disk_total_bytes"), value(m, "orfeas_data_disk_free_bytes")
    assert 0 < free <= total
    assert value(m, "orfeas_host_load_average", window="5m") >= 0
    assert value(m, "orfeas_host_cpu_seconds_total", mode="idle") > 0


@pytest.mark.unit
def test_gpu_series_are_absent_without_a_gpu(m: Metrics) -> None:
    assert not set(GPU_METRICS) & set(exported(m))


@pytest.mark.unit
def test_nvml_probe_without_nvml_reports_nothing() -> None:
    """On this host (no NVIDIA driver, or no nvidia-ml-py) the default probe finds no GPU."""
    probe = NvmlProbe()
    if probe.available:  # a GPU host: its readings must be well-formed
        assert all(0 <= s.utilization_ratio <= 1 for s in probe() if s.utilization_ratio is not None)
    else:
        assert probe() == []


@pytest.mark.unit
def test_gpu_series_from_a_probe(tmp_path: Path) -> None:
    readings = [GpuSample(0, "A", 0.5, 1e9, 8e9, 60.0), GpuSample(1, "B", None, 2e9, 8e9, None)]
    m = new_metrics(tmp_path, lambda: readings)
    assert set(GPU_METRICS) <= set(exported(m))
    assert value(m, "orfeas_gpu_utilization_ratio", gpu="0", name="A") == 0.5
    assert value(m, "orfeas_gpu_utilization_ratio", gpu="1", name="B") is None, "unreadable: absent"
    assert value(m, "orfeas_gpu_memory_used_bytes", gpu="1", name="B") == 2e9
    assert value(m, "orfeas_gpu_temperature_celsius", gpu="0", name="A") == 60.0


# --- the middleware and /metrics ------------------------------------------------------------------
def _app(m: Metrics, *, enabled: bool = True) -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/jobs/{job_id}")
    async def get_job(job_id: str) -> dict:
        if job_id == "missing":
            raise HTTPException(404, "no such job")
        return {"id": job_id}

    @app.post("/api/v1/jobs")
    async def submit(body: dict) -> dict:
        return {"size": len(body)}

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("bug")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks():
            for _ in range(3):
                yield b"x" * 100

        return StreamingResponse(chunks())

    app.add_route("/metrics", m.asgi_app(), include_in_schema=False)
    if enabled:
        app.add_middleware(MetricsMiddleware, metrics=m)
    return app


@pytest.mark.unit
def test_middleware_labels_by_route_template(m: Metrics) -> None:
    with TestClient(_app(m)) as client:
        for job_id in ("a1", "b2", "c3"):
            assert client.get(f"/api/v1/jobs/{job_id}").status_code == 200
        assert client.get("/api/v1/jobs/missing").status_code == 404
        assert client.get("/no/such/path/123").status_code == 404
        assert client.delete("/api/v1/jobs/a1").status_code == 405
        assert client.post("/api/v1/jobs", json={"a": 1, "b": 2}).status_code == 200
    route = "/api/v1/jobs/{job_id}"
    assert value(m, "orfeas_http_requests_total", route=route, method="GET", status="200") == 3
    assert value(m, "orfeas_http_requests_total", route=route, method="GET", status="404") == 1
    assert value(m, "orfeas_http_requests_total", route=route, method="DELETE", status="405") == 1
    assert value(m, "orfeas_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert value(m, "orfeas_http_request_duration_seconds_count", route=route, method="GET") == 4
    assert value(m, "orfeas_http_request_size_bytes_sum", route="/api/v1/jobs", method="POST") == len(
        b'{"a":1,"b":2}'
    )
    assert value(m, "orfeas_http_requests_in_flight") == 0
    assert value(m, "orfeas_errors_total", type="http_5xx") == 0
    text = m.exposition().decode()
    assert "a1" not in text and "/no/such" not in text, "raw paths and ids never become labels"


@pytest.mark.unit
def test_middleware_counts_exceptions_and_streams(m: Metrics) -> None:
    with TestClient(_app(m), raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
        response = client.get("/stream")
        assert len(response.content) == 300
    assert value(m, "orfeas_http_requests_total", route="/boom", method="GET", status="500") == 1
    assert value(m, "orfeas_errors_total", type="unhandled_exception") == 1
    assert value(m, "orfeas_errors_total", type="http_5xx") == 0, "one incident, one error"
    assert value(m, "orfeas_http_response_size_bytes_sum", route="/stream", method="GET") == 300


@pytest.mark.unit
def test_middleware_counts_a_5xx_response_as_an_error(m: Metrics) -> None:
    app = _app(m)

    @app.get("/unavailable")
    async def unavailable() -> None:
        raise HTTPException(503, "queue full")

    with TestClient(app) as client:
        assert client.get("/unavailable").status_code == 503
    assert value(m, "orfeas_errors_total", type="http_5xx") == 1


@pytest.mark.unit
def test_requests_answered_before_routing_keep_their_template(m: Metrics) -> None:
    """A limiter inside the metrics middleware answers 429 before the router runs."""

    class RejectAll:
        def __init__(self, app) -> None:
            self.app = app

        async def __call__(self, scope, receive, send) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 429, "headers": []})
            await send({"type": "http.response.body", "body": b"slow down"})

    app = FastAPI()

    @app.get("/api/v1/jobs/{job_id}")
    async def get_job(job_id: str) -> dict:
        return {}

    app.add_middleware(RejectAll)
    app.add_middleware(MetricsMiddleware, metrics=m)  # added last: outermost
    with TestClient(app) as client:
        assert client.get("/api/v1/jobs/xyz").status_code == 429
        assert client.get("/elsewhere").status_code == 429
    assert (
        value(m, "orfeas_http_requests_total", route="/api/v1/jobs/{job_id}", method="GET", status="429") == 1
    )
    assert value(m, "orfeas_http_requests_total", route="unmatched", method="GET", status="429") == 1


@pytest.mark.unit
def test_metrics_endpoint_serves_the_registry(m: Metrics) -> None:
    with TestClient(_app(m)) as client:
        client.get("/api/v1/jobs/a")
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert (
            'orfeas_http_requests_total{method="GET",route="/api/v1/jobs/{job_id}",status="200"} 1.0'
            in response.text
        )
        compressed = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
        assert compressed.headers.get("content-encoding") == "gzip"
        assert b"orfeas_build_info" in (
            compressed.content if compressed.content.startswith(b"#") else gzip.decompress(compressed.content)
        )
    # The scrape itself is a request like any other.
    assert value(m, "orfeas_http_requests_total", route="/metrics", method="GET", status="200") >= 1


@pytest.mark.unit
def test_without_the_middleware_nothing_is_recorded(m: Metrics) -> None:
    with TestClient(_app(m, enabled=False)) as client:
        client.get("/api/v1/jobs/a")
    assert (
        value(m, "orfeas_http_requests_total", route="/api/v1/jobs/{job_id}", method="GET", status="200")
        is None
    )


@pytest.mark.unit
def test_websocket_and_lifespan_pass_through(m: Metrics) -> None:
    app = _app(m)

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text("hi")
        await socket.close()

    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        assert socket.receive_text() == "hi"
    assert value(m, "orfeas_http_requests_total", route="/ws", method="GET", status="101") is None


@pytest.mark.unit
def test_service_metrics_from_settings(settings) -> None:
    from orfeas.jobs.observe import service_metrics

    m = service_metrics(settings, api_vocabulary())
    assert value(m, "orfeas_engine_available", engine="relief") == 1
    assert value(m, "orfeas_worker_slots") == settings.workers
    assert value(m, "orfeas_job_queue_capacity") == settings.queue_size
    assert value(m, "orfeas_data_disk_total_bytes") > 0


# --- the job layer's events -----------------------------------------------------------------------
@pytest.mark.integration
def test_a_real_worker_pool_is_recorded(tmp_path: Path, disc_png: bytes) -> None:
    """Events from orfeas.jobs' WorkerPool become generation, business and queue metrics."""
    from orfeas.jobs.observe import recorders
    from orfeas.jobs.store import JobStore
    from orfeas.jobs.worker import WorkerPool
    from orfeas.settings import Settings

    settings = Settings(data_dir=tmp_path, workers=1, queue_size=4, worker_mode="thread")
    store = JobStore(tmp_path)
    pool = WorkerPool(store, settings, mode="thread")
    m = new_metrics(tmp_path, lambda: [])
    m.set_capacity(workers=1, queue_size=4)
    m.track_job_counts(queued=lambda: pool.waiting, running=lambda: pool.running)
    for listener in recorders(m):
        pool.add_listener(listener)
    pool.start()
    try:
        assert pool.wait_ready(30)
        jobs = [
            pool.submit(make_job(params={}, formats=("stl",)), png)
            for png in (disc_png, b"not an image at all")
        ]
        assert value(m, "orfeas_jobs_queued") + value(m, "orfeas_jobs_active") >= 1
        deadline = time.monotonic() + 120
        while not all(store.get(job.id).finished for job in jobs):
            assert time.monotonic() < deadline, "jobs did not finish"
            time.sleep(0.05)
    finally:
        pool.stop()
        store.close()
    assert value(m, "orfeas_jobs_submitted_total", kind="image") == 2
    assert value(m, "orfeas_jobs_succeeded_total") == 1
    assert value(m, "orfeas_jobs_failed_total", reason="invalid_input") == 1
    assert value(m, "orfeas_errors_total", type="generation") == 0, "bad input is not a server error"
    assert value(m, "orfeas_generations_total", engine="relief", kind="image", outcome="succeeded") == 1
    assert value(m, "orfeas_generations_total", engine="relief", kind="image", outcome="failed") == 1
    assert value(m, "orfeas_generation_quality_score_count", engine="relief") == 1
    assert value(m, "orfeas_generation_mesh_faces_count", engine="relief") == 1
    assert value(m, "orfeas_generation_stage_duration_seconds_count", engine="relief", stage="mesh") == 1
    assert value(m, "orfeas_job_queue_wait_seconds_count") == 2
    assert value(m, "orfeas_job_turnaround_seconds_count", state="succeeded") == 1
    assert (value(m, "orfeas_jobs_queued"), value(m, "orfeas_jobs_active")) == (0, 0)
    assert value(m, "orfeas_worker_slots") == 1 and value(m, "orfeas_job_queue_capacity") == 4


@pytest.mark.unit
def test_fast_exposition_equals_prometheus_clients(tmp_path: Path) -> None:
    """The request families are rendered by hand; family by family they match generate_latest."""
    m = exercise(new_metrics(tmp_path, fake_gpu))
    for route, method, status, seconds in (
        ("/a/{x}", "GET", 200, 0.0001),
        ("/a/{x}", "GET", 200, 61.0),
        ('/we"ird\\route', "POST", 422, 5.0),
        ("unmatched", "other", 404, 0.5),
    ):
        m.observe_request(route, method, status, seconds, 1_234_567, 10)
    for _ in range(1_200_000 // 100_000):
        m.requests.observe("/big", "GET", "200", 0.01, 0, 0)  # counts that format as exponents

    def by_family(text: str) -> dict[str, list[str]]:
        blocks: dict[str, list[str]] = {}
        current = ""
        for line in text.splitlines():
            if line.startswith("# HELP "):
                current = line.split()[2]
            blocks.setdefault(current, []).append(line)
        return {name: sorted(lines) for name, lines in blocks.items()}

    fast = by_family(m.exposition().decode())
    reference = by_family(prometheus_client.generate_latest(m.registry).decode())
    assert set(fast) == set(reference)
    hand_rendered = {name for name in fast if name.startswith("orfeas_http_")}
    assert len(hand_rendered) == 5
    for name in hand_rendered:  # the system families change between two reads; these do not
        assert fast[name] == reference[name], name


@pytest.mark.unit
def test_connect_to_the_service_hooks(m: Metrics) -> None:
    from orfeas.api.hooks import Hooks
    from orfeas.api.observability import connect

    hooks = Hooks()
    connect(m, hooks)
    hooks.rejected(429, "rate_limited", "/api/v1/jobs")
    hooks.rejected(429, "rate_limited", "/api/v1/jobs/abc")
    hooks.rejected(503, "queue_full", "/api/v1/jobs")
    hooks.rejected(401, "unauthorized", "/api/v1/jobs")
    hooks.rejected(415, "unsupported_type", "/api/v1/jobs")
    hooks.rejected(413, "too_large", "/api/v1/jobs")
    hooks.rejected(422, "invalid_parameter", "/api/v1/jobs")
    hooks.rejected(404, "not_found", "/api/v1/jobs/abc")
    hooks.uploaded("jpeg", 12_345)
    hooks.uploaded("text", 5)
    hooks.downloaded("glb", 999)
    assert value(m, "orfeas_rate_limited_total", scope="submissions") == 1
    assert value(m, "orfeas_rate_limited_total", scope="requests") == 1
    assert value(m, "orfeas_queue_full_rejections_total") == 1
    assert value(m, "orfeas_auth_failures_total", reason="unauthorized") == 1
    for reason in ("unsupported_type", "too_large", "invalid_parameter"):
        assert value(m, "orfeas_validation_errors_total", reason=reason) == 1
    assert value(m, "orfeas_validation_errors_total", reason="other") == 0, "a 404 is not a validation error"
    assert value(m, "orfeas_uploads_total", type="jpeg") == 1
    assert sum(value(m, "orfeas_uploads_total", type=t) for t in m.vocabulary.upload_types) == 1
    assert value(m, "orfeas_downloads_total", format="glb") == 1
    assert value(m, "orfeas_download_bytes_total", format="glb") == 999


@pytest.mark.unit
def test_job_gauges_read_at_scrape_time(m: Metrics) -> None:
    counts = {"queued": 3, "running": 2}

    def not_started() -> int:
        raise RuntimeError("the service is not started")

    m.track_job_counts(queued=lambda: counts["queued"], running=lambda: counts["running"])
    assert (value(m, "orfeas_jobs_queued"), value(m, "orfeas_jobs_active")) == (3, 2)
    counts["queued"] = 0
    assert value(m, "orfeas_jobs_queued") == 0
    m.track_job_counts(queued=not_started, running=not_started)
    assert (value(m, "orfeas_jobs_queued"), value(m, "orfeas_jobs_active")) == (0, 0)


# --- wired into the service -------------------------------------------------------------------------
@pytest.mark.integration
def test_install_into_the_service(tmp_path: Path, disc_png: bytes) -> None:
    """``install`` on a real ``create_app``: requests, jobs, streams, rejections all recorded."""
    from orfeas.api import create_app
    from orfeas.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, workers=1, worker_mode="thread"))
    m = app.state.metrics  # create_app installs it
    assert isinstance(m, Metrics) and app.state.hooks.job, "job events go to the recorders"
    with TestClient(app) as client:
        submitted = client.post(
            "/api/v1/jobs", files={"image": ("d.png", disc_png, "image/png")}, data={"formats": "stl"}
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
            for _ in stream.iter_lines():
                assert value(m, "orfeas_event_streams_active") == 1
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        assert job["state"] == "succeeded", job
        assert client.get(job["artifacts"][0]["url"]).status_code == 200
        assert (
            client.post("/api/v1/jobs", files={"image": ("x.png", b"garbage", "image/png")}).status_code
            == 415
        )
        assert client.get("/api/v1/jobs/0123456789abcdef0123456789abcdef").status_code == 404
        page = client.get("/metrics")
    assert page.status_code == 200
    route = "/api/v1/jobs/{job_id}"
    assert value(m, "orfeas_http_requests_total", route=route, method="GET", status="200") == 1
    assert value(m, "orfeas_http_requests_total", route=route, method="GET", status="404") == 1
    assert value(m, "orfeas_http_requests_total", route="/api/v1/jobs", method="POST", status="415") == 1
    assert value(m, "orfeas_event_streams_active") == 0
    assert value(m, "orfeas_validation_errors_total", reason="unsupported_type") == 1
    assert value(m, "orfeas_uploads_total", type="png") == 1
    assert value(m, "orfeas_generations_total", engine="relief", kind="image", outcome="succeeded") == 1
    assert value(m, "orfeas_jobs_succeeded_total") == 1
    assert value(m, "orfeas_downloads_total", format="stl") == 1
    assert value(m, "orfeas_engine_available", engine="relief") == 1
    assert (
        'orfeas_http_requests_total{method="GET",route="/api/v1/jobs/{job_id}",status="200"} 1.0' in page.text
    )


@pytest.mark.integration
def test_install_respects_metrics_enabled(tmp_path: Path) -> None:
    from orfeas.api import create_app
    from orfeas.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, workers=1, worker_mode="thread", metrics_enabled=False))
    assert app.state.metrics is None
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404
