"""Every Prometheus metric ORFEAS exports, defined in this one module.

A :class:`Metrics` object owns its own :class:`~prometheus_client.CollectorRegistry` (never the
global default one), so tests can build as many apps as they like. The service calls its small
typed methods; :class:`MetricsMiddleware` records HTTP traffic labelled by *route template*
(``/api/v1/jobs/{job_id}``), never by raw path; :meth:`Metrics.asgi_app` serves ``/metrics``.

Six families, all named ``orfeas_*`` with bounded label values (anything outside a fixed set
becomes ``"other"``):

- request: count, duration, request/response size, in-flight (also "concurrent requests");
- error: errors by type, validation errors by reason, rate-limit, queue-full and auth rejections;
- AI: generations by engine/kind/outcome, duration (total and per stage), quality score, faces,
  model loaded / load time, engine availability;
- system: process and host CPU, memory, data-directory disk, GPU through NVML — read at scrape
  time by :class:`SystemCollector`, GPU series are absent (not zero) without a GPU;
- performance: active/queued jobs, queue capacity, worker slots, queue wait, turnaround, open
  event streams;
- business: submissions, successes, failures by reason, cancellations, downloads by format,
  uploads by type and size; plus ``orfeas_build_info``.

Only the API process records. A worker in another process returns plain data (a
:class:`GenerationOutcome` pickles) and the parent calls :meth:`Metrics.record_outcome`.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prometheus_client
import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import Match

# `_created` series double the exposition (and the scrape time) and no query of ours reads them.
# The switch is process-wide in prometheus_client; ORFEAS owns its process, so it is set once here.
prometheus_client.disable_created_metrics()

OTHER = "other"
UNMATCHED = "unmatched"

# --- bounded label values ---------------------------------------------------------------------
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DEFAULT_ENGINES = ("relief", "hunyuan3d")
GENERATION_KINDS = ("image", "text")
GENERATION_OUTCOMES = ("succeeded", "failed", "cancelled")
#: Same names and order as ``orfeas.pipeline.STAGES`` (a test keeps them equal).
STAGES = ("decode", "mask", "height", "mesh", "simplify", "verify", "export")
JOB_STATES = ("succeeded", "failed", "cancelled")
#: Errors that are the server's concern (client mistakes are validation errors, not errors).
ERROR_TYPES = (
    "http_5xx",  # a 5xx response (recorded by the middleware)
    "unhandled_exception",  # an exception escaped the app (recorded by the middleware)
    "generation",  # a job failed for a server-side reason (recorded by record_failure)
    "storage",  # job store or artifact I/O failed
    "worker_lost",  # a worker process died under a job
    OTHER,
)
#: Why a request was refused as invalid: the ``InputRejected`` codes plus request-shape problems.
VALIDATION_REASONS = (
    "empty",
    "too_large",
    "too_many_pixels",
    "unsupported_type",
    "corrupt",
    "invalid_parameter",
    "no_subject",
    "unknown_engine",
    "engine_unavailable",
    "text_too_long",
    "invalid_request",  # FastAPI/pydantic request validation (missing field, bad JSON, ...)
    OTHER,
)
RATE_LIMIT_SCOPES = ("submissions", "requests")
AUTH_FAILURE_REASONS = ("missing", "invalid")
#: Failure reasons caused by the input: counted as failures, not as server errors.
INPUT_FAILURE_REASONS = (
    "empty",
    "too_large",
    "too_many_pixels",
    "unsupported_type",
    "corrupt",
    "invalid_parameter",
    "no_subject",
    "unknown_engine",
    "invalid_input",
)
#: Failure reasons that are the server's fault: each also counts as an ``errors_total{type="generation"}``.
SERVER_FAILURE_REASONS = (
    "engine_unavailable",
    "mesh_invalid",
    "gpu_oom",
    "timeout",
    "interrupted",
    "worker_lost",
    "internal",
    OTHER,
)
FAILURE_REASONS = INPUT_FAILURE_REASONS + SERVER_FAILURE_REASONS
#: Artifact formats (``orfeas.mesh.exchange.FORMATS``) plus ``png`` for the normalised input image.
DOWNLOAD_FORMATS = ("stl", "3mf", "obj", "glb", "ply", "png")
UPLOAD_TYPES = ("png", "jpeg", "webp", "gif", "bmp", "tiff", OTHER)
_UPLOAD_ALIASES = {"jpg": "jpeg", "tif": "tiff", "x-ms-bmp": "bmp"}
LOAD_WINDOWS = ("1m", "5m", "15m")

# --- histogram buckets (thresholds the alerts use are bucket edges: 5 s, 30 s, 600 s) ----------
REQUEST_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
GENERATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
QUALITY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
FACES_BUCKETS = (1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000)
MODEL_LOAD_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0)

#: Metric families that exist only when NVML reports a GPU (absent, not zero, otherwise).
GPU_METRICS = (
    "orfeas_gpu_utilization_ratio",
    "orfeas_gpu_memory_used_bytes",
    "orfeas_gpu_memory_total_bytes",
    "orfeas_gpu_temperature_celsius",
)


def _pick(value: str, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``, else ``"other"``: keeps every label set bounded."""
    return value if value in allowed else OTHER


