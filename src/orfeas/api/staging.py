"""Pictures waiting for ``/api/generate-3d``: the original ORFEAS's upload-then-generate flow.

``/api/upload-image`` and ``/api/text-to-image`` keep the normalised picture under a reserved job
id until ``/api/generate-3d`` turns it into a v1 job with that id. Entries live in
``data_dir/uploads`` as ``<id>.png`` plus ``<id>.json`` (what it came from), written in that order so
the JSON marks a complete entry, and expire after ``retention_hours`` like finished jobs (the
service's retention run calls :func:`expire_staged`). With several API processes, staged pictures
are per process: send a client's compatibility calls to one process (or share ``data_dir``).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orfeas.files import write_atomic
from orfeas.settings import Settings

#: Where staged pictures wait, under ``data_dir``.
STAGING = "uploads"


@dataclass(frozen=True)
class Staged:
    """A picture waiting for ``/api/generate-3d``."""

    id: str
    png: Path
    meta: dict[str, Any]


def staging_dir(settings: Settings) -> Path:
    return settings.data_dir / STAGING


def stage(settings: Settings, job_id: str, png: bytes, meta: dict[str, Any]) -> None:
    folder = staging_dir(settings)
    write_atomic(folder / f"{job_id}.png", png)
    meta = {**meta, "created_at": time.time()}
    write_atomic(folder / f"{job_id}.json", json.dumps(meta).encode())  # last: marks it complete


def load_staged(settings: Settings, job_id: str, now: float | None = None) -> Staged | None:
    """The staged picture ``job_id`` (a canonical id), or None when absent, incomplete or expired."""
    folder = staging_dir(settings)
    png, meta_path = folder / f"{job_id}.png", folder / f"{job_id}.json"
    try:
        meta = json.loads(meta_path.read_bytes())
    except (OSError, ValueError):
        return None
    now = time.time() if now is None else now
    if now - float(meta.get("created_at", 0)) > settings.retention_hours * 3600 or not png.is_file():
        discard_staged(settings, job_id)
        return None
    return Staged(job_id, png, meta)


def discard_staged(settings: Settings, job_id: str) -> None:
    folder = staging_dir(settings)
    for suffix in (".json", ".png"):  # the marker first, so a half-removed entry reads as absent
        with contextlib.suppress(FileNotFoundError):
            (folder / f"{job_id}{suffix}").unlink()


def expire_staged(settings: Settings, now: float | None = None) -> list[str]:
    """Remove staged pictures older than ``retention_hours`` (and leftovers of interrupted writes).

    The service's retention run calls it (an expired entry already reads as absent before that).
    Returns the removed ids.
    """
    folder = staging_dir(settings)
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    limit = settings.retention_hours * 3600
    removed: list[str] = []
    for path in folder.iterdir():
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age <= limit:
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if path.suffix == ".json":
            removed.append(path.stem)
    return removed
