"""The ORFEAS metric families and the typed calls that record them: :class:`Metrics`.

A :class:`Metrics` object owns its own :class:`~prometheus_client.CollectorRegistry` (never the
global default one), so tests and processes build as many as they like. The families are listed
in :mod:`orfeas.metrics`; label values are bounded by the :class:`~orfeas.metrics.vocabulary.Vocabulary`
it is given.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping
from pathlib import Path

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from orfeas.metrics.collectors import (
    BrokerCollector,
    GpuProbe,
    NvmlProbe,
    RequestCollector,
    SystemCollector,
)
from orfeas.metrics.exposition import MetricsApp, RequestRenderer, exposition
from orfeas.metrics.vocabulary import OTHER, Vocabulary, pick

# The switch is process-wide in prometheus_client; ORFEAS owns its process, so it is set once here.
prometheus_client.disable_created_metrics()

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Errors that are the server's concern (client mistakes are validation errors, not errors).
ERROR_TYPES = (
    "http_5xx",  # a 5xx response (recorded by the middleware)
    "unhandled_exception",  # an exception escaped the app (recorded by the middleware)
    "generation",  # a job failed for a server-side reason (recorded by record_failure)
    "storage",  # job store or artifact I/O failed
    "worker_lost",  # a worker process died under a job
    OTHER,
)
_UPLOAD_ALIASES = {"jpg": "jpeg", "tif": "tiff", "x-ms-bmp": "bmp"}

# --- histogram buckets (thresholds the alerts use are bucket edges: 5 s, 30 s, 600 s) ----------
SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)  # uploads
GENERATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
QUALITY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
FACES_BUCKETS = (1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000)
MODEL_LOAD_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0)
MASK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: What a subject mask was made for: a job's engine, or the studio's overlay (``POST /api/v1/mask``).
MASK_ORIGINS = ("job", "preview")


def _status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else OTHER


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


class Metrics:
    """Owns a registry with every ORFEAS metric and the typed calls that record them.

    ``data_dir`` is the directory whose disk is reported; ``vocabulary`` the bounded label values
    (any other value is labelled ``"other"``); ``gpu_probe`` defaults to :class:`NvmlProbe`.
    """

    def __init__(
        self,
        *,
        vocabulary: Vocabulary,
        data_dir: Path | str = ".",
        version: str | None = None,
        gpu_probe: GpuProbe | None = None,
    ) -> None:
        # Two registries: ``_core`` holds every prometheus_client metric and the system collector;
        # ``registry`` (what tests and callers read) is ``_core`` plus the request collector, which
        # exposition() renders by itself because it is fast at that.
        self._core = CollectorRegistry(auto_describe=False)
        self.registry = CollectorRegistry(auto_describe=False)
        self.vocabulary = vocabulary
        reg = self._core

        # request: kept by RequestCollector (the middleware's hot path), exported at scrape time
        self.requests = RequestCollector()
        self._renderer = RequestRenderer(self.requests)
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
        self.masks = Counter(
            "orfeas_masks",
            "Subject masks found, by what made them (alpha, neural, grabcut, whole, none, edit) and "
            "what for (job, preview: POST /api/v1/mask).",
            ["source", "origin"],
            registry=reg,
        )
        self.mask_duration = Histogram(
            "orfeas_mask_duration_seconds",
            "Time to find a subject mask, by what made it and what for.",
            ["source", "origin"],
            buckets=MASK_BUCKETS,
            registry=reg,
        )
        self.mask_fallbacks = Counter(
            "orfeas_mask_fallbacks",
            "Subject masks found without the preferred source (the neural network missing or failing), "
            "by what for.",
            ["origin"],
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

    def _initialise_known_series(self) -> None:
        # Series with a known, small label set exist from the start at 0, so rate() and the alerts
        # see a real zero rather than "no data".
        v = self.vocabulary
        for error_type in ERROR_TYPES:
            self.errors.labels(error_type)
        for reason in (*v.validation_reasons, OTHER):
            self.validation_errors.labels(reason)
        for scope in v.rate_limit_scopes:
            self.rate_limited.labels(scope)
        for reason in v.auth_failure_reasons:
            self.auth_failures.labels(reason)
        for reason in (*v.failure_reasons, OTHER):
            self.jobs_failed.labels(reason)
        for kind in v.kinds:
            self.jobs_submitted.labels(kind)
        for fmt in v.download_formats:
            self.downloads.labels(fmt)
            self.download_bytes.labels(fmt)
        for upload_type in (*v.upload_types, OTHER):
            self.uploads.labels(upload_type)
        for engine in sorted(v.engines):
            for kind in v.kinds:
                for outcome in v.outcomes:
                    self.generations.labels(engine, kind, outcome)
            self.model_loaded.labels(engine)
        for origin in MASK_ORIGINS:
            self.mask_fallbacks.labels(origin)
            for method in v.mask_methods:
                self.masks.labels(method, origin)

    # --- serving -------------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The current metrics in the Prometheus text format (see :mod:`orfeas.metrics.exposition`)."""
        return exposition(self._core, self._renderer)

    def asgi_app(self) -> MetricsApp:
        """The ``/metrics`` ASGI app for this registry (gzip when the client asks)."""
        return MetricsApp(self.exposition)

    def _engine(self, engine: str) -> str:
        return pick(engine, self.vocabulary.engines)

    # --- request family --------------------------------------------------------------------------
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
        self.errors.labels(pick(error_type, ERROR_TYPES)).inc()

    def record_validation_error(self, reason: str) -> None:
        """A request refused as invalid; ``reason`` is an ``InputRejected`` code or ``invalid_request``."""
        self.validation_errors.labels(pick(reason, self.vocabulary.validation_reasons)).inc()

    def record_rate_limited(self, scope: str) -> None:
        """A 429: ``scope`` is ``"submissions"`` or ``"requests"``."""
        self.rate_limited.labels(pick(scope, self.vocabulary.rate_limit_scopes)).inc()

    def record_queue_full(self) -> None:
        """A submission answered 503 because the job queue was full."""
        self.queue_full.inc()

    def record_auth_failure(self, reason: str) -> None:
        """A 401/403 for an API key that was ``"missing"`` or ``"invalid"``."""
        self.auth_failures.labels(pick(reason, self.vocabulary.auth_failure_reasons)).inc()

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
        kind = pick(kind, self.vocabulary.kinds)
        outcome = pick(outcome, self.vocabulary.outcomes)
        timings = stage_timings or {}
        self.generations.labels(engine, kind, outcome).inc()
        for stage, seconds in timings.items():
            self.stage_duration.labels(engine, pick(stage, self.vocabulary.stages)).observe(seconds)
        total = duration_s if duration_s is not None else sum(timings.values())
        if duration_s is not None or timings:
            self.generation_duration.labels(engine, kind).observe(total)
        if outcome == "succeeded":
            if quality_score is not None:
                self.quality.labels(engine).observe(quality_score)
            if faces is not None:
                self.faces.labels(engine).observe(faces)

    def set_model_loaded(self, engine: str, loaded: bool) -> None:
        """Whether ``engine``'s weights are in memory now."""
        self.model_loaded.labels(self._engine(engine)).set(1 if loaded else 0)

    def observe_model_load(self, engine: str, seconds: float) -> None:
        """Loading ``engine``'s weights took ``seconds``; also marks the model as loaded."""
        self.model_load.labels(self._engine(engine)).observe(seconds)
        self.set_model_loaded(engine, True)

    def record_mask(self, method: str, seconds: float, origin: str, *, fell_back: bool = False) -> None:
        """A subject mask made by ``method`` in ``seconds``, for ``origin`` (``job``: a job's
        report says so; ``preview``: ``POST /api/v1/mask``); ``fell_back``: its preferred source
        could not be used (the report's ``mask_reason``)."""
        method = pick(method, self.vocabulary.mask_methods)
        origin = pick(origin, MASK_ORIGINS)
        self.masks.labels(method, origin).inc()
        self.mask_duration.labels(method, origin).observe(max(0.0, seconds))
        if fell_back:
            self.mask_fallbacks.labels(origin).inc()

    def set_engine_available(self, engine: str, available: bool) -> None:
        """Whether ``engine`` can run on this host (from ``engine.availability(settings)``)."""
        self.engine_available.labels(self._engine(engine)).set(1 if available else 0)

    # --- performance family -----------------------------------------------------------------------
    def set_capacity(self, *, workers: int, queue_size: int) -> None:
        """The configured worker slots and queue length (for saturation panels and alerts)."""
        self.worker_slots.set(workers)
        self.queue_capacity.set(queue_size)

    def track_job_counts(self, *, queued: Callable[[], int], running: Callable[[], int]) -> None:
        """Read the job gauges from these callables at scrape time (exact, never drifting).

        A callable that raises (the pool is not started yet, or stopped) reads as 0.
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

    def queue_wait_observed(self, seconds: float) -> None:
        """A job waited ``seconds`` in the queue before a worker took it."""
        self.queue_wait.observe(max(0.0, seconds))

    def job_finished(
        self, state: str, reason: str | None = None, *, turnaround_s: float | None = None
    ) -> None:
        """A job reached ``state`` (succeeded, failed, cancelled); a failure counts by ``reason``.
        (The job gauges are read at scrape time: :meth:`track_job_counts`.)"""
        state = pick(state, self.vocabulary.outcomes)
        if state == "succeeded":
            self.jobs_succeeded.inc()
        elif state == "failed":
            self.record_failure(reason or OTHER)
        elif state == "cancelled":
            self.jobs_cancelled.inc()
        if turnaround_s is not None:
            self.turnaround.labels(state).observe(max(0.0, turnaround_s))

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

    def record_cache(self, hit: bool) -> None:
        """A cacheable submission was answered from the result cache (``hit``) or queued."""
        (self.cache_hits if hit else self.cache_misses).inc()

    # --- business family --------------------------------------------------------------------------
    def record_failure(self, reason: str) -> None:
        """A job failed for ``reason``; a server-side reason also counts as a ``generation`` error.

        :meth:`job_finished` calls this; call it directly only for a failure outside that path.
        """
        reason = pick(reason, self.vocabulary.failure_reasons)
        self.jobs_failed.labels(reason).inc()
        if reason in self.vocabulary.server_failure_reasons or reason == OTHER:
            self.errors.labels("generation").inc()

    def record_download(self, fmt: str, size_bytes: int | None = None) -> None:
        """An artifact was downloaded (``fmt``: stl, 3mf, obj, glb, ply, png for the input)."""
        fmt = pick(fmt.lower(), self.vocabulary.download_formats)
        self.downloads.labels(fmt).inc()
        if size_bytes is not None:
            self.download_bytes.labels(fmt).inc(size_bytes)

    def record_upload(self, content_type: str, size_bytes: int | None = None) -> None:
        """An image upload was accepted; ``content_type`` is the sniffed type (``png`` or ``image/png``)."""
        self.uploads.labels(self._upload_type(content_type)).inc()
        if size_bytes is not None:
            self.upload_size.observe(size_bytes)

    def _upload_type(self, content_type: str) -> str:
        """``image/png``, ``png``, ``PNG``, ``image/jpg`` … → one of the vocabulary's upload types."""
        kind = content_type.split(";", 1)[0].strip().lower().rsplit("/", 1)[-1]
        return pick(_UPLOAD_ALIASES.get(kind, kind), self.vocabulary.upload_types)
