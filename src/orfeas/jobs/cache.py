"""The result cache: generation is deterministic, so an identical submission gets the earlier result.

The key is a SHA-256 over everything that decides a result: the input bytes (the normalised picture,
or the mesh file as sent), the task, the engine and its version, the ORFEAS version, the parameters
with their defaults filled in, the text and how it becomes a picture (lettering, or a neural step
with its options), and the configured model weights. Formats are not in the key: an entry answers
any submission whose formats it has files for.

An entry is a succeeded job carrying its key (``jobs.cache_key``). A hit becomes a *new* job,
succeeded at once, sharing the entry's files (hard links) and report, marked ``cached_from``; a
miss is queued with its key, so once it succeeds it answers the next one. Entries beyond
``cache_max_bytes`` are forgotten oldest first by :meth:`JobStore.trim_cache` (the jobs stay);
deleting or expiring a job ends its entry.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import BaseModel

import orfeas
from orfeas.engines import get_engine
from orfeas.errors import OrfeasError
from orfeas.jobs.states import Job
from orfeas.mesh.doctor import DoctorParameters
from orfeas.settings import Settings


def engine_version(name: str) -> str:
    """The version of engine ``name``; the mesh doctor and unknown names go by the ORFEAS version."""
    try:
        return str(get_engine(name).version)
    except OrfeasError:
        return orfeas.__version__


def job_cache_key(job: Job, input_data: bytes | None, settings: Settings | None = None) -> str:
    """The key of a new job with its stored input (``None`` for a text that is still to be painted)."""
    return cache_key(
        input_data=input_data or b"",
        task=job.task,
        engine=job.engine,
        params=resolved_parameters(job),
        text=job.input_text,
        lettering=job.lettering,
        text_to_image=job.text_to_image,
        settings=settings,
    )


def resolved_parameters(job: Job) -> dict[str, Any]:
    """The job's parameters with every default filled in: leaving one out and sending its default
    value make the same result, so they make the same key."""
    model: type[BaseModel]
    if job.task == "generate":
        try:
            model = get_engine(job.engine).parameters_model
        except OrfeasError:
            return dict(job.params)
    else:
        model = DoctorParameters
    return model.model_validate(job.params).model_dump(mode="json")


def cache_key(
    *,
    input_data: bytes,
    task: str,
    engine: str,
    params: dict[str, Any],
    text: str | None = None,
    lettering: dict[str, Any] | None = None,
    text_to_image: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> str:
    """The key of a submission: equal keys mean equal results.

    Which weights a neural engine loads is set on the server, not in the submission, so the
    configured model paths are part of the key: swapping weights never serves an old result.
    """
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(input_data).digest())
    facts = {
        "orfeas": orfeas.__version__,
        "task": task,
        "engine": engine,
        "engine_version": engine_version(engine),
        "params": params,
        "text": text,
        "lettering": lettering,
        "text_to_image": text_to_image,
        "models": _model_settings(settings) if settings is not None else {},
    }
    digest.update(orjson.dumps(facts, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def _model_settings(settings: Settings) -> dict[str, str]:
    fields = settings.model_dump()
    return {k: str(v) for k, v in sorted(fields.items()) if k.endswith(_MODEL_FIELDS)}


#: Settings naming the weights an engine loads (``hunyuan3d_model_dir``, ``rembg_model_path``, …).
_MODEL_FIELDS = ("_model_dir", "_model_path", "_subfolder")
