"""The label values each family may take — supplied by the modules that own them.

Every label set is bounded: a value outside its set is recorded as ``"other"``. The sets are not
declared here but handed in as a :class:`Vocabulary` by whoever wires metrics into a process
(:func:`orfeas.jobs.observe.vocabulary` gathers them from the pipeline, the job states, the
formats, the engines and the API's error codes), so a new stage or failure reason shows up in
the metrics without anyone copying it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OTHER = "other"


@dataclass(frozen=True)
class Vocabulary:
    """The bounded label values of the ORFEAS families."""

    engines: tuple[str, ...]
    #: what a job starts from (image, text, model)
    kinds: tuple[str, ...]
    #: the pipeline's stages, in order
    stages: tuple[str, ...]
    #: how a job can end (succeeded, failed, cancelled)
    outcomes: tuple[str, ...]
    #: why a job can fail
    failure_reasons: tuple[str, ...]
    #: the failure reasons that are the server's fault (each also counts as an error)
    server_failure_reasons: tuple[str, ...]
    #: what can be downloaded (artifact formats, png for the input picture)
    download_formats: tuple[str, ...]
    #: image types an upload may be sniffed as
    upload_types: tuple[str, ...]
    #: the error codes of requests refused as invalid
    validation_reasons: tuple[str, ...]
    #: the per-client rate limits
    rate_limit_scopes: tuple[str, ...]
    #: why an API key was refused
    auth_failure_reasons: tuple[str, ...]
    #: what can make a subject mask (alpha, neural, grabcut, whole, none, edit)
    mask_methods: tuple[str, ...]


def pick(value: str, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``, else ``"other"``: keeps every label set bounded."""
    return value if value in allowed else OTHER
