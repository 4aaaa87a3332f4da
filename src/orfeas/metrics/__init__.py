"""Every Prometheus metric ORFEAS exports: a package of leaves (it imports nothing else of ORFEAS).

* :mod:`~orfeas.metrics.registry` — :class:`Metrics`: the families and the typed calls that
  record them, in its own :class:`~prometheus_client.CollectorRegistry` (never the global one);
* :mod:`~orfeas.metrics.vocabulary` — the bounded label values, handed in by their owners;
* :mod:`~orfeas.metrics.collectors` — what is read at scrape time (host, GPU, broker, requests);
* :mod:`~orfeas.metrics.exposition` — the fast text format and the ``/metrics`` ASGI app;
* :mod:`~orfeas.metrics.recorder` — job events → metrics.

The wiring lives with what is wired: the API's middleware and ``install`` in
:mod:`orfeas.api.observability` (HTTP traffic is labelled by *route template*, never by raw path),
the vocabulary and a worker's metrics in :mod:`orfeas.jobs.observe`.

Six families, all named ``orfeas_*`` with bounded label values (anything outside a fixed set
becomes ``"other"``):

- request: count, duration histogram, request/response size summaries, in-flight (also the
  "concurrent requests" of the performance family) — kept lock-free by :class:`RequestCollector`;
- error: errors by type, validation errors by reason, rate-limit, queue-full and auth rejections;
- AI: generations by engine/kind/outcome, duration (total and per stage), quality score, faces,
  model loaded / load time, engine availability; subject masks by source and origin (a job's, or
  the studio's preview), their time, and those made without the preferred source;
- system: process and host CPU, memory, data-directory disk, GPU through NVML — read at scrape
  time by :class:`SystemCollector`, GPU series are absent (not zero) without a GPU;
- performance: active/queued jobs, queue capacity, worker slots, queue wait, turnaround, open
  event streams;
- business: submissions, successes, failures by reason, cancellations, downloads by format,
  uploads by type and size; plus ``orfeas_build_info``.

With the local worker pool the API process records everything (a :class:`JobEventRecorder`
listens to the pool's job events). With queue=celery, each ``orfeas worker`` process records its
own jobs the same way on its own ``/metrics`` port; the API adds the broker's queue depth
(:meth:`Metrics.track_broker_depth`).
"""

from orfeas.metrics.collectors import (
    GPU_METRICS,
    GpuProbe,
    GpuSample,
    NvmlProbe,
    RequestCollector,
    SystemCollector,
)
from orfeas.metrics.exposition import MetricsApp
from orfeas.metrics.recorder import JobEventRecorder, MaskRecorder, ModelLoadRecorder
from orfeas.metrics.registry import ERROR_TYPES, Metrics
from orfeas.metrics.vocabulary import OTHER, Vocabulary

__all__ = [
    "ERROR_TYPES",
    "GPU_METRICS",
    "OTHER",
    "GpuProbe",
    "GpuSample",
    "JobEventRecorder",
    "MaskRecorder",
    "Metrics",
    "MetricsApp",
    "ModelLoadRecorder",
    "NvmlProbe",
    "RequestCollector",
    "SystemCollector",
    "Vocabulary",
]
