"""Job events → metrics: :class:`JobEventRecorder` listens to a job queue (or a worker's executor).

Events are duck-typed: ``event.kind`` (submitted, started, progress, succeeded, failed, cancelled,
requeued) and ``event.job`` with ``id``, ``engine``, ``input_kind``, ``created_at``, ``started_at``,
``finished_at``, ``timings``, ``report``, ``error_code`` — :class:`orfeas.jobs.queue.JobEvent`.
"""

from __future__ import annotations

import threading
from typing import Any

from orfeas.metrics.registry import Metrics
from orfeas.metrics.vocabulary import pick


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
            m.jobs_submitted.labels(pick(job.input_kind, m.vocabulary.kinds)).inc()
        elif kind == "started":
            with self._lock:
                self._running.add(job.id)
            if job.started_at is not None:
                m.queue_wait_observed(job.started_at - job.created_at)
        elif kind == "requeued":
            with self._lock:
                self._running.discard(job.id)
        elif kind in m.vocabulary.outcomes:
            with self._lock:
                was_running = job.id in self._running
                self._running.discard(job.id)
            turnaround = job.finished_at - job.created_at if job.finished_at is not None else None
            m.job_finished(kind, job.error_code, turnaround_s=turnaround)
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


class ModelLoadRecorder:
    """A job listener: weights loaded in a runner process report their load time in the job's
    report (``engine.model_load_s``), which becomes ``orfeas_model_load_duration_seconds``."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(self, event: Any) -> None:
        if event.kind != "succeeded":
            return
        engine = (event.job.report or {}).get("engine") or {}
        seconds = engine.get("model_load_s") if isinstance(engine, dict) else None
        if isinstance(seconds, int | float):
            self.metrics.observe_model_load(str(engine.get("name") or event.job.engine), float(seconds))


class MaskRecorder:
    """A job listener: the subject mask a succeeded job's engine found, as its report says
    (``engine.mask_method``, ``mask_seconds``, ``mask_reason``), becomes ``orfeas_masks_total``
    and ``orfeas_mask_duration_seconds`` with ``origin="job"`` (and a fallback when a reason is
    given). Jobs without a mask (a lithophane, a mesh) record nothing."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(self, event: Any) -> None:
        if event.kind != "succeeded" or getattr(event.job, "cached_from", None) is not None:
            return  # a cached answer found no mask of its own
        engine = (event.job.report or {}).get("engine") or {}
        method = engine.get("mask_method") if isinstance(engine, dict) else None
        seconds = engine.get("mask_seconds") if isinstance(engine, dict) else None
        if isinstance(method, str) and isinstance(seconds, int | float):
            self.metrics.record_mask(method, float(seconds), "job", fell_back=bool(engine.get("mask_reason")))
