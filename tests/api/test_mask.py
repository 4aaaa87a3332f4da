"""``POST /api/v1/mask``: a picture's subject before any model is built — found as a job's engine
finds it, refused exactly like a job's picture when hostile, under the same limits, nothing stored."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from orfeas.api import create_app
from orfeas.api.schemas import MaskOut
from tests.api.conftest import FAST, LiveServer, app_settings, job_files, wait_job
from tests.api.test_security import HOSTILE, small_caps_server, state_of
from tests.conftest import ball_on_gravel, disc_rgba, png_bytes, png_claiming

BALL, TRUTH = ball_on_gravel(320)
BALL_PNG = png_bytes(BALL)


def mask_of(answer: dict) -> np.ndarray:
    """The mask of an answer (its PNG data URL) as a boolean array."""
    head, _, data = answer["mask"].partition(",")
    assert head == "data:image/png;base64"
    with Image.open(io.BytesIO(base64.b64decode(data))) as png:
        assert png.mode == "L" and png.size == (answer["width"], answer["height"])
        return np.asarray(png) >= 128


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def post_mask(client: TestClient, picture: bytes = BALL_PNG, **fields: str):
    return client.post("/api/v1/mask", files={"image": ("ball.png", picture, "image/png")}, data=fields)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    """An in-process service: the mask is found in the API process whatever queue runs the jobs."""
    with TestClient(create_app(app_settings(tmp_path / "data"))) as client:
        yield client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server with the caps of the job route's hostile-file tests (tests/api/test_security.py)."""
    srv = small_caps_server(tmp_path_factory.mktemp("mask-security"))
    yield srv
    srv.stop()


# --- what it answers ------------------------------------------------------------------------------


@pytest.mark.integration
def test_the_mask_is_the_subject_a_job_would_cut_out(api: TestClient) -> None:
    answer = post_mask(api)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    MaskOut.model_validate(body)  # the documented shape
    assert body["source"] == "neural" and body["asked"] == "auto" and body["reason"] is None
    assert 0.6 <= body["confidence"] <= 1 and body["seconds"] > 0
    assert body["picture"] == {"format": "png", "width": 320, "height": 320, "transparent": False}
    found = mask_of(body)
    assert iou(found, TRUTH) > 0.95  # the ball, not the gravel
    assert body["coverage"] == pytest.approx(found.mean(), abs=1e-3)
    assert api.get("/api/v1/jobs").json()["total"] == 0 and job_files(api.app.state.settings.data_dir) == []
    # a job on the same picture cuts out the same subject
    job = api.post("/api/v1/jobs", files={"image": ("ball.png", BALL_PNG, "image/png")}, data=FAST).json()
    engine = wait_job(api.get, job["id"])["report"]["engine"]
    assert engine["mask_method"] == body["source"]
    assert engine["mask_coverage"] == pytest.approx(body["coverage"], abs=1e-3)


@pytest.mark.integration
def test_each_source_answers_for_itself(api: TestClient) -> None:
    grabcut = post_mask(api, mask="grabcut").json()
    assert grabcut["asked"] == "grabcut" and grabcut["source"] in ("grabcut", "whole")
    assert iou(mask_of(grabcut), TRUTH) < 0.6  # GrabCut takes the gravel for the subject
    whole = post_mask(api, mask="none").json()
    assert whole["source"] == "none" and mask_of(whole).all()
    disc = post_mask(api, png_bytes(disc_rgba(200)), mask="alpha").json()
    assert disc["source"] == "alpha" and disc["picture"]["transparent"] is True
    opaque = post_mask(api, mask="alpha")
    assert opaque.status_code == 422 and opaque.json()["error"]["field"] == "mask"
    assert "transparent" in opaque.json()["error"]["message"]
    # a large photo is looked at on a copy of at most 1024 px, in its proportions
    big = ball_on_gravel(1600)[0][:1200]
    large = post_mask(api, png_bytes(big)).json()
    assert (large["width"], large["height"]) == (1024, 768)
    assert (large["picture"]["width"], large["picture"]["height"]) == (1600, 1200)


@pytest.mark.integration
def test_without_the_network_auto_falls_back_and_says_why(tmp_path: Path) -> None:
    settings = app_settings(tmp_path / "data", models_dir=tmp_path / "no-models")
    with TestClient(create_app(settings)) as client:
        auto = post_mask(client, png_bytes(disc_rgba(160)[..., :3].copy())).json()
        assert auto["source"] in ("grabcut", "whole") and "no model file" in auto["reason"]
        neural = post_mask(client, mask="neural")
        assert neural.status_code == 422
        assert neural.json()["error"]["code"] == "engine_unavailable"
        assert neural.json()["error"]["field"] == "mask"
        masks = {m["name"]: m for m in client.get("/api/v1/engines").json()["masks"]}
        assert masks["neural"]["available"] is False  # what the studio disables the switch with


# --- refused, and nothing stored ------------------------------------------------------------------


