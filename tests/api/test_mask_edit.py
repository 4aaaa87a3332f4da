"""A painted mask edit travels with its job: checked like the picture, stored beside it (on the
embedded and the Celery backend), part of the result-cache key, and the model follows it."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from orfeas.mesh import exchange
from tests.api.conftest import job_files, wait_job
from tests.conftest import ball_on_gravel, edited_mask, png_bytes, silhouette_iou

pytestmark = pytest.mark.integration

SIDE = 320
BALL, TRUTH = ball_on_gravel(SIDE)
BALL_PNG = png_bytes(BALL)
FIELDS = {"target_faces": "5000", "formats": "stl,glb"}


def edit_removing(left: float, right: float, side: int = SIDE) -> np.ndarray:
    """A brush edit that paints out the columns between ``left`` and ``right`` (fractions), all
    else left to the mask source (mid-grey)."""
    edit = np.full((side, side), 128, np.uint8)
    edit[:, round(left * side) : round(right * side)] = 0
    return edit


def submit(client: TestClient, edit: np.ndarray | None, **fields: str) -> dict[str, Any]:
    files = {"image": ("ball.png", BALL_PNG, "image/png")}
    if edit is not None:
        files["mask_edit"] = ("edit.png", png_bytes(edit), "image/png")
    answer = client.post("/api/v1/jobs", files=files, data={**FIELDS, **fields})
    assert answer.status_code == 202, answer.text
    return answer.json()


def model_of(client: TestClient, job: dict[str, Any]) -> Any:
    url = next(a["url"] for a in job["artifacts"] if a["format"] == "stl")
    return exchange.load(client.get(url).content, "stl")


def test_a_brush_edit_round_trips_through_a_job(client: TestClient) -> None:
    edit = edit_removing(0.2, 0.45, side=SIDE // 2)  # painted on a half-size copy: it scales
    sent = submit(client, edit)
    assert sent["input"]["mask_edit"] is True and sent["links"]["mask_edit"].endswith("/mask-edit.png")
    job = wait_job(client.get, sent["id"])
    assert job["state"] == "succeeded", job["error"]
    engine = job["report"]["engine"]
    assert engine["mask_method"] == "neural" and engine["mask_edited"] == pytest.approx(0.25, abs=0.01)
    # the stored edit is the one sent, in its canonical three levels
    stored = client.get(job["links"]["mask_edit"])
    assert stored.status_code == 200 and stored.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(stored.content))), edit)
    # the model seen from above is the edited subject: the ball with the painted-out band missing
    wanted = edited_mask(TRUTH, edit)
    model = model_of(client, job)
    assert silhouette_iou(model, wanted) >= 0.95
    plain = wait_job(client.get, submit(client, None)["id"])
    assert silhouette_iou(model_of(client, plain), TRUTH) >= 0.95  # without the edit: the whole ball
    assert silhouette_iou(model_of(client, plain), wanted) < 0.8
    if client.backend == "embedded":  # with Celery, the worker process records its jobs' metrics
        text = client.get("/metrics").text
        assert 'orfeas_masks_total{origin="job",source="neural"} 2.0' in text


def test_a_different_edit_is_a_different_cache_entry(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cache_enabled=True)
    left, right = edit_removing(0.2, 0.45), edit_removing(0.6, 1.0)
    first = wait_job(client.get, submit(client, left)["id"])
    assert first["state"] == "succeeded" and first["cached"] is False
    again = submit(client, left)
    assert again["cached"] is True and again["cached_from"] == first["id"]
    assert client.get(again["links"]["mask_edit"]).content == client.get(first["links"]["mask_edit"]).content
    other = submit(client, right)
    assert other["cached"] is False  # another edit of the same picture is built anew
    other = wait_job(client.get, other["id"])
    assert silhouette_iou(model_of(client, other), edited_mask(TRUTH, right)) >= 0.95
    assert submit(client, None)["cached"] is False  # and no edit at all is another entry again


def test_an_edit_of_another_shape_or_without_a_picture_is_refused_and_stores_nothing(
    client: TestClient,
) -> None:
    def refused(answer: Any, status: int = 422, field: str = "mask_edit") -> str:
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["field"] == field
        return answer.json()["error"]["message"]

    narrow = np.full((SIDE, SIDE // 2), 0, np.uint8)
    message = refused(
        client.post(
            "/api/v1/jobs",
            files={
                "image": ("ball.png", BALL_PNG, "image/png"),
                "mask_edit": ("edit.png", png_bytes(narrow), "image/png"),
            },
        )
    )
    assert f"{SIDE // 2} × {SIDE}" in message and f"{SIDE} × {SIDE}" in message
    edit = ("edit.png", png_bytes(edit_removing(0.2, 0.4)), "image/png")
    refused(client.post("/api/v1/jobs", data={"text": "HI"}, files={"mask_edit": edit}))
    refused(
        client.post(
            "/api/v1/jobs",
            files={"model": ("m.stl", b"solid x\nendsolid x\n", "model/stl"), "mask_edit": edit},
        )
    )
    refused(client.post("/api/v1/jobs", json={"text": "HI", "mask_edit": True}))
    refused(
        client.post(
            "/api/v1/jobs", files={"image": ("ball.png", BALL_PNG, "image/png")}, data={"mask_edit": "yes"}
        )
    )
    three = [
        ("image", ("a.png", BALL_PNG, "image/png")),
        ("mask_edit", edit),
        ("model", ("m.stl", b"x", "model/stl")),
    ]
    refused(client.post("/api/v1/jobs", files=three), field="model")  # one input: a picture or a mesh
    assert client.get("/api/v1/jobs").json()["total"] == 0
    assert job_files(client.data_dir) == []  # type: ignore[attr-defined]
