"""The result cache over the API: an identical submission is answered at once with the earlier result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orfeas.mesh import exchange
from tests.api.conftest import FAST, wait_job
from tests.mesh.corpus import box

pytestmark = pytest.mark.integration


def submit(client: TestClient, png: bytes, **fields: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/jobs", files={"image": ("p.png", png, "image/png")}, data={**FAST, **fields}
    )
    assert response.status_code == 202, response.text
    return response.json()


def counter(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not exported")


@pytest.fixture
def cached_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(cache_enabled=True)


def test_an_identical_submission_shares_the_earlier_result(
    cached_client: TestClient, small_png: bytes
) -> None:
    client = cached_client
    first = wait_job(client.get, submit(client, small_png, mode="puffy")["id"])
    assert first["state"] == "succeeded" and first["cached"] is False
    again = submit(client, small_png, mode="puffy", formats="stl,glb")
    # answered at once: succeeded in the submission's own answer, nothing queued
    assert again["state"] == "succeeded" and again["cached"] is True and again["cached_from"] == first["id"]
    assert again["id"] != first["id"] and again["report"] == first["report"]
    assert [a["format"] for a in again["artifacts"]] == ["stl", "glb"]
    for fmt in ("stl", "glb"):
        url = next(a["url"] for a in again["artifacts"] if a["format"] == fmt)
        original = next(a["url"] for a in first["artifacts"] if a["format"] == fmt)
        assert client.get(url).content == client.get(original).content
    assert counter(client, "orfeas_cache_hits_total") == 1
    assert counter(client, "orfeas_cache_misses_total") == 1
    # the copy outlives the job it came from
    assert client.delete(f"/api/v1/jobs/{first['id']}").status_code == 204
    assert client.get(again["artifacts"][0]["url"]).status_code == 200
    assert submit(client, small_png, mode="puffy")["cached"] is False  # that entry went with its job


def test_a_different_submission_is_a_miss(cached_client: TestClient, small_png: bytes) -> None:
    client = cached_client
    wait_job(client.get, submit(client, small_png, mode="puffy")["id"])
    for fields in ({"mode": "relief"}, {"mode": "puffy", "size_mm": "60"}):
        job = submit(client, small_png, **fields)
        assert job["cached"] is False and job["state"] in ("queued", "running", "succeeded")
        wait_job(client.get, job["id"])
    # the default engine named, or a parameter sent at its default value: the same submission
    for fields in ({"mode": "puffy", "engine": "relief"}, {"mode": "puffy", "size_mm": "80"}):
        assert submit(client, small_png, **fields)["cached"] is True


def test_a_mesh_job_is_cached_too(cached_client: TestClient) -> None:
    client = cached_client
    data = exchange.export(box(), "stl")

    def send() -> dict[str, Any]:
        files = {"model": ("cube.stl", data, "model/stl")}
        response = client.post("/api/v1/jobs", files=files, data={"task": "repair", "formats": "stl"})
        assert response.status_code == 202, response.text
        return response.json()

    first = wait_job(client.get, send()["id"])
    again = send()
    assert first["state"] == "succeeded" and again["cached_from"] == first["id"]
    assert client.get(again["links"]["input"]).content == data


def test_the_cache_can_be_turned_off(make_client: Callable[..., TestClient], small_png: bytes) -> None:
    client = make_client(cache_enabled=False)
    wait_job(client.get, submit(client, small_png)["id"])
    assert submit(client, small_png)["cached"] is False
    assert counter(client, "orfeas_cache_hits_total") == 0
    assert counter(client, "orfeas_cache_misses_total") == 0


def test_entries_beyond_the_size_cap_are_forgotten(
    make_client: Callable[..., TestClient], small_png: bytes
) -> None:
    client = make_client(cache_enabled=True, cache_max_bytes=0)
    wait_job(client.get, submit(client, small_png)["id"])
    client.app.state.runtime.retention()  # the periodic housekeeping, run now  # type: ignore[attr-defined]
    assert submit(client, small_png)["cached"] is False
