"""Jobs: what was asked, where it stands, and who runs it — the service the HTTP API talks to.

``service`` is the front door (:class:`JobService`: admit, cache, queue, store); ``states`` is the
job state machine (one module); ``db`` and ``store`` keep jobs in SQLite or PostgreSQL (versioned
schema), ``files`` keeps their files (a local or shared directory behind a small interface),
``cache`` answers identical submissions with an earlier result; ``queue`` is the interface both
queues implement — ``worker`` (the local pool) and ``distributed`` (Celery workers on other
machines) — and ``execute`` and ``runner`` run one job. ``observe`` wires the service's metrics.
Nothing here knows about HTTP.

What a job makes is a :class:`JobSpec` (:mod:`orfeas.spec`); it is part of this service's
vocabulary, so it is importable from here, with the formats a job may ask for, the name of a
job's mask edit file and where masks come from.
"""

from orfeas.catalog import MASK_METHODS, MASK_SOURCES
from orfeas.spec import FORMATS, MASK_EDIT_NAME, OUTPUT_FORMATS, Format, JobSpec, OutputFormat

__all__ = [
    "FORMATS",
    "MASK_EDIT_NAME",
    "MASK_METHODS",
    "MASK_SOURCES",
    "OUTPUT_FORMATS",
    "Format",
    "JobSpec",
    "OutputFormat",
]
