"""``POST /api/v1/mask``: a picture's subject mask before any model is built (the studio's overlay).

The picture is read and checked exactly as a job's is — the bounded form reader with the picture
cap, the admission memory budget (priced from the header first), the picture checks of admission
— and the rate limits, Host/Origin checks and API keys apply as to a submission. The mask itself
is found in the thread pool (:meth:`orfeas.jobs.service.JobService.find_subject`), on a copy of
at most 1024 px. Nothing is stored. A painted correction of this mask goes with the job as the
form's ``mask_edit`` file.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from orfeas.api.accept import holding
from orfeas.api.errors import from_orfeas_error
from orfeas.api.intake import read_mask_request
from orfeas.api.responses import JSON
from orfeas.api.runtime import runtime
from orfeas.api.schemas import MASK_REQUEST_SCHEMA, PREFIX, MaskOut, error_responses
from orfeas.errors import OrfeasError

router = APIRouter(prefix=PREFIX, tags=["masks"])


@router.post(
    "/mask",
    response_model=MaskOut,
    summary="Find a picture's subject mask (what a job would cut out), nothing stored",
    responses={
        200: {"description": "The mask as a PNG data URL, the source that made it, its confidence and time."},
        **error_responses(400, 401, 403, 408, 413, 415, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": MASK_REQUEST_SCHEMA}}}
    },
)
async def find_mask(request: Request) -> Response:
    """Check the picture like a job's (type sniffed from bytes, byte and pixel caps) and find its
    subject with ``mask`` (``auto`` runs the cascade: alpha, the neural mask, GrabCut).

    ``source`` says what made the mask; ``reason`` why a preferred source was not used (the
    network's file is absent, say). Asking for ``neural`` where it cannot run is a 422 naming
    ``mask``; a picture with no subject a 422 ``no_subject``; a busy server a 503 with ``Retry-After``.
    """
    rt = runtime(request)
    data, source = await read_mask_request(request, rt.settings)
    try:
        async with holding(rt, lambda: rt.jobs.subject_cost(data, source)):
            subject = await run_in_threadpool(rt.jobs.find_subject, data, source)
            png = await run_in_threadpool(subject.png)
    except OrfeasError as exc:
        raise from_orfeas_error(exc) from exc
    found = subject.found
    rt.hooks.masked(found.method, found.seconds, bool(found.reason))
    body = {**subject.summary(), "mask": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}
    return JSON(body, headers={"Cache-Control": "no-store"})