def _status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else OTHER


def _upload_type(content_type: str) -> str:
    """``image/png``, ``png``, ``PNG``, ``image/jpg`` … → one of :data:`UPLOAD_TYPES`."""
    kind = content_type.split(";", 1)[0].strip().lower().rsplit("/", 1)[-1]
    return _pick(_UPLOAD_ALIASES.get(kind, kind), UPLOAD_TYPES)


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("orfeas")
    except Exception:  # not installed (running from a source tree)
        return "unknown"


# --- GPU through NVML ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GpuSample:
    """One GPU's readings; a field NVML could not read is ``None`` and its series is left out."""

    index: int
    name: str
    utilization_ratio: float | None = None
    memory_used_bytes: float | None = None
    memory_total_bytes: float | None = None
    temperature_celsius: float | None = None


GpuProbe = Callable[[], Sequence[GpuSample]]


class NvmlProbe:
    """Reads GPUs through NVML (``nvidia-ml-py``/``pynvml``) when it imports and finds a device.

    ``available`` is False without the package, the driver or a device; then it returns nothing.
    """

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[tuple[int, str, Any]] = []
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            for index in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                name = pynvml.nvmlDeviceGetName(handle)
                self._handles.append((index, name.decode() if isinstance(name, bytes) else str(name), handle))
            self._nvml = pynvml
        except Exception:  # ImportError, NVMLError (no driver / no device): no GPU series at all
            self._handles = []

    @property
    def available(self) -> bool:
        return self._nvml is not None and bool(self._handles)

    def __call__(self) -> list[GpuSample]:
        if not self.available:
            return []
        nvml = self._nvml
        samples = []
        for index, name, handle in self._handles:
            samples.append(
                GpuSample(
                    index=index,
                    name=name,
                    utilization_ratio=_try(
                        lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h).gpu / 100.0
                    ),
                    memory_used_bytes=_try(lambda h=handle: float(nvml.nvmlDeviceGetMemoryInfo(h).used)),
                    memory_total_bytes=_try(lambda h=handle: float(nvml.nvmlDeviceGetMemoryInfo(h).total)),
                    temperature_celsius=_try(
                        lambda h=handle: float(nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
                    ),
                )
            )
        return samples


def _try(read: Callable[[], float]) -> float | None:
    try:
        return read()
    except Exception:  # one unreadable sensor must not break the scrape
        return None


