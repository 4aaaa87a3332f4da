"""A real uvicorn server process on a loopback port: submit → events → download, cancel, list, engines."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
import trimesh

from orfeas.mesh.exchange import CONTENT_TYPES, FORMATS
from tests.api.conftest import FAST, LiveServer, wait_job
from tests.conftest import disc_rgba, photo_like, png_bytes

pytestmark = pytest.mark.integration

MODES = ("puffy", "relief", "lithophane", "heightmap")


def follow(http: httpx.Client, url: str) -> list[dict[str, Any]]:
    """Every Job JSON sent on an event stream, in order, until the server ends it."""
    messages: list[dict[str, Any]] = []
    with http.stream("GET", url, headers={"Accept": "text/event-stream"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                assert event == "job"
                messages.append(json.loads(line[6:]))
    return messages


def reload_watertight(data: bytes, fmt: str) -> trimesh.Trimesh:
    mesh = trimesh.load(io.BytesIO(data), file_type=fmt, force="mesh")
    assert isinstance(mesh, trimesh.Trimesh) and len(mesh.faces) > 0
    assert mesh.is_watertight, fmt
    return mesh


def test_round_trip_every_mode_and_format(shared_server: LiveServer) -> None:
    pictures = {
        "puffy": png_bytes(disc_rgba(160)),
        "relief": png_bytes(disc_rgba(160, (40, 160, 90))),
        "lithophane": png_bytes(photo_like(128)),
        "heightmap": png_bytes(photo_like(128, seed=3)),
    }
    with shared_server.client() as http:
        submitted = {}
        for mode in MODES:
            response = http.post(
                "/api/v1/jobs",
                files={"image": (f"{mode}.png", pictures[mode], "image/png")},
                data={**FAST, "mode": mode},
            )
            assert response.status_code == 202, response.text
            submitted[mode] = response.json()

        for mode, job in submitted.items():
            messages = follow(http, job["links"]["events"])
            assert messages[0]["id"] == job["id"]
            assert messages[-1]["state"] == "succeeded", messages[-1]["error"]
            assert [m["state"] for m in messages[:-1]] == sorted(
                (m["state"] for m in messages[:-1]), key=["queued", "running"].index
            )
            assert [m["progress"] for m in messages] == sorted(m["progress"] for m in messages)
            final = messages[-1]
            assert final["report"]["watertight"] is True and final["params"]["mode"] == mode
            assert [a["format"] for a in final["artifacts"]] == list(FORMATS)
            for artifact in final["artifacts"]:
                download = http.get(artifact["url"])
                assert download.status_code == 200
                assert download.headers["content-type"] == CONTENT_TYPES[artifact["format"]]
                assert download.headers["content-disposition"].startswith("attachment; filename=")
                assert len(download.content) == artifact["size"]
                reload_watertight(download.content, artifact["format"])


def test_text_job_round_trip(shared_server: LiveServer) -> None:
    with shared_server.client() as http:
        response = http.post(
            "/api/v1/jobs", json={"text": "ORFEAS", "params": {"target_faces": 2000}, "formats": ["3mf"]}
        )
        assert response.status_code == 202
        final = follow(http, response.json()["links"]["events"])[-1]
        assert final["state"] == "succeeded", final["error"]
        reload_watertight(http.get(final["artifacts"][0]["url"]).content, "3mf")
        assert http.get(final["links"]["input"]).headers["content-type"] == "image/png"


def test_cancel_running_and_queued_jobs(shared_server: LiveServer) -> None:
    big = png_bytes(disc_rgba(1024))
    # a job of a second or two (the finest puffy shape), so that the cancel meets it running
    slow = {"mode": "puffy", "detail_mm": "0.1", "size_mm": "200", "target_faces": "1000000"}
    with shared_server.client() as http:
        first = http.post("/api/v1/jobs", files={"image": ("big.png", big, "image/png")}, data=slow).json()
        second = http.post(
            "/api/v1/jobs", files={"image": ("big.png", big, "image/png")}, data={"mode": "puffy"}
        ).json()
        # one worker: the second waits while the first runs (or is about to)
        queued = http.delete(f"/api/v1/jobs/{second['id']}")
        assert queued.status_code == 202 and queued.json()["state"] == "cancelled"
        running = http.delete(f"/api/v1/jobs/{first['id']}")
        assert running.status_code == 202 and running.json()["state"] in ("queued", "running", "cancelled")
        final = follow(http, first["links"]["events"])[-1]
        assert final["state"] == "cancelled" and final["error"]["code"] == "cancelled"
        assert final["artifacts"] == []
        assert http.get(f"/api/v1/jobs/{first['id']}/artifacts/model.stl").status_code == 404
        # a finished job is deleted by a second DELETE
        assert http.delete(f"/api/v1/jobs/{first['id']}").status_code == 204
        assert http.get(f"/api/v1/jobs/{first['id']}").status_code == 404


def test_list_and_engines(shared_server: LiveServer) -> None:
    with shared_server.client() as http:
        ids = []
        for _ in range(3):
            job = http.post("/api/v1/jobs", json={"text": "L", "params": FAST, "formats": ["stl"]}).json()
            ids.append(job["id"])
        for job_id in ids:
            wait_job(http.get, job_id)
        page = http.get("/api/v1/jobs", params={"state": "succeeded", "limit": 2}).json()
        assert len(page["items"]) == 2 and page["total"] >= 3
        assert all(item["state"] == "succeeded" for item in page["items"])
        assert [item["id"] for item in page["items"]] == ids[::-1][:2]  # newest first
        following = http.get("/api/v1/jobs", params={"state": "succeeded", "limit": 2, "offset": 2}).json()
        assert not {i["id"] for i in following["items"]} & {i["id"] for i in page["items"]}

        engines = http.get("/api/v1/engines").json()
        assert engines["default"] == "relief"
        assert [e["name"] for e in engines["engines"] if e["available"]] == ["relief"]
        assert http.get("/api/health").json()["status"] == "online"
        assert http.get("/readyz").json()["status"] == "ready"
