"""The job service: what the HTTP API talks to — admission, the result cache, the queue and the store.

:meth:`JobService.submit` is the one way a job comes into being: the spec and its input are
admitted (:func:`orfeas.admission.admit`: checked once, completed, the input normalised), then
answered from the result cache (:mod:`orfeas.jobs.cache`) or queued. Nothing is stored unless
every check passed; a full queue raises :class:`~orfeas.jobs.queue.QueueFull` having changed
nothing. Every method is synchronous and thread-safe (the API calls them from its thread pool).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orfeas.admission import PICTURE_NAME, Admitted, admission_cost, admit
from orfeas.catalog import catalog
from orfeas.errors import StorageFull
from orfeas.jobs.cache import cache_key
from orfeas.jobs.db import open_database
from orfeas.jobs.queue import JobQueue, QueueFull, new_job_id
from orfeas.jobs.states import Job, JobState
from orfeas.jobs.store import JobStore
from orfeas.settings import Settings
from orfeas.spec import JobSpec
from orfeas.subject import SubjectMask, find_subject, subject_cost

log = logging.getLogger("orfeas.jobs.service")


@dataclass(frozen=True)
class Accepted:
    """A submission that became a job."""

    job: Job
    #: True: answered from the result cache at once; False: queued; None: the cache is off
    cached: bool | None
    #: what the input was, as sniffed (``png``, ``jpeg``…, ``stl``…, ``text``), and its size: what
    #: the upload metrics count
    input_format: str
    input_size: int


def free_bytes(folder: Path) -> int | None:
    """Free bytes on the disk holding ``folder`` (or the nearest existing parent); None if unknown."""
    path = Path(folder).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


class JobService:
    """Jobs for one service: ``settings``, a :class:`JobStore` and a :class:`JobQueue`."""

    def __init__(self, settings: Settings, store: JobStore, queue: JobQueue) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue

    @classmethod
    def open(cls, settings: Settings) -> JobService:
        """The store and queue ``settings`` describe (the local pool, or Celery with ``queue=celery``)."""
        db = open_database(settings.database_url, settings.data_dir)
        store = JobStore(settings.data_dir, db, jobs_dir=settings.jobs_dir())
        queue: JobQueue
        if settings.queue == "celery":
            from orfeas.jobs.distributed import CeleryQueue  # needs the `scale` extra

            queue = CeleryQueue(store, settings)
        else:
            from orfeas.jobs.worker import WorkerPool

            queue = WorkerPool(store, settings)
        return cls(settings, store, queue)

    def close(self) -> None:
        self.store.close()

    # --- making jobs --------------------------------------------------------------------------
    def catalog(self) -> dict[str, Any]:
        """What this service can make (engines, availability and why not, schemas, limits, rules)."""
        return catalog(self.settings)

    def admission_cost(
        self, spec: JobSpec | dict[str, Any], data: bytes | None, mask_edit: bytes | None = None
    ) -> int:
        """Bytes admitting ``spec`` with ``data`` (and a mask edit) may take at its peak, from the
        files' headers alone (see :func:`orfeas.admission.admission_cost`)."""
        return admission_cost(spec, data, self.settings, mask_edit=mask_edit)

    def check(self, spec: JobSpec | dict[str, Any], data: bytes | None) -> Admitted:
        """Admit a job without making it (the compatibility routes stage pictures this way)."""
        return admit(spec, data, self.settings)

    def subject_cost(self, data: bytes, source: str = "auto") -> int:
        """Bytes finding the subject mask of the picture ``data`` may take, from its header alone."""
        return subject_cost(data, source, self.settings)

    def find_subject(self, data: bytes, source: str = "auto") -> SubjectMask:
        """The subject mask of a picture before any job (``POST /api/v1/mask``): checked like a job's
        picture, nothing stored (see :mod:`orfeas.subject`)."""
        return find_subject(data, source, self.settings)

    def check_capacity(self) -> None:
        """Raise :class:`QueueFull` when the queue is full now (before reading a large body)."""
        if self.queue.waiting >= self.settings.queue_size:
            raise QueueFull("The job queue is full; try again later.", self.queue.retry_after())

    def submit(
        self,
        spec: JobSpec | dict[str, Any],
        data: bytes | None = None,
        *,
        filename: str | None = None,
        job_id: str | None = None,
        mask_edit: bytes | None = None,
    ) -> Accepted:
        """Admit ``spec`` with its input ``data`` (and a painted ``mask_edit``) and make the job:
        answered from the result cache, or queued (with id ``job_id`` when the caller reserved one)."""
        admitted = admit(spec, data, self.settings, mask_edit=mask_edit)
        return self.accept(admitted, filename=filename, job_id=job_id)

    def accept(
        self, admitted: Admitted, *, filename: str | None = None, job_id: str | None = None
    ) -> Accepted:
        """Make the job of an admitted submission (see :meth:`submit`)."""
        job = Job(
            id=job_id or new_job_id(),
            spec=admitted.spec,
            input_name=admitted.input_name or PICTURE_NAME,
            input_filename=filename,
        )
        data, edit = admitted.input_bytes(), admitted.mask_edit_bytes()
        self.check_room(len(data or b"") + len(edit or b""))
        cached: bool | None = None
        if self.settings.cache_enabled:
            job = replace(job, cache_key=cache_key(job.spec, data, self.settings, mask_edit=edit))
            earlier = self.store.cached_result(job.cache_key or "", job.formats)
            if earlier is not None:
                done = self.store.create_cached(job, earlier)
                return Accepted(done, True, admitted.input_format, admitted.input_size)
            cached = False
        created = self.queue.submit(job, data, edit)
        return Accepted(created, cached, admitted.input_format, admitted.input_size)

    def check_room(self, incoming: int = 0) -> None:
        """Raise :class:`StorageFull` when writing ``incoming`` bytes would leave less than
        ``min_free_bytes`` on the disk of the database or of the job files."""
        for folder in {self.settings.data_dir, self.settings.jobs_dir()}:
            free = free_bytes(folder)
            if free is not None and free - incoming < self.settings.min_free_bytes:
                raise StorageFull(
                    f"The server's disk is nearly full ({free / 1e6:.0f} MB free, "
                    f"{self.settings.min_free_bytes / 1e6:.0f} MB kept in reserve): the job was not "
                    "accepted. Try again later."
                )

    # --- reading and ending jobs --------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def list(self, state: JobState | None = None, limit: int = 20, offset: int = 0) -> tuple[list[Job], int]:
        return self.store.list(state, limit, offset)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job now, or ask a running one to stop at its next stage boundary."""
        return self.queue.cancel(job_id)

    def delete(self, job_id: str) -> bool:
        """Remove a finished job and its files."""
        return self.store.delete(job_id)

    def read_file(self, job: Job, name: str) -> bytes | None:
        """A recorded file of ``job`` (an artifact or its input), or None."""
        recorded = self.store.recorded_name(job, name)
        return self.store.files.read(job.id, recorded) if recorded else None

    # --- housekeeping ---------------------------------------------------------------------------
    def retention(self) -> tuple[list[str], list[str]]:
        """Expire old finished jobs, then prune oldest-first to the disk budget; trim the cache."""
        expired = self.store.expire(self.settings.retention_hours * 3600)
        pruned = self.store.prune(self.settings.disk_budget_bytes)
        self.store.trim_cache(self.settings.cache_max_bytes)
        return expired, pruned