@pytest.mark.security
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_pictures_are_refused_exactly_like_the_job_route(server: LiveServer, name: str) -> None:
    data, status, code = HOSTILE[name]
    good = png_bytes(disc_rgba(64))
    before = state_of(server)
    with server.client() as http:
        mask = http.post("/api/v1/mask", files={"image": ("picture.png", data, "image/png")})
        job = http.post("/api/v1/jobs", files={"image": ("picture.png", data, "image/png")}, data=FAST)
        edit = http.post(
            "/api/v1/jobs",
            files={"image": ("p.png", good, "image/png"), "mask_edit": ("edit.png", data, "image/png")},
            data=FAST,
        )
    assert mask.status_code == job.status_code == status, (mask.text, job.text)
    assert mask.json() == job.json()  # the same typed error, word for word
    assert mask.json()["error"]["code"] == code and mask.json()["error"]["field"] == "image"
    # the edit of a job is checked like its picture: the same refusal, naming the edit
    assert edit.status_code == status, edit.text
    assert edit.json()["error"]["code"] == code and edit.json()["error"]["field"] == "mask_edit"
    assert state_of(server) == before


@pytest.mark.security
def test_a_bad_request_is_a_4xx_naming_its_field(api: TestClient) -> None:
    bomb = png_claiming(30000, 30000)
    bad_source = post_mask(api, bomb, mask="everything")  # the source is refused before the file is read
    assert bad_source.status_code == 422 and bad_source.json()["error"]["field"] == "mask"
    extra = post_mask(api, mode="puffy")
    assert extra.status_code == 422 and extra.json()["error"]["field"] == "mode"
    missing = api.post("/api/v1/mask", files={"mask": (None, "auto")})  # a form without the picture
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "image"
    twice = api.post(
        "/api/v1/mask",
        files=[("image", ("a.png", BALL_PNG, "image/png")), ("image", ("b.png", BALL_PNG, "image/png"))],
    )
    assert twice.status_code == 422 and twice.json()["error"]["field"] == "image"
    json_body = api.post("/api/v1/mask", json={"image": "ball.png"})
    assert json_body.status_code == 415 and json_body.json()["error"]["field"] == "content-type"
    assert api.get("/api/v1/jobs").json()["total"] == 0


@pytest.mark.security
def test_the_submission_limits_host_origin_and_keys_apply(tmp_path: Path) -> None:
    limited = TestClient(create_app(app_settings(tmp_path / "a", rate_limit_submissions_per_minute=1)))
    with limited:
        assert post_mask(limited).status_code == 200
        refused = post_mask(limited)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "submissions" in refused.json()["error"]["message"]  # it is work, counted as a submission
        assert limited.post("/api/v1/jobs", json={"text": "A"}).status_code == 429
    with TestClient(create_app(app_settings(tmp_path / "b", api_keys="k-one"))) as keyed:
        assert post_mask(keyed).status_code == 401
        assert (
            keyed.post(
                "/api/v1/mask",
                files={"image": ("b.png", BALL_PNG, "image/png")},
                headers={"X-API-Key": "k-one", "Origin": "https://evil.example"},
            ).json()["error"]["code"]
            == "cross_origin"
        )


@pytest.mark.security
def test_the_mask_waits_for_room_in_the_admission_budget(tmp_path: Path) -> None:
    settings = app_settings(tmp_path / "data", admission_wait_s=0.2)
    with TestClient(create_app(settings)) as client:
        budget = client.app.state.runtime.budget
        budget.in_use = budget.capacity  # other uploads' checks fill it
        busy = post_mask(client)
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy"
        assert int(busy.headers["retry-after"]) >= 1
        budget.in_use = 0
        assert post_mask(client).status_code == 200 and budget.in_use == 0  # held, then given back


# --- observed -------------------------------------------------------------------------------------


def counter(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[1])
    raise AssertionError(f"{line_start} is not exported")


@pytest.mark.integration
def test_masks_are_counted_by_source_and_timed(api: TestClient) -> None:
    preview = 'orfeas_masks_total{origin="preview",source="neural"}'
    assert counter(api, preview) == 0
    post_mask(api)
    post_mask(api, mask="none")
    assert counter(api, preview) == 1
    assert counter(api, 'orfeas_masks_total{origin="preview",source="none"}') == 1
    assert counter(api, 'orfeas_mask_duration_seconds_count{origin="preview",source="neural"}') == 1
    assert counter(api, 'orfeas_mask_fallbacks_total{origin="preview"}') == 0


@pytest.mark.unit
def test_the_route_is_documented_with_its_errors(api: TestClient) -> None:
    operation = api.get("/openapi.json").json()["paths"]["/api/v1/mask"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["image"] and form["properties"]["mask"]["default"] == "auto"
    assert {"200", "413", "415", "422", "429", "503"} <= set(operation["responses"])
    jobs = api.get("/openapi.json").json()["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]
    assert "mask_edit" in jobs["multipart/form-data"]["schema"]["properties"]
