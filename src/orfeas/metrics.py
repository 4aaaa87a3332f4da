"""Every Prometheus metric ORFEAS exports, defined in this one module.

A :class:`Metrics` object owns its own :class:`~prometheus_client.CollectorRegistry` (never the
global default one), so tests can build as many apps as they like. The service calls its small
typed methods; :class:`MetricsMiddleware` records HTTP traffic labelled by *route template*
(``/api/v1/jobs/{job_id}``), never by raw path; :meth:`Metrics.asgi_app` serves ``/metrics``.

Six families, all named ``orfeas_*`` with bounded label values (anything outside a fixed set
becomes ``"other"``):

- request: count, duration histogram, request/response size summaries, in-flight (also the
  "concurrent requests" of the performance family) — kept lock-free by :class:`RequestCollector`;
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
:class:`GenerationOutcome` pickles) and the parent calls :meth:`Metrics.record_outcome`; with
the local worker pool, :meth:`Metrics.instrument_pool` listens to its job events instead.
With queue=celery, each ``orfeas worker`` process records its own jobs the same way (its pool's
events) on its own ``/metrics`` port (:mod:`orfeas.jobs.distributed`); the API adds the broker's
queue depth (:meth:`Metrics.track_broker_depth`).
"""

from __future__ import annotations

import bisect
import gzip
import itertools
import os
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prometheus_client
import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.routing import Match

# `_created` series double the exposition (and the scrape time) and no query of ours reads them.
# The switch is process-wide in prometheus_client; ORFEAS owns its process, so it is set once here.
prometheus_client.disable_created_metrics()

OTHER = "other"
UNMATCHED = "unmatched"

# --- bounded label values ---------------------------------------------------------------------
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DEFAULT_ENGINES = ("relief", "hunyuan3d")
#: What a job starts from: a picture, a line of text, or a mesh brought for analysis or repair.
GENERATION_KINDS = ("image", "text", "model")
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
    "bad_request",
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
#: ``unauthorized``: the service said a key was refused without saying whether it was missing.
AUTH_FAILURE_REASONS = ("missing", "invalid", "unauthorized")
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
_NOT_IMAGES = frozenset({"text", "stl", "obj", "ply", "glb", "3mf"})
LOAD_WINDOWS = ("1m", "5m", "15m")

# --- histogram buckets (thresholds the alerts use are bucket edges: 5 s, 30 s, 600 s) ----------
REQUEST_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)  # uploads
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


def _or_zero(read: Callable[[], float]) -> float:
    try:
        return float(read())
    except Exception:  # e.g. the worker pool of a service that is not started: nothing runs
        return 0.0


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


# --- request metrics, kept lock-free on the event loop ------------------------------------------
_DURATION_LE = (*(floatToGoString(b) for b in REQUEST_DURATION_BUCKETS), "+Inf")


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _RouteStats:
    """Duration buckets and body sizes of one (route, method), with its label strings rendered once."""

    __slots__ = ("buckets", "duration_sum", "labels", "request_sum", "response_sum")

    def __init__(self, route: str, method: str) -> None:
        self.buckets = [0] * (len(REQUEST_DURATION_BUCKETS) + 1)  # per bucket, not cumulative
        self.duration_sum = 0.0
        self.request_sum = 0.0
        self.response_sum = 0.0
        self.labels = f'method="{_label_value(method)}",route="{_label_value(route)}"'