# --- system metrics, read at scrape time --------------------------------------------------------
class SystemCollector(Collector):
    """Process, host, data-disk and GPU readings taken when Prometheus scrapes, not by a thread."""

    def __init__(self, data_dir: Path | str, gpu_probe: GpuProbe | None = None) -> None:
        self._data_dir = Path(data_dir)
        self._process = psutil.Process(os.getpid())
        self._gpu_probe = gpu_probe

    def describe(self) -> Iterable[Metric]:
        return []  # names are fixed and prefixed; skip the registry's collect-at-register call

    def _disk_path(self) -> Path:
        # The data directory may not exist yet (first start): measure the disk it will live on.
        path = self._data_dir.resolve()
        while not path.exists() and path != path.parent:
            path = path.parent
        return path

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        proc = self._process
        with proc.oneshot():
            cpu = proc.cpu_times()
            mem = proc.memory_info()
            threads = proc.num_threads()
            fds = proc.num_fds() if hasattr(proc, "num_fds") else None
            created = proc.create_time()
        yield CounterMetricFamily(
            "orfeas_process_cpu_seconds",
            "CPU time used by the ORFEAS API process (user + system).",
            value=cpu.user + cpu.system,
        )
        yield GaugeMetricFamily(
            "orfeas_process_resident_memory_bytes",
            "Resident memory of the ORFEAS API process.",
            value=mem.rss,
        )
        yield GaugeMetricFamily(
            "orfeas_process_virtual_memory_bytes", "Virtual memory of the ORFEAS API process.", value=mem.vms
        )
        yield GaugeMetricFamily("orfeas_process_threads", "Threads of the ORFEAS API process.", value=threads)
        if fds is not None:
            yield GaugeMetricFamily(
                "orfeas_process_open_fds", "Open file descriptors of the ORFEAS API process.", value=fds
            )
        yield GaugeMetricFamily(
            "orfeas_process_start_time_seconds",
            "Start time of the ORFEAS API process (Unix seconds).",
            value=created,
        )

        host_cpu = CounterMetricFamily(
            "orfeas_host_cpu_seconds",
            "CPU time of the whole host, all CPUs summed, by mode.",
            labels=["mode"],
        )
        for mode, seconds in psutil.cpu_times()._asdict().items():
            host_cpu.add_metric([mode], seconds)
        yield host_cpu
        yield GaugeMetricFamily(
            "orfeas_host_logical_cpus", "Logical CPUs of the host.", value=psutil.cpu_count() or 1
        )
        load = GaugeMetricFamily(
            "orfeas_host_load_average", "Host load average over a window.", labels=["window"]
        )
        for window, value in zip(LOAD_WINDOWS, psutil.getloadavg(), strict=True):
            load.add_metric([window], value)
        yield load
        vm = psutil.virtual_memory()
        yield GaugeMetricFamily(
            "orfeas_host_memory_total_bytes", "Physical memory of the host.", value=vm.total
        )
        yield GaugeMetricFamily(
            "orfeas_host_memory_available_bytes",
            "Memory the host can give to programs without swapping.",
            value=vm.available,
        )
        disk = psutil.disk_usage(str(self._disk_path()))
        yield GaugeMetricFamily(
            "orfeas_data_disk_free_bytes",
            "Free bytes (for unprivileged users) on the file system holding the data directory.",
            value=disk.free,
        )
        yield GaugeMetricFamily(
            "orfeas_data_disk_total_bytes",
            "Size of the file system holding the data directory.",
            value=disk.total,
        )
        yield from self._gpu_families()
        yield GaugeMetricFamily(
            "orfeas_system_collector_duration_seconds",
            "Time this scrape spent reading process, host, disk and GPU figures.",
            value=time.perf_counter() - started,
        )

    def _gpu_families(self) -> Iterator[Metric]:
        samples = self._gpu_probe() if self._gpu_probe is not None else []
        if not samples:
            return
        specs = (
            ("orfeas_gpu_utilization_ratio", "Share of time the GPU was busy (0..1).", "utilization_ratio"),
            ("orfeas_gpu_memory_used_bytes", "GPU memory in use.", "memory_used_bytes"),
            ("orfeas_gpu_memory_total_bytes", "GPU memory installed.", "memory_total_bytes"),
            ("orfeas_gpu_temperature_celsius", "GPU core temperature.", "temperature_celsius"),
        )
        for name, help_text, attr in specs:
            family = GaugeMetricFamily(name, help_text, labels=["gpu", "name"])
            for sample in samples:
                value = getattr(sample, attr)
                if value is not None:
                    family.add_metric([str(sample.index), sample.name], value)
            if family.samples:
                yield family


