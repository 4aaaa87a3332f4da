"""Observation points of the service, for metrics and logs: subscribe, never patch.

``create_app`` puts one :class:`Hooks` on ``app.state.hooks``. Callbacks run synchronously on the
thread that made the change (the event loop for requests, a worker thread for job changes), so
they must be quick and must not block; an exception in one is logged and otherwise ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from orfeas.jobs.queue import JobEvent

log = logging.getLogger("orfeas.api.hooks")

JobHook = Callable[[JobEvent], None]
#: ``(status, code, path)`` for every request the service turns away: 401, 413, 415, 422, 429, 503…
#: Codes are the error body's, except 429 (``rate_limited_requests`` / ``rate_limited_submissions``)
#: and 401 (``missing_key`` / ``invalid_key``), which say more than the body does.
RejectHook = Callable[[int, str, str], None]
#: ``(format, bytes)`` of an accepted upload (format as sniffed: png, jpeg, …; "text" for text jobs).
UploadHook = Callable[[str, int], None]
#: ``(format, bytes)`` of a served artifact (stl, 3mf, obj, glb, ply, png for the input).
DownloadHook = Callable[[str, int], None]
#: ``(True)`` when a submission was answered from the result cache, ``(False)`` when it was queued.
CacheHook = Callable[[bool], None]
#: ``(method, seconds, fell_back)`` of a mask found for ``POST /api/v1/mask``: what made it (alpha,
#: neural, grabcut, whole, none), the time, and whether a preferred source could not be used.
MaskHook = Callable[[str, float, bool], None]


class Hooks:
    """Lists of callbacks, one per kind of event."""

    def __init__(self) -> None:
        self.job: list[JobHook] = []
        self.reject: list[RejectHook] = []
        self.upload: list[UploadHook] = []
        self.download: list[DownloadHook] = []
        self.cache: list[CacheHook] = []
        self.mask: list[MaskHook] = []

    def on_job(self, fn: JobHook) -> JobHook:
        self.job.append(fn)
        return fn

    def on_reject(self, fn: RejectHook) -> RejectHook:
        self.reject.append(fn)
        return fn

    def on_upload(self, fn: UploadHook) -> UploadHook:
        self.upload.append(fn)
        return fn

    def on_download(self, fn: DownloadHook) -> DownloadHook:
        self.download.append(fn)
        return fn

    def on_cache(self, fn: CacheHook) -> CacheHook:
        self.cache.append(fn)
        return fn

    def on_mask(self, fn: MaskHook) -> MaskHook:
        self.mask.append(fn)
        return fn

    # --- emitters (used by the service) -------------------------------------------------------
    def job_event(self, event: JobEvent) -> None:
        _call(self.job, event)

    def rejected(self, status: int, code: str, path: str) -> None:
        _call(self.reject, status, code, path)

    def uploaded(self, fmt: str, size: int) -> None:
        _call(self.upload, fmt, size)

    def downloaded(self, fmt: str, size: int) -> None:
        _call(self.download, fmt, size)

    def cache_answered(self, hit: bool) -> None:
        _call(self.cache, hit)

    def masked(self, method: str, seconds: float, fell_back: bool) -> None:
        _call(self.mask, method, seconds, fell_back)


def _call(callbacks: list[Any], *args: Any) -> None:
    for fn in list(callbacks):
        try:
            fn(*args)
        except Exception:
            log.exception("hook %r failed", fn)
