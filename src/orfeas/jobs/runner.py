"""Where a generation actually runs: a child process (default) or a thread, behind one pipe protocol.

The supervisor (:mod:`orfeas.jobs.worker`) and the runner talk over a ``multiprocessing.Pipe``:

- supervisor → runner: a :class:`Task`, ``("cancel", job_id)``, or ``None`` (exit);
- runner → supervisor: ``("progress", job_id, stage, overall_fraction)`` while working, then
  exactly one of ``("done", job_id, result)``, ``("error", job_id, reason, message, timings)``,
  ``("cancelled", job_id)``.

The runner reads the input and writes the artifacts itself (export is CPU work too) through the
job files (:mod:`orfeas.jobs.files`, atomic writes); the supervisor records them in the store only
once the runner reports them in place.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import select
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from orfeas.errors import Cancelled
from orfeas.jobs.files import JobFiles
from orfeas.jobs.states import failure_reason
from orfeas.settings import Settings
from orfeas.spec import MASK_EDIT_NAME, JobSpec

log = logging.getLogger("orfeas.jobs.runner")

Mode = Literal["process", "thread"]


@dataclass(frozen=True)
class Task:
    """Everything a runner needs to run one job, picklable: the job's spec and where its files are."""

    job_id: str
    spec: JobSpec
    files: JobFiles
    settings: Settings
    input_name: str | None = None  # the job's stored input (a picture or a mesh); None: nothing stored


class ParentGone(BaseException):
    """The supervisor's end of the pipe closed: stop working, nobody will read the result."""


def serve_tasks(
    conn: multiprocessing.connection.Connection,
    native_threads: int | None = None,
    server_pid: int | None = None,
) -> None:
    """The runner's main loop: run tasks from ``conn`` until told to stop or the parent goes away.

    ``native_threads`` caps the BLAS/OpenMP/OpenCV thread pools of a child process: with one
    runner per core, each library spinning up a pool per core oversubscribes the CPU (measured:
    2 workers on 2 cores ran 1.5× slower with the default pools). ``server_pid`` is the process
    that started the runner: a child process exits the moment it ends (:func:`_die_with_server`).
    """
    if native_threads is not None:  # only child processes get a cap (threads share the server's pools)
        _die_with_parent()
        if server_pid is not None:
            _die_with_server(server_pid)
        _limit_native_threads(native_threads)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        if isinstance(message, Task):
            try:
                _run(message, conn)
            except ParentGone:
                return


def _run(task: Task, conn: multiprocessing.connection.Connection) -> None:
    # Imported here so the supervisor side never needs the pipeline loaded to start.
    from orfeas.pipeline import STAGES, run

    cancelled = False
    last_stage = [STAGES[0]]

    def check_control() -> None:
        nonlocal cancelled
        try:
            while conn.poll():
                message = conn.recv()
                if message is None:
                    raise ParentGone
                if isinstance(message, tuple) and message[:2] == ("cancel", task.job_id):
                    cancelled = True
        except (EOFError, OSError) as exc:
            raise ParentGone from exc
        if cancelled:
            raise Cancelled("Cancelled on request.")

    def send(*message: Any) -> None:
        try:
            conn.send(message)
        except (BrokenPipeError, EOFError, OSError) as exc:
            raise ParentGone from exc

    def progress(stage: str, fraction: float) -> None:
        check_control()
        if stage in STAGES:
            last_stage[0] = stage
            overall = (STAGES.index(stage) + min(1.0, max(0.0, fraction))) / len(STAGES)
            send("progress", task.job_id, stage, round(overall, 4))

    try:
        source = task.files.read(task.job_id, task.input_name) if task.input_name else None
        edit = task.files.read(task.job_id, MASK_EDIT_NAME) if task.spec.mask_edit else None
        result = run(task.spec, source, progress, task.settings, mask_edit=edit)
        formats = tuple(task.spec.formats or ())
        artifacts = []
        for i, (name, fmt, data, content_type) in enumerate(result.files(formats)):
            progress("export", i / max(1, len(formats)))
            task.files.write(task.job_id, name, data)
            artifacts.append((name, fmt, len(data), content_type))
        check_control()
        done = {
            "report": _jsonable(result.report),
            "timings": {k: round(float(v), 6) for k, v in result.timings.items()},
            "artifacts": artifacts,
        }
        send("done", task.job_id, done)
    except ParentGone:
        raise
    except Cancelled:
        send("cancelled", task.job_id)
    except Exception as exc:
        reason = failure_reason(exc)
        if reason.value == "internal":
            log.exception("job %s failed unexpectedly", task.job_id)
            message = f"Unexpected error in stage '{last_stage[0]}': {type(exc).__name__}: {exc}"
        elif reason.value == "storage_full":
            message = f"The server ran out of disk space in stage '{last_stage[0]}'; nothing was kept."
        else:
            message = str(exc)
        send("error", task.job_id, reason.value, message, {})