# --- what a worker reports back -----------------------------------------------------------------
@dataclass(frozen=True)
class GenerationOutcome:
    """One generation attempt, as plain picklable data a worker process can send to the parent."""

    engine: str
    kind: str
    outcome: str
    stage_timings: Mapping[str, float] = field(default_factory=dict)
    quality_score: float | None = None
    faces: int | None = None
    duration_s: float | None = None


# --- the metrics ----------------------------------------------------------------------------------
class Metrics:
    """Owns a registry with every ORFEAS metric and the typed calls that record them.

    ``data_dir`` is the directory whose disk is reported; ``engines`` the known engine names (any
    other name is labelled ``"other"``); ``gpu_probe`` defaults to :class:`NvmlProbe`.
    """

    def __init__(
        self,
        *,
        data_dir: Path | str = ".",
        engines: Iterable[str] = DEFAULT_ENGINES,
        version: str | None = None,
        gpu_probe: GpuProbe | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.engines = frozenset(engines)
        reg = self.registry

        # request
        self.http_requests = Counter(
            "orfeas_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=reg,
        )
        self.http_duration = Histogram(
            "orfeas_http_request_duration_seconds",
            "Time from receiving a request to the end of its response (streams: the whole stream).",
            ["route", "method"],
            buckets=REQUEST_DURATION_BUCKETS,
            registry=reg,
        )
        self.http_request_size = Histogram(
            "orfeas_http_request_size_bytes",
            "Size of request bodies.",
            ["route", "method"],
            buckets=SIZE_BUCKETS,
            registry=reg,
        )
        self.http_response_size = Histogram(
            "orfeas_http_response_size_bytes",
            "Size of response bodies.",
            ["route", "method"],
            buckets=SIZE_BUCKETS,
            registry=reg,
        )
        self.http_in_flight = Gauge(
            "orfeas_http_requests_in_flight",
            "HTTP requests being handled right now (concurrent requests).",
            registry=reg,
        )

        # error
        self.errors = Counter(
            "orfeas_errors",
            "Server-side errors by type (client mistakes are validation errors).",
            ["type"],
            registry=reg,
        )
        self.validation_errors = Counter(
            "orfeas_validation_errors", "Requests refused as invalid, by reason.", ["reason"], registry=reg
        )
        self.rate_limited = Counter(
            "orfeas_rate_limited",
            "Requests refused with 429 by a per-client rate limit, by limit.",
            ["scope"],
            registry=reg,
        )
        self.queue_full = Counter(
            "orfeas_queue_full_rejections",
            "Job submissions refused with 503 because the queue was full.",
            registry=reg,
        )
        self.auth_failures = Counter(
            "orfeas_auth_failures",
            "Requests refused for a missing or invalid API key.",
            ["reason"],
            registry=reg,
        )

        # AI
        self.generations = Counter(
            "orfeas_generations",
            "Generation attempts by engine, input kind and outcome.",
            ["engine", "kind", "outcome"],
            registry=reg,
        )
        self.generation_duration = Histogram(
            "orfeas_generation_duration_seconds",
            "Wall time of a generation attempt, all stages.",
            ["engine", "kind"],
            buckets=GENERATION_BUCKETS,
            registry=reg,
        )
        self.stage_duration = Histogram(
            "orfeas_generation_stage_duration_seconds",
            "Wall time of one pipeline stage.",
            ["engine", "stage"],
            buckets=STAGE_BUCKETS,
            registry=reg,
        )
        self.quality = Histogram(
            "orfeas_generation_quality_score",
            "Quality score (0..1) of finished models.",
            ["engine"],
            buckets=QUALITY_BUCKETS,
            registry=reg,
        )
        self.faces = Histogram(
            "orfeas_generation_mesh_faces",
            "Triangle count of finished models.",
            ["engine"],
            buckets=FACES_BUCKETS,
            registry=reg,
        )
        self.model_loaded = Gauge(
            "orfeas_model_loaded",
            "1 when the engine's model weights are loaded in memory, else 0.",
            ["engine"],
            registry=reg,
        )
        self.model_load = Histogram(
            "orfeas_model_load_duration_seconds",
            "Time taken to load an engine's model weights.",
            ["engine"],
            buckets=MODEL_LOAD_BUCKETS,
            registry=reg,
        )
        self.engine_available = Gauge(
            "orfeas_engine_available",
            "1 when the engine can run on this host, else 0.",
            ["engine"],
            registry=reg,
        )

        # performance
        self.jobs_active = Gauge("orfeas_jobs_active", "Jobs running right now.", registry=reg)
        self.jobs_queued = Gauge("orfeas_jobs_queued", "Jobs waiting for a worker.", registry=reg)
        self.queue_capacity = Gauge(
            "orfeas_job_queue_capacity", "Jobs that may wait before submissions get 503.", registry=reg
        )
        self.worker_slots = Gauge("orfeas_worker_slots", "Jobs that may run at the same time.", registry=reg)
        self.queue_wait = Histogram(
            "orfeas_job_queue_wait_seconds",
            "Time a job waited in the queue before a worker took it.",
            buckets=QUEUE_WAIT_BUCKETS,
            registry=reg,
        )
        self.turnaround = Histogram(
            "orfeas_job_turnaround_seconds",
            "Time from submission to a terminal state.",
            ["state"],
            buckets=GENERATION_BUCKETS,
            registry=reg,
        )
        self.event_streams = Gauge(
            "orfeas_event_streams_active", "Server-sent event streams open right now.", registry=reg
        )

        # business
        self.jobs_submitted = Counter(
            "orfeas_jobs_submitted", "Jobs accepted, by input kind.", ["kind"], registry=reg
        )
        self.jobs_succeeded = Counter("orfeas_jobs_succeeded", "Jobs that produced a model.", registry=reg)
        self.jobs_failed = Counter(
            "orfeas_jobs_failed", "Jobs that failed, by reason.", ["reason"], registry=reg
        )
        self.jobs_cancelled = Counter("orfeas_jobs_cancelled", "Jobs cancelled by a user.", registry=reg)
        self.downloads = Counter(
            "orfeas_downloads", "Artifact downloads by format.", ["format"], registry=reg
        )
        self.download_bytes = Counter(
            "orfeas_download_bytes", "Bytes of artifacts served, by format.", ["format"], registry=reg
        )
        self.uploads = Counter(
            "orfeas_uploads", "Image uploads accepted, by sniffed type.", ["type"], registry=reg
        )
        self.upload_size = Histogram(
            "orfeas_upload_size_bytes", "Size of accepted image uploads.", buckets=SIZE_BUCKETS, registry=reg
        )

        # build info
        Info("orfeas_build", "Version of ORFEAS and of the Python running it.", registry=reg).info(
            {
                "version": version or _package_version(),
                "python_version": platform.python_version(),
            }
        )

        # system (scrape time)
        self.system = SystemCollector(data_dir, gpu_probe if gpu_probe is not None else NvmlProbe())
        reg.register(self.system)

        self._initialise_known_series()
        # The middleware's hot path: label-resolved children cached per key (labels() takes a lock).
        self._request_children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._count_children: dict[tuple[str, str, str], Any] = {}

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Metrics:
        """Metrics for a service configured by ``settings`` (an :class:`orfeas.settings.Settings`)."""
        metrics = cls(data_dir=settings.data_dir, **kwargs)
        metrics.set_capacity(workers=settings.workers, queue_size=settings.queue_size)
        return metrics

    def _initialise_known_series(self) -> None:
        # Series with a known, small label set exist from the start at 0, so rate() and the alerts
        # see a real zero rather than "no data".
        for error_type in ERROR_TYPES:
            self.errors.labels(error_type)
        for reason in VALIDATION_REASONS:
            self.validation_errors.labels(reason)
        for scope in RATE_LIMIT_SCOPES:
            self.rate_limited.labels(scope)
        for reason in AUTH_FAILURE_REASONS:
            self.auth_failures.labels(reason)
        for reason in FAILURE_REASONS:
            self.jobs_failed.labels(reason)
        for kind in GENERATION_KINDS:
            self.jobs_submitted.labels(kind)
        for fmt in DOWNLOAD_FORMATS:
            self.downloads.labels(fmt)
            self.download_bytes.labels(fmt)
        for upload_type in UPLOAD_TYPES:
            self.uploads.labels(upload_type)
        for engine in sorted(self.engines):
            for kind in GENERATION_KINDS:
                for outcome in GENERATION_OUTCOMES:
                    self.generations.labels(engine, kind, outcome)
            self.model_loaded.labels(engine)

    # --- serving -------------------------------------------------------------------------------
    def asgi_app(self) -> Callable[..., Any]:
        """The ``/metrics`` ASGI app (prometheus_client's, gzip when asked) for this registry."""
        return prometheus_client.make_asgi_app(self.registry)

    def exposition(self) -> bytes:
        """The current metrics in the Prometheus text format."""
        return prometheus_client.generate_latest(self.registry)

    def _engine(self, engine: str) -> str:
        return engine if engine in self.engines else OTHER

    # --- request family --------------------------------------------------------------------------
    def request_started(self) -> None:
        """A request came in (in-flight gauge up)."""
        self.http_in_flight.inc()

    def request_finished(self) -> None:
        """A request was answered (in-flight gauge down)."""
        self.http_in_flight.dec()

    def observe_request(
        self,
        route_template: str,
        method: str,
        status: int,
        duration_s: float,
        request_bytes: int = 0,
        response_bytes: int = 0,
    ) -> None:
        """Record one answered request (request family only; the middleware counts 5xx as errors).

        ``route_template`` must be a template such as ``/api/v1/jobs/{job_id}``, never a raw path.
        """
        method = method if method in METHODS else OTHER
        key = (route_template, method)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.http_duration.labels(route_template, method),
                self.http_request_size.labels(route_template, method),
                self.http_response_size.labels(route_template, method),
            )
            self._request_children[key] = children
        status_label = _status_label(status)
        count_key = (route_template, method, status_label)
        counter = self._count_children.get(count_key)
        if counter is None:
            counter = self._count_children[count_key] = self.http_requests.labels(*count_key)
        counter.inc()
        children[0].observe(duration_s)
        children[1].observe(request_bytes)
        children[2].observe(response_bytes)

    # --- error family ---------------------------------------------------------------------------
    def record_error(self, error_type: str) -> None:
        """A server-side error of one of :data:`ERROR_TYPES` (e.g. ``"storage"``)."""
        self.errors.labels(_pick(error_type, ERROR_TYPES)).inc()

    def record_validation_error(self, reason: str) -> None:
        """A request refused as invalid; ``reason`` is an ``InputRejected`` code or ``invalid_request``."""
        self.validation_errors.labels(_pick(reason, VALIDATION_REASONS)).inc()

    def record_rate_limited(self, scope: str) -> None:
        """A 429: ``scope`` is ``"submissions"`` or ``"requests"``."""
        self.rate_limited.labels(_pick(scope, RATE_LIMIT_SCOPES)).inc()

    def record_queue_full(self) -> None:
        """A submission answered 503 because the job queue was full."""
        self.queue_full.inc()

    def record_auth_failure(self, reason: str) -> None:
        """A 401/403 for an API key that was ``"missing"`` or ``"invalid"``."""
        self.auth_failures.labels(_pick(reason, AUTH_FAILURE_REASONS)).inc()

    # --- AI family ------------------------------------------------------------------------------
    def record_generation(
        self,
        engine: str,
        kind: str,
        outcome: str,
        stage_timings: Mapping[str, float] | None = None,
        quality_score: float | None = None,
        faces: int | None = None,
        duration_s: float | None = None,
    ) -> None:
        """One generation attempt ended with ``outcome`` (succeeded, failed or cancelled).

        ``stage_timings`` maps pipeline stage → seconds (``Model.timings``); ``duration_s`` defaults
        to their sum. Quality and faces are recorded for successful attempts only.
        """
        engine = self._engine(engine)
        kind = _pick(kind, GENERATION_KINDS)
        outcome = _pick(outcome, GENERATION_OUTCOMES)
        timings = stage_timings or {}
        self.generations.labels(engine, kind, outcome).inc()
        for stage, seconds in timings.items():
            self.stage_duration.labels(engine, _pick(stage, STAGES)).observe(seconds)
        total = duration_s if duration_s is not None else sum(timings.values())
        if duration_s is not None or timings:
            self.generation_duration.labels(engine, kind).observe(total)
        if outcome == "succeeded":
            if quality_score is not None:
                self.quality.labels(engine).observe(quality_score)
            if faces is not None:
                self.faces.labels(engine).observe(faces)

    def record_outcome(self, outcome: GenerationOutcome) -> None:
        """:meth:`record_generation` for an outcome a worker (maybe another process) sent back."""
        self.record_generation(
            outcome.engine,
            outcome.kind,
            outcome.outcome,
            outcome.stage_timings,
            outcome.quality_score,
            outcome.faces,
            outcome.duration_s,
        )

    def set_model_loaded(self, engine: str, loaded: bool) -> None:
        """Whether ``engine``'s weights are in memory now."""
        self.model_loaded.labels(self._engine(engine)).set(1 if loaded else 0)

    def observe_model_load(self, engine: str, seconds: float) -> None:
        """Loading ``engine``'s weights took ``seconds``; also marks the model as loaded."""
        self.model_load.labels(self._engine(engine)).observe(seconds)
        self.set_model_loaded(engine, True)

    def set_engine_available(self, engine: str, available: bool) -> None:
        """Whether ``engine`` can run on this host (from ``engine.availability()``)."""
        self.engine_available.labels(self._engine(engine)).set(1 if available else 0)

    # --- performance family -----------------------------------------------------------------------
    def set_capacity(self, *, workers: int, queue_size: int) -> None:
        """The configured worker slots and queue length (for saturation panels and alerts)."""
        self.worker_slots.set(workers)
        self.queue_capacity.set(queue_size)

    def set_job_counts(self, *, queued: int, running: int) -> None:
        """Reset the job gauges from the store (at start-up, after recovering interrupted jobs)."""
        self.jobs_queued.set(queued)
        self.jobs_active.set(running)

    def job_queued(self, kind: str = "image") -> None:
        """A job was accepted and queued (``kind``: image or text)."""
        self.jobs_submitted.labels(_pick(kind, GENERATION_KINDS)).inc()
        self.jobs_queued.inc()

    def job_started(self, queue_wait_s: float | None = None) -> None:
        """A worker took a queued job; ``queue_wait_s`` is how long it waited."""
        self.jobs_queued.dec()
        self.jobs_active.inc()
        if queue_wait_s is not None:
            self.queue_wait.observe(queue_wait_s)

    def queue_wait_observed(self, seconds: float) -> None:
        """A queue wait measured elsewhere (when not passed to :meth:`job_started`)."""
        self.queue_wait.observe(seconds)

    def job_finished(
        self,
        state: str,
        reason: str | None = None,
        *,
        started: bool = True,
        turnaround_s: float | None = None,
    ) -> None:
        """A job reached ``state`` (succeeded, failed, cancelled).

        ``started`` is False for a job that ended while still queued (cancelled, or failed at
        recovery). Records the business outcome too: a failure counts by ``reason``.
        """
        if started:
            self.jobs_active.dec()
        else:
            self.jobs_queued.dec()
        state = _pick(state, JOB_STATES)
        if state == "succeeded":
            self.jobs_succeeded.inc()
        elif state == "failed":
            self.record_failure(reason or OTHER)
        elif state == "cancelled":
            self.jobs_cancelled.inc()
        if turnaround_s is not None:
            self.turnaround.labels(state).observe(turnaround_s)

    def stream_opened(self) -> None:
        """A server-sent events stream started."""
        self.event_streams.inc()

    def stream_closed(self) -> None:
        """A server-sent events stream ended."""
        self.event_streams.dec()

    # --- business family --------------------------------------------------------------------------
    def record_failure(self, reason: str) -> None:
        """A job failed for ``reason``; a server-side reason also counts as a ``generation`` error.

        :meth:`job_finished` calls this; call it directly only for a failure outside that path.
        """
        reason = _pick(reason, FAILURE_REASONS)
        self.jobs_failed.labels(reason).inc()
        if reason in SERVER_FAILURE_REASONS:
            self.errors.labels("generation").inc()

    def record_download(self, fmt: str, size_bytes: int | None = None) -> None:
        """An artifact was downloaded (``fmt``: stl, 3mf, obj, glb, ply, png for the input)."""
        fmt = _pick(fmt.lower(), DOWNLOAD_FORMATS)
        self.downloads.labels(fmt).inc()
        if size_bytes is not None:
            self.download_bytes.labels(fmt).inc(size_bytes)

    def record_upload(self, content_type: str, size_bytes: int | None = None) -> None:
        """An image upload was accepted; ``content_type`` is the sniffed type (``png`` or ``image/png``)."""
        self.uploads.labels(_upload_type(content_type)).inc()
        if size_bytes is not None:
            self.upload_size.observe(size_bytes)


