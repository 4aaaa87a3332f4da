"""The job service's metrics: the label vocabulary from its owners, and a queue's events recorded.

:func:`vocabulary` gathers the bounded label values from the modules that own them — the engines,
the pipeline's stages, the job states and failure reasons, the formats, the picture types and the
input error codes — so the metrics package never keeps a copy. The API adds its own request
codes (:mod:`orfeas.api.observability`); an ``orfeas worker`` builds its metrics here too.
"""

from __future__ import annotations

from orfeas.admission import IMAGE_FORMATS
from orfeas.catalog import MASK_METHODS, engine_availability, engine_names
from orfeas.errors import INPUT_CODES, EngineUnavailable
from orfeas.jobs.queue import Listener
from orfeas.jobs.states import SERVER_FAULTS, FailureReason, JobState
from orfeas.metrics import JobEventRecorder, MaskRecorder, Metrics, ModelLoadRecorder, Vocabulary
from orfeas.pipeline import STAGES
from orfeas.settings import Settings
from orfeas.spec import INPUT_KINDS, OUTPUT_FORMATS

#: What can be downloaded besides the models: the input picture (and a painting).
PICTURE_FORMAT = "png"


def vocabulary(
    *,
    validation_reasons: tuple[str, ...] = (),
    rate_limit_scopes: tuple[str, ...] = (),
    auth_failure_reasons: tuple[str, ...] = (),
) -> Vocabulary:
    """The label values of every family; the API passes the ones it owns (its request codes, its
    rate limits, why a key was refused)."""
    return Vocabulary(
        engines=engine_names(),
        kinds=INPUT_KINDS,
        stages=STAGES,
        outcomes=(JobState.SUCCEEDED.value, JobState.FAILED.value, JobState.CANCELLED.value),
        failure_reasons=tuple(r.value for r in FailureReason if r is not FailureReason.CANCELLED),
        server_failure_reasons=tuple(sorted(r.value for r in SERVER_FAULTS)),
        download_formats=(*OUTPUT_FORMATS, PICTURE_FORMAT),
        upload_types=IMAGE_FORMATS,
        validation_reasons=tuple(dict.fromkeys((*INPUT_CODES, EngineUnavailable.code, *validation_reasons))),
        rate_limit_scopes=rate_limit_scopes,
        auth_failure_reasons=auth_failure_reasons,
        mask_methods=MASK_METHODS,
    )


def service_metrics(settings: Settings, words: Vocabulary) -> Metrics:
    """Metrics for a process configured by ``settings``: capacity set, each engine's availability
    here recorded."""
    metrics = Metrics(vocabulary=words, data_dir=settings.data_dir)
    metrics.set_capacity(workers=settings.workers, queue_size=settings.queue_size)
    for engine, available in engine_availability(settings).items():
        metrics.set_engine_available(engine, available)
    return metrics


def recorders(metrics: Metrics) -> tuple[Listener, ...]:
    """The job listeners that record a queue's (or a worker's) jobs in ``metrics``."""
    return JobEventRecorder(metrics), ModelLoadRecorder(metrics), MaskRecorder(metrics)
