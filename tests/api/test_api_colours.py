"""A colour print over HTTP: ``colors`` in the form, the ZIP of one STL per colour among the formats
(written by default for a colour print), served as ``application/zip``; the report's palette."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import wait_job
from tests.pictures import logo_badge

pytestmark = pytest.mark.integration


def test_a_colour_keychain_serves_its_zip_of_stls_and_its_palette(client: TestClient) -> None:
    response = client.post(
        "/api/v1/jobs",
        files={"image": ("logo.png", logo_badge(), "image/png")},
        data={"mode": "keychain", "params": json.dumps({"colors": 3})},
    )
    assert response.status_code == 202, response.text
    done = wait_job(client.get, response.json()["id"])
    assert done["state"] == "succeeded", done["error"]
    names = [a["name"] for a in done["artifacts"]]
    assert "model.stl.zip" in names and "model.3mf" in names  # the ZIP comes by default
    archive = next(a for a in done["artifacts"] if a["name"] == "model.stl.zip")
    got = client.get(archive["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(got.content)) as members:
        assert len([n for n in members.namelist() if n.endswith(".stl")]) == 3
    palette = done["report"]["colours"]
    assert palette["count"] == 3 and len(palette["parts"]) == 3
    assert all(p["hex"].startswith("#") and p["filament_g"] > 0 for p in palette["parts"])


def test_an_unknown_format_names_the_zip_among_the_choices(client: TestClient) -> None:
    response = client.post(
        "/api/v1/jobs",
        files={"image": ("logo.png", logo_badge(), "image/png")},
        data={"mode": "keychain", "formats": "stl,zip"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "formats" and "stl.zip" in error["message"]
