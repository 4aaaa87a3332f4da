"""The result cache: generation is deterministic, so an identical submission gets the earlier result.

The key is a SHA-256 over everything that decides a result: the input bytes (the normalised picture
and its painted mask edit, or the mesh file as sent), the admitted :class:`~orfeas.spec.JobSpec`
(task, engine, parameters with every default filled in, the text and how it becomes a picture),
the engine's and ORFEAS's versions, and the configured model weights. Formats are left out of the
key: an entry answers any submission whose formats it has files for.

An entry is a succeeded job carrying its key (``jobs.cache_key``). A hit becomes a *new* job,
succeeded at once, sharing the entry's files (hard links) and report, marked ``cached_from``; a
miss is queued with its key, so once it succeeds it answers the next one. Entries beyond
``cache_max_bytes`` are forgotten oldest first by :meth:`JobStore.trim_cache` (the jobs stay);
deleting or expiring a job ends its entry.
"""

from __future__ import annotations

import hashlib

import orjson

from orfeas.catalog import engine_version
from orfeas.settings import Settings
from orfeas.spec import JobSpec
from orfeas.version import VERSION


def cache_key(
    spec: JobSpec, input_data: bytes | None, settings: Settings, *, mask_edit: bytes | None = None
) -> str:
    """The key of an admitted job and its stored input (``None`` for a text still to be painted)
    and mask edit: equal keys mean equal results.

    Which weights a neural engine loads is set on the server, not in the submission, so the
    configured model paths are part of the key: swapping weights never serves an old result.
    """
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(input_data or b"").digest())
    if mask_edit is not None:  # a different edit is a different result (the spec only says there is one)
        digest.update(hashlib.sha256(mask_edit).digest())
    facts = {
        "orfeas": VERSION,
        "engine_version": engine_version(spec.engine or ""),
        "spec": spec.model_dump(mode="json", exclude={"formats"}),
        "models": _model_settings(settings),
    }
    digest.update(orjson.dumps(facts, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def _model_settings(settings: Settings) -> dict[str, str]:
    fields = settings.model_dump()
    return {k: str(v) for k, v in sorted(fields.items()) if k.endswith(_MODEL_FIELDS)}


#: Settings naming the weights an engine loads (``hunyuan3d_model_dir``, ``rembg_model_path``, …).
_MODEL_FIELDS = ("_model_dir", "_model_path", "_subfolder")
