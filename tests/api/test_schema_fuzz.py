"""Schemathesis against ``/openapi.json`` of a real server: no 5xx and no answer outside the schema.

Bounded on purpose (a few examples per operation): it runs in seconds and still walks every
operation with generated and edge-case input. Operations are listed from a fresh app's schema so
each is its own test; the cases are generated from the running server's ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from orfeas.api import create_app
from orfeas.api.schemas import MULTIPART_SCHEMA
from orfeas.jobs import JobSpec
from orfeas.settings import Settings
from tests.api.conftest import LiveServer, start_server

pytestmark = pytest.mark.integration


@schemathesis.check
def no_server_error_but_a_full_queue(ctx: object, response: object, case: schemathesis.Case) -> bool | None:
    """Like ``not_a_server_error``, except the documented 503 of a full queue, which must say so
    and carry ``Retry-After`` (the tiny queue below makes that answer common on purpose)."""
    if response.status_code == 503:  # type: ignore[attr-defined]
        body = response.json()  # type: ignore[attr-defined]
        assert body["error"]["code"] == "queue_full", body
        assert "retry-after" in {k.lower() for k in response.headers}  # type: ignore[attr-defined]
        return None
    return checks.not_a_server_error(ctx, response, case)


#: Refusals of schema-valid requests that the schema cannot express, each for a stated reason:
#: - a file's content: ``format: binary`` admits any bytes, and the server sniffs the type and reads
#:   the file (``unsupported_type``, ``corrupt``, ``empty``, ``too_many_pixels``, ``no_subject``);
#: - a text's content: characters the font cannot draw, control characters, more characters than
#:   the server's ``max_text_chars``, or a text too long to print at its size (``invalid_parameter``
#:   on ``text``/``prompt``; the fuzzed server allows 40 characters);
#: - what this server can run: a painting step without its model (``engine_unavailable``);
#: - a multipart form's free fields: an engine parameter sent as its own field is checked against
#:   the chosen engine's schema (``GET /api/v1/engines``), which one form schema for every engine
#:   cannot state, and ``params``/``lettering``/``diffusion`` are strings that must hold JSON;
#: - which ``task`` goes with which input (a mesh: analyze or repair; a picture or text: generate)
#:   is a ``oneOf`` of the form schema that the generator does not always keep to for forms;
#: - a mask edit must have its picture's proportions and come as a file with a picture
#:   (``mask_edit``), and ``mask=alpha`` needs a picture with a transparent background (``mask``):
#:   facts about two files, or about a file's content, that a schema cannot state.
#: The table of JSON schema vs. service is otherwise exact: any other refusal fails the check.
CONTENT_REFUSALS = {
    "unsupported_type",
    "corrupt",
    "empty",
    "too_many_pixels",
    "no_subject",
    "engine_unavailable",
}
EXPLAINED_FIELDS = {"text", "prompt", "task", "mask_edit", "mask"}
JSON_IN_FORM = {"params", "lettering", "diffusion"}


@schemathesis.check
def accepts_what_the_schema_allows(ctx: object, response: object, case: schemathesis.Case) -> bool | None:
    """``positive_data_acceptance``, but for the refusals listed above."""
    if response.status_code in (413, 415, 422):  # type: ignore[attr-defined]
        error = response.json().get("error", {})  # type: ignore[attr-defined]
        if error.get("code") in CONTENT_REFUSALS:
            return None
        field = str(error.get("field"))
        if error.get("code") == "invalid_parameter" and (
            field in EXPLAINED_FIELDS or field.split(".")[0] in JSON_IN_FORM or _engine_parameter(case, field)
        ):
            return None
    return checks.positive_data_acceptance(ctx, response, case)


#: The fields a submission itself has (multipart and JSON); any other name in an error is an engine
#: parameter (a form field of its own, or a key of ``params``).
OWN_FIELDS = set(MULTIPART_SCHEMA["properties"]) | set(JobSpec.model_fields)


def _engine_parameter(case: schemathesis.Case, field: str) -> bool:
    return field.split(".")[0] not in OWN_FIELDS


CHECKS = [
    no_server_error_but_a_full_queue,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    accepts_what_the_schema_allows,
    checks.missing_required_header,
    checks.unsupported_method,
    checks.allow_header_conformance,
    checks.use_after_free,
    checks.ensure_resource_availability,
    checks.ignored_auth,
]

_SPEC = create_app(Settings(data_dir=Path("unused"))).openapi()
OPERATIONS = [(method.upper(), path) for path, operations in _SPEC["paths"].items() for method in operations]
#: Negative cases need something to break: operations with parameters or a body.
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE
    or {"parameters", "requestBody"} & set(_SPEC["paths"][path][method.lower()])
]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("fuzz")
    # a tiny queue: generated text jobs mostly meet a documented 503 instead of piling up work
    server = start_server(root / "data", root / "logs", queue_size=2, max_text_chars=40)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_operation_conforms_to_the_schema(
    api_schema: schemathesis.BaseSchema,
    fuzzed_server: LiveServer,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = api_schema[path][method]
    media_types = [None]
    if operation.body:  # every body type gets its share (multipart uploads and JSON text jobs)
        media_types = [body.media_type for body in operation.body]
    strategy = st.one_of(*(operation.as_strategy(mode, media_type=m) for m in media_types))

    @given(case=strategy)
    @settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=fuzzed_server.url, checks=CHECKS, timeout=60)

    check()


def test_every_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    live = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert live == set(OPERATIONS)