def _die_with_parent() -> None:
    """Linux: have the kernel kill this child when its parent (the forkserver) exits (the server
    itself is watched by :func:`_die_with_server`)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: the EOF checks still apply
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _die_with_server(server_pid: int) -> None:
    """Exit at once when the server process ends, however it ends (``kill -9`` included).

    The parent-death signal above is relative to the forkserver, the runner's real parent, which
    outlives a killed server by seconds (measured 3–5 s, enough to finish a job and write its
    files into a folder the restarted server now owns). So a daemon thread waits on the server
    itself: a pidfd (Linux ≥ 5.3) becomes readable when the process exits; elsewhere the thread
    polls for it.
    """

    def watch() -> None:
        try:
            handle = os.pidfd_open(server_pid)
        except (AttributeError, OSError):  # pragma: no cover - old kernels, other systems
            while _process_exists(server_pid):
                time.sleep(0.2)
        else:
            select.select([handle], [], [])
        os._exit(1)

    if not _process_exists(server_pid):
        os._exit(1)
    threading.Thread(target=watch, name="orfeas-runner-server-watch", daemon=True).start()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - it exists, as someone else
        return True
    return True


def _limit_native_threads(n: int) -> None:
    from threadpoolctl import threadpool_limits

    import orfeas.pipeline  # noqa: F401  (load the libraries first so their pools can be capped)

    threadpool_limits(n)
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:  # pragma: no cover - OpenCV is a core dependency
        pass


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays → plain Python, recursively (reports go into JSON columns)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


class Runner:
    """A runner seen from the supervisor: one pipe end plus a way to start and stop the worker."""

    def __init__(self, mode: Mode, native_threads: int = 1) -> None:
        self.mode = mode
        self._stopped = False
        self.conn, child = multiprocessing.Pipe(duplex=True)
        if mode == "process":
            # forkserver: children fork from a clean process that has the pipeline preloaded, so a
            # restart after a kill is quick and no lock held by a server thread is inherited.
            ctx = multiprocessing.get_context("forkserver")
            self._proc: Any = ctx.Process(
                target=serve_tasks,
                args=(child, native_threads, os.getpid()),
                name="orfeas-runner",
                daemon=True,
            )
        else:
            self._proc = threading.Thread(
                target=serve_tasks, args=(child,), name="orfeas-runner", daemon=True
            )
        self._proc.start()
        if mode == "process":
            child.close()  # the child holds its own copy; ours must close so EOF is seen

    @property
    def pid(self) -> int | None:
        return getattr(self._proc, "pid", None)

    @property
    def exitcode(self) -> int | None:
        """How a runner process ended (``-9``: killed); ``None`` while it runs, or for a thread."""
        return getattr(self._proc, "exitcode", None)

    def alive(self) -> bool:
        return self._proc.is_alive()

    def send(self, message: Any) -> None:
        self.conn.send(message)

    def poll(self, timeout: float) -> bool:
        return self.conn.poll(timeout)

    def recv(self) -> Any:
        return self.conn.recv()

    def stop(self, *, kill: bool = False, timeout: float = 5.0) -> None:
        """End the runner (idempotent). ``kill`` stops a process at once; a thread is abandoned."""
        if self._stopped:
            return
        self._stopped = True
        if self.mode == "process":
            if kill and self._proc.is_alive():
                self._proc.kill()
            else:
                with contextlib.suppress(OSError):
                    self.conn.send(None)
            self._proc.join(timeout)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout)
        else:
            # A thread cannot be killed: closing the pipe makes its next progress call raise
            # ParentGone, so it stops at the next stage boundary; it is a daemon meanwhile.
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.conn.close()


def preload_process_runners() -> None:
    """Make forkserver children start with the pipeline already imported (a one-time cost)."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(["orfeas.pipeline"])