class BrokerCollector(Collector):
    """``orfeas_broker_queue_messages``: jobs waiting in the message broker (queue=celery), read at
    scrape time. No sample at all while the broker does not answer (never a NaN or a stale value)."""

    def __init__(self, read: Callable[[], int | None]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            depth = self._read()
        except Exception:
            depth = None
        if depth is not None:
            family = GaugeMetricFamily(
                "orfeas_broker_queue_messages",
                "Job messages waiting in the message broker's queue (queue=celery).",
            )
            family.add_metric([], float(depth))
            yield family


class RequestCollector(Collector):
    """The request family: requests, duration histogram, body-size summaries and in-flight.

    The middleware updates it on the event-loop thread for every request, so it uses plain
    Python numbers, not prometheus_client's locked values. Counts are derived from the buckets
    when collected, so a scrape never sees a count that disagrees with its buckets.
    """

    def __init__(self) -> None:
        self.in_flight = 0
        self._routes: dict[tuple[str, str], _RouteStats] = {}
        self._requests: dict[tuple[str, str, str], int] = {}
        self._prefixes: dict[tuple[str, str, str], str] = {}  # rendered sample-name-and-labels

    def describe(self) -> Iterable[Metric]:
        return []

    def observe(
        self,
        route: str,
        method: str,
        status: str,
        duration_s: float,
        request_bytes: float,
        response_bytes: float,
    ) -> None:
        """One answered request; the labels must already be bounded."""
        stats = self._routes.get((route, method))
        if stats is None:
            stats = self._routes[(route, method)] = _RouteStats(route, method)
        stats.buckets[bisect.bisect_left(REQUEST_DURATION_BUCKETS, duration_s)] += 1
        stats.duration_sum += duration_s
        stats.request_sum += request_bytes
        stats.response_sum += response_bytes
        key = (route, method, status)
        self._requests[key] = self._requests.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(_REQUESTS[0], _REQUESTS[1], labels=["method", "route", "status"])
        for (route, method, status), count in list(self._requests.items()):
            requests.add_metric([method, route, status], count)
        yield requests
        duration = HistogramMetricFamily(_DURATION[0], _DURATION[1], labels=["method", "route"])
        request_size = SummaryMetricFamily(_REQUEST_SIZE[0], _REQUEST_SIZE[1], labels=["method", "route"])
        response_size = SummaryMetricFamily(_RESPONSE_SIZE[0], _RESPONSE_SIZE[1], labels=["method", "route"])
        for (route, method), stats in list(self._routes.items()):
            cumulative = list(itertools.accumulate(stats.buckets))
            duration.add_metric(
                [method, route], list(zip(_DURATION_LE, cumulative, strict=True)), stats.duration_sum
            )
            request_size.add_metric([method, route], cumulative[-1], stats.request_sum)
            response_size.add_metric([method, route], cumulative[-1], stats.response_sum)
        yield duration
        yield request_size
        yield response_size
        yield GaugeMetricFamily(_IN_FLIGHT[0], _IN_FLIGHT[1], value=self.in_flight)

    def render(self) -> str:
        """The same families as :meth:`collect`, in the text format, from cached label strings."""
        out = [_header(_REQUESTS, "counter", "_total")]
        prefixes = self._prefixes
        for key, count in list(self._requests.items()):
            prefix = prefixes.get(key)
            if prefix is None:
                route, method, status = (_label_value(v) for v in key)
                prefix = prefixes[key] = (
                    f'orfeas_http_requests_total{{method="{method}",route="{route}",status="{status}"}} '
                )
            out.append(f"{prefix}{floatToGoString(count)}\n")
        routes = list(self._routes.values())
        out.append(_header(_DURATION, "histogram"))
        name = _DURATION[0]
        for stats in routes:
            labels, total = stats.labels, 0
            for le, n in zip(_DURATION_LE, stats.buckets, strict=True):
                total += n
                out.append(f'{name}_bucket{{le="{le}",{labels}}} {floatToGoString(total)}\n')
            out.append(f"{name}_count{{{labels}}} {floatToGoString(total)}\n")
            out.append(f"{name}_sum{{{labels}}} {floatToGoString(stats.duration_sum)}\n")
        for (name, help_text), attr in ((_REQUEST_SIZE, "request_sum"), (_RESPONSE_SIZE, "response_sum")):
            out.append(_header((name, help_text), "summary"))
            for stats in routes:
                out.append(f"{name}_count{{{stats.labels}}} {floatToGoString(sum(stats.buckets))}\n")
                out.append(f"{name}_sum{{{stats.labels}}} {floatToGoString(getattr(stats, attr))}\n")
        out.append(_header(_IN_FLIGHT, "gauge"))
        out.append(f"{_IN_FLIGHT[0]} {floatToGoString(self.in_flight)}\n")
        return "".join(out)


_REQUESTS = ("orfeas_http_requests", "HTTP requests answered, by route template, method and status code.")
_DURATION = (
    "orfeas_http_request_duration_seconds",
    "Time from receiving a request to the end of its response (streams: the whole stream).",
)
_REQUEST_SIZE = ("orfeas_http_request_size_bytes", "Size of request bodies.")
_RESPONSE_SIZE = ("orfeas_http_response_size_bytes", "Size of response bodies.")
_IN_FLIGHT = (
    "orfeas_http_requests_in_flight",
    "HTTP requests being handled right now (concurrent requests).",
)


def _header(spec: tuple[str, str], kind: str, suffix: str = "") -> str:
    name = spec[0] + suffix
    return f"# HELP {name} {spec[1]}\n# TYPE {name} {kind}\n"


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
        # Two registries: ``_core`` holds every prometheus_client metric and the system collector;
        # ``registry`` (what tests and callers read) is ``_core`` plus the request collector, which
        # exposition() renders by itself because it is fast at that.
        self._core = CollectorRegistry(auto_describe=False)
        self.registry = CollectorRegistry(auto_describe=False)
        self.engines = frozenset(engines)
        reg = self._core

        # request: kept by RequestCollector (the middleware's hot path), exported at scrape time
        self.requests = RequestCollector()
        self.registry.register(self._core)
        self.registry.register(self.requests)

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

        # result cache
        self.cache_hits = Counter(
            "orfeas_cache_hits",
            "Submissions answered from the result cache, without generating.",
            registry=reg,
        )
        self.cache_misses = Counter(
            "orfeas_cache_misses", "Cacheable submissions that had to be generated.", registry=reg
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

        self._broker: BrokerCollector | None = None  # queue=celery only: track_broker_depth()
        self._initialise_known_series()

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
    def asgi_app(self) -> MetricsApp:
        """The ``/metrics`` ASGI app (prometheus_client's, gzip when asked) for this registry.

        Serve it with ``app.add_route("/metrics", metrics.asgi_app(), include_in_schema=False)``.
        """
        return MetricsApp(self)

    def exposition(self) -> bytes:
        """The current metrics in the Prometheus text format (0.0.4).

        Equal, family by family, to ``prometheus_client.generate_latest(self.registry)``, but the
        request families (most of the samples) come from :meth:`RequestCollector.render`, which
        caches their label strings: a scrape after 1,000 jobs stays near a millisecond or two.
        """
        return prometheus_client.generate_latest(self._core) + self.requests.render().encode()

    def _engine(self, engine: str) -> str:
        return engine if engine in self.engines else OTHER

    # --- request family --------------------------------------------------------------------------
    def request_started(self) -> None:
        """A request came in (in-flight gauge up). Event-loop thread only, like the middleware."""
        self.requests.in_flight += 1

    def request_finished(self) -> None:
        """A request was answered (in-flight gauge down). Event-loop thread only."""
        self.requests.in_flight -= 1

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
        Call it from the event-loop thread (the middleware does): the request figures are kept
        without locks, which is what makes them cheap.
        """
        self.requests.observe(
            route_template,
            method if method in METHODS else OTHER,
            _status_label(status),
            duration_s,
            request_bytes,
            response_bytes,
        )

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
        """Whether ``engine`` can run on this host (from ``engine.availability(settings)``)."""
        self.engine_available.labels(self._engine(engine)).set(1 if available else 0)

    # --- performance family -----------------------------------------------------------------------
    def set_capacity(self, *, workers: int, queue_size: int) -> None:
        """The configured worker slots and queue length (for saturation panels and alerts)."""
        self.worker_slots.set(workers)
        self.queue_capacity.set(queue_size)

    def set_job_counts(self, *, queued: int, running: int) -> None:
        """Set the job gauges (e.g. from the store at start-up, after recovery)."""
        self.jobs_queued.set(queued)
        self.jobs_active.set(running)

    def track_job_counts(self, *, queued: Callable[[], int], running: Callable[[], int]) -> None:
        """Read the job gauges from these callables at scrape time (exact, never drifting).

        After this, the gauge changes made by :meth:`job_queued` and friends no longer show. A
        callable that raises (the pool is not started yet, or stopped) reads as 0.
        """
        self.jobs_queued.set_function(lambda: _or_zero(queued))
        self.jobs_active.set_function(lambda: _or_zero(running))

    def track_broker_depth(self, read: Callable[[], int | None]) -> None:
        """Export the broker's queue depth, ``read()`` at scrape time (``None``: no sample).

        Only a Celery-queued service calls this; with the embedded queue the family is absent.
        """
        if self._broker is None:
            self._broker = BrokerCollector(read)
            self._core.register(self._broker)

    def job_queued(self, kind: str = "image") -> None:
        """A job was accepted and queued (``kind``: image or text)."""
        self.jobs_submitted.labels(_pick(kind, GENERATION_KINDS)).inc()
        self.jobs_queued.inc()

    def job_started(self, queue_wait_s: float | None = None) -> None:
        """A worker took a queued job; ``queue_wait_s`` is how long it waited."""
        self.jobs_queued.dec()
        self.jobs_active.inc()
        if queue_wait_s is not None:
            self.queue_wait.observe(max(0.0, queue_wait_s))

    def queue_wait_observed(self, seconds: float) -> None:
        """A queue wait measured elsewhere (when not passed to :meth:`job_started`)."""
        self.queue_wait.observe(max(0.0, seconds))

    def job_finished(
        self,
        state: str,
        reason: str | None = None,
        *,
        started: bool | None = True,
        turnaround_s: float | None = None,
    ) -> None:
        """A job reached ``state`` (succeeded, failed, cancelled); a failure counts by ``reason``.

        ``started``: True for a running job, False for one that ended while queued, None for one
        this process never counted in the gauges (e.g. failed during crash recovery).
        """
        if started is True:
            self.jobs_active.dec()
        elif started is False:
            self.jobs_queued.dec()
        state = _pick(state, JOB_STATES)
        if state == "succeeded":
            self.jobs_succeeded.inc()
        elif state == "failed":
            self.record_failure(reason or OTHER)
        elif state == "cancelled":
            self.jobs_cancelled.inc()
        if turnaround_s is not None:
            self.turnaround.labels(state).observe(max(0.0, turnaround_s))

    def connect(self, hooks: Any) -> JobEventRecorder:
        """Subscribe to the service's observation hooks (``orfeas.api.hooks.Hooks``).

        Job events feed a :class:`JobEventRecorder`; rejected requests become validation errors,
        rate-limit, queue-full or auth counts; uploads and downloads the business counters. Job
        gauges still need :meth:`track_job_counts` (the hooks cannot see re-queued jobs).
        """
        recorder = JobEventRecorder(self)
        hooks.on_job(recorder)
        hooks.on_reject(self.record_rejection)
        hooks.on_upload(self._upload_hook)
        hooks.on_download(self.record_download)
        hooks.on_cache(self.record_cache)
        return recorder

    def _upload_hook(self, fmt: str, size: int) -> None:
        # Only pictures count as uploads: text and mesh jobs count in jobs_submitted{kind=…}.
        if fmt not in _NOT_IMAGES:
            self.record_upload(fmt, size)

    def record_rejection(self, status: int, code: str, path: str) -> None:
        """A request the service turned away with ``status`` and error ``code`` (an API error code).

        429 → rate limit (``submissions`` on the submit route, else ``requests``; a code ending in
        ``submissions`` or ``requests`` says it outright), 503 ``queue_full`` → queue full,
        401/403 → auth failure, other 4xx except 404/405 → validation error by code.
        """
        if status == 429:
            if code.endswith("submissions") or code.endswith("requests"):
                scope = "submissions" if code.endswith("submissions") else "requests"
            else:
                scope = "submissions" if path.rstrip("/") == "/api/v1/jobs" else "requests"
            self.record_rate_limited(scope)
        elif status == 503:
            if code == "queue_full":
                self.record_queue_full()
        elif status in (401, 403):
            self.record_auth_failure(code.removesuffix("_key"))
        elif 400 <= status < 500 and status not in (404, 405):
            self.record_validation_error(code)

    def instrument_pool(self, pool: Any) -> JobEventRecorder:
        """Record everything a local worker pool does (``orfeas.jobs.worker.WorkerPool``).

        Job gauges are read from ``pool.waiting``/``pool.running`` at scrape time, capacity from
        ``pool.settings``, and a :class:`JobEventRecorder` listens to the pool's job events.
        """
        self.track_job_counts(queued=lambda: pool.waiting, running=lambda: pool.running)
        settings = getattr(pool, "settings", None)
        if settings is not None:
            self.set_capacity(workers=settings.workers, queue_size=settings.queue_size)
        recorder = JobEventRecorder(self)
        pool.add_listener(recorder)
        return recorder

    def stream_opened(self) -> None:
        """A server-sent events stream started."""
        self.event_streams.inc()

    def stream_closed(self) -> None:
        """A server-sent events stream ended."""
        self.event_streams.dec()

    def record_cache(self, hit: bool) -> None:
        """A cacheable submission was answered from the result cache (``hit``) or queued."""
        (self.cache_hits if hit else self.cache_misses).inc()

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


class JobEventRecorder:
    """A job-event listener that turns a worker pool's events into metrics.

    Events are duck-typed: ``event.kind`` (submitted, started, progress, succeeded, failed,
    cancelled, requeued) and ``event.job`` with ``id``, ``engine``, ``input_kind``, ``created_at``,
    ``started_at``, ``finished_at``, ``timings``, ``report``, ``error_code``. The generation itself
    may have run in another process: the pool reports back, and this (API) process records.
    A generation attempt is recorded for jobs seen starting here; gauges are left to
    :meth:`Metrics.track_job_counts` (events cannot see jobs re-queued by crash recovery).
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        kind, job, m = event.kind, event.job, self.metrics
        if kind == "submitted":
            m.jobs_submitted.labels(_pick(job.input_kind, GENERATION_KINDS)).inc()
        elif kind == "started":
            with self._lock:
                self._running.add(job.id)
            if job.started_at is not None:
                m.queue_wait_observed(job.started_at - job.created_at)
        elif kind == "requeued":
            with self._lock:
                self._running.discard(job.id)
        elif kind in JOB_STATES:
            with self._lock:
                was_running = job.id in self._running
                self._running.discard(job.id)
            turnaround = job.finished_at - job.created_at if job.finished_at is not None else None
            m.job_finished(kind, job.error_code, started=None, turnaround_s=turnaround)
            if was_running:
                report = job.report or {}
                duration = (
                    job.finished_at - job.started_at
                    if job.finished_at is not None and job.started_at is not None
                    else None
                )
                m.record_generation(
                    job.engine,
                    job.input_kind,
                    kind,
                    job.timings,
                    report.get("quality_score"),
                    report.get("faces"),
                    duration_s=duration,
                )


class MetricsApp:
    """The ``/metrics`` ASGI app: the text format (0.0.4), gzip-compressed when the client asks.

    Prometheus accepts the text format whatever it prefers in ``Accept``; rendering it ourselves
    is what keeps a scrape fast (see :meth:`Metrics.exposition`). A class, not a function, so
    Starlette's ``add_route`` mounts it as the raw ASGI app it is, at exactly ``/metrics``.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        body = self.metrics.exposition()
        headers = [(b"content-type", prometheus_client.CONTENT_TYPE_LATEST.encode())]
        accept_encoding = b",".join(v for k, v in scope.get("headers", ()) if k == b"accept-encoding")
        if b"gzip" in accept_encoding:
            # Level 1: a tenth of the time of level 9 for a few per cent more bytes.
            body = gzip.compress(body, compresslevel=1)
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


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

        streaming = False

        async def counting_send(message: dict[str, Any]) -> None:
            nonlocal status, response_bytes, streaming
            if message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"content-type" and value.startswith(b"text/event-stream"):
                        streaming = True  # an open event stream, counted until it ends
                        metrics.event_streams.inc()
            await send(message)

        requests = metrics.requests
        requests.in_flight += 1
        try:
            await self.app(scope, counting_receive, counting_send)
        except BaseException:
            metrics.errors.labels("unhandled_exception").inc()
            raise
        else:
            if status >= 500:
                metrics.errors.labels("http_5xx").inc()
        finally:
            requests.in_flight -= 1
            if streaming:
                metrics.event_streams.dec()
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


_NOT_INSTALLED = object()


def install(app: Any, metrics: Metrics | None = None) -> Metrics | None:
    """Wire metrics into an ORFEAS app from ``orfeas.api.create_app``; None when disabled.

    Reads ``app.state.settings``; when ``metrics_enabled`` it subscribes to ``app.state.hooks``,
    reads the job gauges from ``app.state.runtime.pool`` at scrape time, records each engine's
    availability, serves ``/metrics`` and adds :class:`MetricsMiddleware` (call it after every
    other ``add_middleware``, so it is the outermost and times everything). The Metrics object is
    left on ``app.state.metrics``; a second call returns it and changes nothing.
    """
    already = getattr(app.state, "metrics", _NOT_INSTALLED)
    if already is not _NOT_INSTALLED:
        return already  # installed once already (by create_app): never twice
    settings = app.state.settings
    if not settings.metrics_enabled:
        app.state.metrics = None
        return None
    from orfeas.engines import all_engines  # the engine registry, imported only when wiring

    engines = all_engines()
    if metrics is None:
        metrics = Metrics.from_settings(settings, engines=[engine.name for engine in engines])
    for engine in engines:
        metrics.set_engine_available(engine.name, engine.availability(settings).available)
    metrics.connect(app.state.hooks)
    runtime = app.state.runtime
    metrics.track_job_counts(queued=lambda: runtime.pool.waiting, running=lambda: runtime.pool.running)
    if settings.queue == "celery":
        metrics.track_broker_depth(lambda: runtime.pool.broker_depth())
    app.add_route("/metrics", metrics.asgi_app(), include_in_schema=False)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.metrics = metrics
    return metrics


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
    "BrokerCollector",
    "GenerationOutcome",
    "GpuProbe",
    "GpuSample",
    "JobEventRecorder",
    "Metrics",
    "MetricsApp",
    "MetricsMiddleware",
    "NvmlProbe",
    "RequestCollector",
    "SystemCollector",
    "install",
    "route_template",
]
