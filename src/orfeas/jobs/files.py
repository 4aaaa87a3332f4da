"""Where job files live, behind one small interface: :class:`JobFiles`.

Today the implementation is :class:`DirectoryFiles`: one folder per job under a root that is local
(the embedded default, ``data_dir/jobs``) or shared by several machines over a network file
system (``ORFEAS_ARTIFACT_DIR``). An object store can implement the same eight methods; the job
store, the runners and the download routes use nothing else.

Names are plain file names chosen by ORFEAS (``input.png``, ``model.stl``), never taken from a URL
as they are. Writes are atomic: a reader sees the whole file or nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol, runtime_checkable

from orfeas.files import write_atomic


@runtime_checkable
class JobFiles(Protocol):
    """The files of jobs, by job id and file name."""

    def write(self, job_id: str, name: str, data: bytes) -> None:
        """Store ``data`` atomically (replacing a file of that name)."""

    def read(self, job_id: str, name: str) -> bytes:
        """The file's bytes; ``FileNotFoundError`` when there is none."""

    def local_path(self, job_id: str, name: str) -> Path | None:
        """A path on this machine to serve the file from, or ``None`` (absent, or not a local file)."""

    def names(self, job_id: str) -> list[str]:
        """The job's file names, finished or not (an unfinished one ends in ``.part``)."""

    def remove(self, job_id: str, name: str) -> None:
        """Delete one file (nothing happens when it is absent)."""

    def remove_job(self, job_id: str) -> None:
        """Delete every file of the job."""

    def share(self, source_job: str, target_job: str, name: str) -> None:
        """Give ``target_job`` the same file as ``source_job`` without sending the bytes again."""

    def jobs(self) -> dict[str, float]:
        """Every job id that has files, with when its files last changed (Unix time)."""


class DirectoryFiles:
    """Job files as ``<root>/<job id>/<name>``: a local or network directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"DirectoryFiles({str(self.root)!r})"

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def write(self, job_id: str, name: str, data: bytes) -> None:
        write_atomic(self.folder(job_id) / name, data)

    def read(self, job_id: str, name: str) -> bytes:
        return (self.folder(job_id) / name).read_bytes()

    def local_path(self, job_id: str, name: str) -> Path | None:
        path = self.folder(job_id) / name
        return path if path.is_file() else None

    def names(self, job_id: str) -> list[str]:
        folder = self.folder(job_id)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def remove(self, job_id: str, name: str) -> None:
        (self.folder(job_id) / name).unlink(missing_ok=True)

    def remove_job(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def share(self, source_job: str, target_job: str, name: str) -> None:
        source, target = self.folder(source_job) / name, self.folder(target_job) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.hardlink_to(source)  # files are never changed in place, so a link is a copy
        except FileExistsError:
            target.unlink()
            target.hardlink_to(source)
        except OSError:  # another file system, or no hard links there: a real copy
            write_atomic(target, source.read_bytes())

    def jobs(self) -> dict[str, float]:
        return {p.name: p.stat().st_mtime for p in self.root.iterdir() if p.is_dir()}


def job_files(root: str | Path) -> JobFiles:
    """The job files under ``root`` (``Settings.jobs_dir()``)."""
    return DirectoryFiles(root)