# --- the middleware -------------------------------------------------------------------------------
def route_template(scope: Mapping[str, Any]) -> str:
    """The template of the route that handled (or would handle) this request, else ``"unmatched"``.

    Starlette's router stores the matched route in ``scope["route"]``. When something answered
    before routing (a rate limiter, an auth check), the app's routes are matched here instead.
    """
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        router = getattr(app, "router", None)
        for candidate in getattr(router, "routes", ()):
            try:
                match, _ = candidate.matches(scope)
            except Exception:  # a route that cannot judge this scope does not label it
                continue
            if match is not Match.NONE:  # FULL, or PARTIAL (a 405 for another method)
                route = candidate
                break
    template = getattr(route, "path_format", None) if route is not None else None
    return template or UNMATCHED


class MetricsMiddleware:
    """Pure ASGI middleware recording request metrics by route template (add it outermost).

    Counts, duration, body sizes and in-flight for every HTTP request; a 5xx or an exception that
    escapes the app is also an error. ``BaseHTTPMiddleware`` is avoided on purpose: it is slow and
    breaks streaming.
    """

    def __init__(self, app: Callable[..., Any], metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        request_bytes = 0
        response_bytes = 0

        async def counting_receive() -> dict[str, Any]:
            nonlocal request_bytes
            message = await receive()
            if message["type"] == "http.request":
                request_bytes += len(message.get("body", b""))
            return message

        async def counting_send(message: dict[str, Any]) -> None:
            nonlocal status, response_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            await send(message)

        metrics.http_in_flight.inc()
        try:
            await self.app(scope, counting_receive, counting_send)
        except BaseException:
            metrics.errors.labels("unhandled_exception").inc()
            raise
        else:
            if status >= 500:
                metrics.errors.labels("http_5xx").inc()
        finally:
            metrics.http_in_flight.dec()
            if request_bytes == 0:
                request_bytes = _declared_length(scope)
            metrics.observe_request(
                route_template(scope),
                scope.get("method", "GET"),
                status,
                time.perf_counter() - started,
                request_bytes,
                response_bytes,
            )


def _declared_length(scope: Mapping[str, Any]) -> int:
    # A body the app refused without reading (413) still has a declared size worth recording.
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return max(int(value), 0)
            except ValueError:
                return 0
    return 0


__all__ = [
    "DEFAULT_ENGINES",
    "GPU_METRICS",
    "UNMATCHED",
    "GenerationOutcome",
    "GpuProbe",
    "GpuSample",
    "Metrics",
    "MetricsMiddleware",
    "NvmlProbe",
    "SystemCollector",
    "route_template",
]
