"""Mesh jobs over the API: ``POST /api/v1/jobs`` with a ``model`` file and ``task=analyze|repair``.

The same corpus as the doctor's own tests goes through the service: each broken mesh comes back
closed, manifold and with the right volume; hostile files are refused with a typed 4xx and leave
nothing behind.
"""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trimesh
from fastapi.testclient import TestClient

from orfeas.mesh import exchange
from tests.api.conftest import job_files, wait_job
from tests.conftest import require_tool
from tests.mesh.corpus import CAPS, HOSTILE_MESHES, box, broken_corpus

pytestmark = pytest.mark.integration


def submit_model(
    client: TestClient, data: bytes, name: str = "part.stl", **fields: Any
) -> tuple[int, dict[str, Any]]:
    response = client.post(
        "/api/v1/jobs", files={"model": (name, data, "application/octet-stream")}, data=fields
    )
    return response.status_code, response.json()


def download(client: TestClient, job: dict[str, Any], fmt: str) -> bytes:
    artifact = next(a for a in job["artifacts"] if a["format"] == fmt)
    response = client.get(artifact["url"])
    assert response.status_code == 200, response.text
    return response.content


def test_repair_jobs_make_the_broken_corpus_printable(client: TestClient, tmp_path: Path) -> None:
    """Each broken mesh, sent as OBJ: PrusaSlicer calls every repaired STL manifold, volumes ±1 %."""
    submitted = {}
    for name, (mesh, options, volume_cm3) in broken_corpus().items():
        fields = {"task": "repair", "formats": "stl,3mf"}
        if options.units_to_mm == 25.4:
            fields["units"] = "in"
        status, body = submit_model(client, exchange.export(mesh, "obj"), f"{name}.obj", **fields)
        assert status == 202, body
        assert (body["task"], body["engine"], body["input"]["kind"]) == ("repair", "doctor", "model")
        submitted[name] = (body["id"], volume_cm3)
    paths, volumes = [], []
    for name, (job_id, volume_cm3) in submitted.items():
        job = wait_job(client.get, job_id)
        assert job["state"] == "succeeded", (name, job["error"])
        assert {a["format"] for a in job["artifacts"]} == {"stl", "3mf"}
        report = job["report"]
        assert report["printable"] and report["changes"] and report["task"] == "repair"
        assert report["volume_cm3"] == pytest.approx(volume_cm3, rel=0.01), name
        stl = download(client, job, "stl")
        assert abs(exchange.load(stl, "stl").volume) / 1000 == pytest.approx(volume_cm3, rel=0.01), name
        assert abs(exchange.load(download(client, job, "3mf"), "3mf").volume) / 1000 == pytest.approx(
            volume_cm3, rel=0.01
        )
        paths.append(tmp_path / f"{name}.stl")
        paths[-1].write_bytes(stl)
        volumes.append(volume_cm3 * 1000)
    slicer = require_tool("prusa-slicer")
    info = subprocess.run(
        [slicer, "--info", *map(str, paths)], capture_output=True, text=True, timeout=300, check=True
    )
    assert re.findall(r"^manifold = (\w+)", info.stdout, flags=re.MULTILINE) == ["yes"] * len(paths)
    found = [float(v) for v in re.findall(r"^volume = ([\d.]+)", info.stdout, flags=re.MULTILINE)]
    assert found == pytest.approx(volumes, rel=0.01)


def test_analyze_job_reports_the_mesh_as_it_is(client: TestClient) -> None:
    cube = box()
    holed = trimesh.Trimesh(cube.vertices, cube.faces[:-1], process=False)
    data = exchange.export(holed, "stl")
    status, body = submit_model(client, data, "holed.stl", task="analyze")
    assert status == 202, body
    job = wait_job(client.get, body["id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["report"]["watertight"] is False and job["report"]["printable"] is False
    assert job["report"]["changes"] == [] and job["report"]["input"]["format"] == "stl"
    assert [a["format"] for a in job["artifacts"]] == ["glb"]  # for viewing, unchanged
    viewed = trimesh.load(io.BytesIO(download(client, job, "glb")), file_type="glb", force="mesh")
    assert len(viewed.faces) == 11
    sent_back = client.get(job["links"]["input"])
    assert sent_back.status_code == 200 and sent_back.content == data
    assert job["links"]["input"].endswith("/artifacts/input.stl")


def test_repair_options_size_and_lay_flat(client: TestClient) -> None:
    plate = box((30, 20, 4))
    plate.apply_transform(trimesh.transformations.rotation_matrix(1.0, [1, 1, 0]))
    status, body = submit_model(
        client, exchange.export(plate, "ply"), "plate.ply", task="repair", size_mm="60", lay_flat="true"
    )
    assert status == 202, body
    job = wait_job(client.get, body["id"])
    assert job["state"] == "succeeded", job["error"]
    size = job["report"]["bbox_mm"]
    assert max(size) == pytest.approx(60, abs=0.05)
    assert size[2] == pytest.approx(min(size)) and size[2] < 15  # the 4 mm side is now the height
    assert job["params"].items() >= {"size_mm": 60.0, "lay_flat": True}.items()


def test_a_mesh_that_cannot_be_repaired_fails_with_the_reason(client: TestClient) -> None:
    sheet = trimesh.Trimesh([[0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0]], [[0, 1, 2], [1, 3, 2]])
    status, body = submit_model(client, exchange.export(sheet, "obj"), "sheet.obj", task="repair")
    assert status == 202, body
    job = wait_job(client.get, body["id"])
    assert job["state"] == "failed"
    assert job["error"]["code"] == "mesh_invalid" and "closed" in job["error"]["message"]
    assert job["artifacts"] == []


@pytest.mark.security
def test_hostile_mesh_files_are_refused_and_leave_nothing(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_model_bytes=CAPS["max_bytes"], max_model_faces=CAPS["max_faces"])
    status_of = {"empty": 422, "corrupt": 422, "too_large": 413, "unsupported_type": 415}
    for name, (data, code) in HOSTILE_MESHES.items():
        status, body = submit_model(client, data, f"{name}.stl", task="repair")
        assert status == status_of[code], (name, body)
        assert body["error"]["code"] == code and body["error"]["field"] == "model", (name, body)
        assert body["error"]["message"]
    assert client.get("/api/v1/jobs").json()["total"] == 0
    assert job_files(client.data_dir) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"task": "print"}, "task"),
        ({"task": "repair", "size_mm": "-5"}, "size_mm"),
        ({"task": "repair", "units": "furlong"}, "units"),
        ({"task": "repair", "colour": "red"}, "colour"),
        ({"task": "repair", "formats": "stl,dwg"}, "formats"),
    ],
)
def test_bad_mesh_job_fields_are_422_with_the_field(
    client: TestClient, fields: dict[str, str], field: str
) -> None:
    status, body = submit_model(client, exchange.export(box(), "stl"), **fields)
    assert status == 422, body
    assert body["error"]["field"] == field, body
    assert client.get("/api/v1/jobs").json()["total"] == 0


def test_a_mesh_task_needs_a_mesh(client: TestClient, small_png: bytes) -> None:
    response = client.post(
        "/api/v1/jobs", files={"image": ("p.png", small_png, "image/png")}, data={"task": "repair"}
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "task"
