"""The studio page end to end: a real ORFEAS server, Debian's Chromium, WebGL through SwiftShader.

Every test gets a fresh page whose requests are all recorded: the ``studio`` fixture fails the
test if any left the page's origin or if the page threw. Pictures are small and face counts low
so that jobs take about a second; only the cancel test runs a heavy job on purpose. Meshes are a
few triangles built here with trimesh.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from tests.conftest import OUTPUT_DIR, photo_like, png_bytes
from tests.web.conftest import JOB_TIMEOUT_MS, Studio, broken_cube_stl, heart_rgba

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "studio.png"
FORMATS = ("stl", "3mf", "obj", "glb", "ply")


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _centre(pixels: np.ndarray, share: float = 0.3) -> np.ndarray:
    h, w = pixels.shape[:2]
    dh, dw = int(h * share / 2), int(w * share / 2)
    return pixels[h // 2 - dh : h // 2 + dh, w // 2 - dw : w // 2 + dw]


def _difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of the centres of two screenshots of the same size (0–255)."""
    return float(np.abs(_centre(_pixels(a)) - _centre(_pixels(b))).mean())


def _limits(studio: Studio) -> dict:
    return studio.page.request.get(studio.url + "api/v1/engines").json()["limits"]


def _server_message(studio: Studio, name: str, data: bytes) -> str:
    """What the server itself says about an upload, asked directly (same origin)."""
    answer = studio.page.request.post(
        studio.url + "api/v1/jobs",
        multipart={"image": {"name": name, "mimeType": "image/png", "buffer": data}},
    )
    assert answer.status >= 400
    return answer.json()["error"]["message"]


def _screenshot(studio: Studio, name: str) -> Path:
    OUTPUT_DIR.mkdir(exist_ok=True)
    path = OUTPUT_DIR / name
    studio.page.mouse.move(0, 0)  # no hover effects in the picture
    studio.page.evaluate("document.querySelector('.create').scrollTop = 0")  # the form from its top
    studio.page.screenshot(path=str(path), animations="disabled")
    return path


def _record_progress(studio: Studio) -> None:
    """Keep every value the progress bar shows in ``window.__progress`` (state, stage, percent)."""
    studio.page.evaluate(
        """() => {
            window.__progress = [];
            const card = document.querySelector("#progress");
            const bar = document.querySelector("#progress-bar");
            const title = document.querySelector("#progress-title");
            const note = () => window.__progress.push(
                [card.dataset.state, title.textContent, Number(bar.getAttribute("aria-valuenow"))]
            );
            new MutationObserver(note).observe(bar, { attributes: true, attributeFilter: ["aria-valuenow"] });
            new MutationObserver(note).observe(card, { attributes: true, attributeFilter: ["data-state"] });
        }"""
    )


def test_empty_studio_builds_the_form_from_the_engine_schema(studio: Studio) -> None:
    studio.open()
    page = studio.page
    schema = page.request.get(studio.url + "api/v1/engines").json()["engines"][0]["parameters"]

    # One mode button per value of the schema's enum, the default chosen.
    modes = page.eval_on_selector_all(
        "#params [data-field='mode'] input[type=radio]", "rs => rs.map(r => r.value)"
    )
    assert modes == schema["properties"]["mode"]["enum"]
    assert page.is_checked(
        f"#params [data-field='mode'] input[value='{schema['properties']['mode']['default']}']"
    )
    # Ranges, default and unit come from the schema.
    size = page.locator("#params [data-field='size_mm'] input[type=number]")
    prop = schema["properties"]["size_mm"]
    assert float(size.get_attribute("min")) == prop["minimum"]
    assert float(size.get_attribute("max")) == prop["maximum"]
    assert float(size.input_value()) == prop["default"]
    assert page.inner_text("#params [data-field='size_mm'] .unit") == "mm"
    assert page.inner_text("#params [data-field='size_mm'] label") == "Size"

    # Fields belong to the modes their schema lists.
    def shown(name: str) -> bool:
        # Shown for the mode: not hidden itself, nor in a hidden group (a folded group still counts).
        return page.eval_on_selector(
            f"#params [data-field='{name}']", "el => !el.hidden && !el.closest('details')?.hidden"
        )

    for name, prop in schema["properties"].items():
        if "modes" in prop:
            assert shown(name) == ("puffy" in prop["modes"]), name
    studio.choose_mode("lithophane")
    for name, prop in schema["properties"].items():
        if "modes" in prop:
            assert shown(name) == ("lithophane" in prop["modes"]), name

    # WebGL works: the empty print bed is drawn (not a flat colour).
    bed = _pixels(studio.canvas_png())
    assert bed.std() > 2
    studio.choose_mode("puffy")
    _screenshot(studio, "studio-empty.png")


def test_picture_from_the_file_chooser_becomes_a_model(studio: Studio, tmp_path: Path) -> None:
    studio.open()
    page = studio.page
    picture = tmp_path / "heart.png"
    picture.write_bytes(png_bytes(heart_rgba(240)))
    with page.expect_file_chooser() as chooser:
        page.click("#dropzone")
    chooser.value.set_files(str(picture))
    assert page.inner_text("#file-name") == "heart.png"
    assert page.evaluate("document.querySelector('#image-preview').complete")
    studio.set_param("size_mm", 60)
    studio.set_param("target_faces", 12_000)
    empty = studio.canvas_png()
    page.click("#submit")
    studio.wait_for_model()

    # The model is in the middle of the view, and it is red like the picture.
    solid = studio.canvas_png()
    assert _difference(empty, solid) > 8
    centre = _centre(_pixels(solid))
    reddish = (centre[..., 0] > centre[..., 1] + 40) & (centre[..., 0] > centre[..., 2] + 30)
    assert reddish.mean() > 0.05
    # Dimensions in millimetres: the longest side is the size asked for.
    text = page.inner_text("#dimensions")
    sides = [float(x) for x in re.findall(r"\d+\.\d", text)]
    assert max(sides[:2]) == pytest.approx(60.0, abs=0.2), text

    # Wireframe on and off.
    page.click("#wireframe")
    assert page.get_attribute("#wireframe", "aria-pressed") == "true"
    assert page.get_attribute("#viewer", "data-wireframe") == "on"
    page.wait_for_timeout(150)  # let the next animation frame be drawn
    wire = studio.canvas_png()
    assert _difference(solid, wire) > 3
    page.click("#wireframe")
    assert page.get_attribute("#wireframe", "aria-pressed") == "false"
    page.wait_for_timeout(150)
    assert _difference(solid, studio.canvas_png()) < 1

    # Orbit with the mouse, then reset the view.
    box = page.locator("#viewer canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 160, box["y"] + box["height"] / 2 + 40, steps=6)
    page.mouse.up()
    page.wait_for_timeout(700)  # the orbit eases out over a few frames
    assert _difference(solid, studio.canvas_png()) > 3
    page.click("#reset-view")
    page.wait_for_timeout(700)
    assert _difference(solid, studio.canvas_png()) < 1

    # The report.
    assert page.inner_text("#report .verdict strong")
    facts = dict(
        zip(
            page.eval_on_selector_all("#report dt", "ds => ds.map(d => d.textContent)"),
            page.eval_on_selector_all("#report dd", "ds => ds.map(d => d.textContent)"),
            strict=True,
        )
    )
    assert facts["Watertight"] == "Yes" and facts["Pieces"] == "One piece"
    assert re.fullmatch(r"\d+\.\d % alike, within \d\.\d\d mm", facts["Like the picture"])
    for label in ("Size", "Volume", "Thinnest wall", "Overhangs > 45°", "Filament"):
        assert re.search(r"\d", facts[label]), label
    job_id = page.evaluate("new URLSearchParams(location.hash.slice(1)).get('job')")
    job = page.request.get(f"{studio.url}api/v1/jobs/{job_id}").json()

    # Every download reloads as a closed mesh of the reported size (GLB is in metres).
    links = page.eval_on_selector_all(
        "#downloads a.download", "as => as.map(a => [a.dataset.format, a.href])"
    )
    assert sorted(f for f, _ in links) == sorted(FORMATS)
    for fmt, href in links:
        answer = page.request.get(href)
        assert answer.ok, href
        mesh = trimesh.load(io.BytesIO(answer.body()), file_type=fmt, force="mesh")
        mesh.merge_vertices()
        assert len(mesh.faces) > 0 and mesh.is_watertight, fmt
        scale = 1000.0 if fmt == "glb" else 1.0
        assert max(mesh.extents) * scale == pytest.approx(max(job["report"]["bbox_mm"]), rel=0.01), fmt

    # The job is in the recent list, with its picture as the thumbnail.
    page.wait_for_selector(f"#recent .job[data-job-id='{job_id}'][data-state='succeeded']")
    page.wait_for_function(
        """id => {
            const img = document.querySelector(`#recent .job[data-job-id='${id}'] img`);
            return img && img.complete && img.naturalWidth > 0;
        }""",
        arg=job_id,
    )

    shot = _screenshot(studio, "studio-model.png")
    DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_drop_and_paste_take_a_picture_and_jobs_reopen(studio: Studio) -> None:
    studio.open()
    page = studio.page
    studio.drop("#dropzone", "dropped.png", png_bytes(heart_rgba(200, seed=3)))
    assert page.inner_text("#file-name") == "dropped.png"
    studio.set_param("target_faces", 3000)
    page.click("#submit")
    studio.wait_for_model()
    job_id = page.evaluate("new URLSearchParams(location.hash.slice(1)).get('job')")

    # Paste replaces the picture (from anywhere on the page).
    studio.drop("body", "pasted.png", png_bytes(heart_rgba(120, seed=5)), kind="paste")
    assert page.inner_text("#file-name") == "pasted.png"

    # A fresh page reopens the finished job from the recent list.
    page.goto(studio.url)
    page.wait_for_selector(f"#recent .job[data-job-id='{job_id}']")
    assert page.get_attribute("#viewer", "data-model") != "loaded"
    page.click(f"#recent .job[data-job-id='{job_id}'] .job-open")
    studio.wait_for_model()
    assert page.inner_text("#downloads").count("model.") == len(FORMATS)


def test_text_flow_by_keyboard_on_a_phone(studio: Studio) -> None:
    page = studio.page
    page.set_viewport_size({"width": 390, "height": 844})
    studio.open()
    page.focus("#source-image")
    page.keyboard.press("ArrowRight")  # radio group: the arrow key picks "Text"
    assert page.is_checked("#source-text") and page.is_visible("#text-input")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "text-input"
    page.keyboard.type("ORFEAS")
    # Text makes a name plate unless told otherwise.
    assert page.is_checked("#params [data-field='mode'] input[value='extrude']")
    studio.set_param("target_faces", 4000)
    page.focus("#text-input")
    page.keyboard.press("Enter")
    studio.wait_for_model()
    job_id = page.evaluate("new URLSearchParams(location.hash.slice(1)).get('job')")
    job = page.request.get(f"{studio.url}api/v1/jobs/{job_id}").json()
    assert {k: job["input"][k] for k in ("kind", "text", "filename")} == {
        "kind": "text",
        "text": "ORFEAS",
        "filename": None,
    }
    assert page.inner_text("#report dl")
    # Nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.locator("#viewer").scroll_into_view_if_needed()
    _screenshot(studio, "studio-phone.png")


def test_bad_and_oversized_pictures_show_the_server_message(studio: Studio) -> None:
    studio.open()
    page = studio.page
    limits = _limits(studio)

    # Text renamed to .png: the page sends it, the server says what is wrong, next to the picture.
    fake = b"Dear diary, this is not a picture.\n" * 4
    page.set_input_files(
        "#image-input", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": fake}]
    )
    page.click("#submit")
    page.wait_for_selector("#image-error:not([hidden])")
    assert page.inner_text("#image-error") == _server_message(studio, "notes.png", fake)
    assert page.get_attribute("#image-input", "aria-invalid") == "true"

    # More pixels than the server takes (a flat picture: few bytes, many pixels).
    side = int((limits["max_image_pixels"] * 1.2) ** 0.5) + 1
    big = png_bytes(np.full((side, side, 3), 200, np.uint8))
    assert len(big) < limits["max_upload_bytes"]
    page.set_input_files("#image-input", files=[{"name": "huge.png", "mimeType": "image/png", "buffer": big}])
    assert page.is_hidden("#image-error")  # a new picture clears the old message
    page.click("#submit")
    page.wait_for_selector("#image-error:not([hidden])")
    assert page.inner_text("#image-error") == _server_message(studio, "huge.png", big)

    # Still usable: a good picture goes through.
    page.set_input_files(
        "#image-input",
        files=[{"name": "ok.png", "mimeType": "image/png", "buffer": png_bytes(heart_rgba(96, seed=7))}],
    )
    studio.set_param("target_faces", 2000)
    page.click("#submit")
    studio.wait_for_model()
    assert page.is_hidden("#image-error")


def test_a_file_over_the_byte_limit_is_refused_before_upload(studio: Studio) -> None:
    studio.open()
    page = studio.page
    limit = _limits(studio)["max_upload_bytes"]
    start = len(studio.requests)
    page.set_input_files(
        "#image-input", files=[{"name": "big.png", "mimeType": "image/png", "buffer": b"\0" * (limit + 1)}]
    )
    assert "largest this server accepts" in page.inner_text("#image-error")
    assert not page.is_visible(".drop-full")  # not taken
    page.click("#submit")
    assert page.is_visible("#image-error")
    assert not [u for u in studio.requests[start:] if u.endswith("/api/v1/jobs")]


def test_progress_advances_and_a_running_job_can_be_cancelled(studio: Studio) -> None:
    """A deliberately heavy job: a million-pixel photo at 400 000 faces takes seconds, long
    enough to watch its stages and cancel it between two of them."""
    studio.open()
    page = studio.page
    page.set_input_files(
        "#image-input",
        files=[
            {"name": "photo.png", "mimeType": "image/png", "buffer": png_bytes(photo_like(1024, seed=11))}
        ],
    )
    studio.set_param("target_faces", 400_000)
    _record_progress(studio)
    page.click("#submit")
    page.wait_for_function(
        """() => document.querySelector("#progress").dataset.state === "running"
            && Number(document.querySelector("#progress-bar").getAttribute("aria-valuenow")) > 0""",
        timeout=JOB_TIMEOUT_MS,
    )
    _screenshot(studio, "studio-progress.png")
    first = int(page.get_attribute("#progress-bar", "aria-valuenow"))
    page.wait_for_function(
        "v => Number(document.querySelector('#progress-bar').getAttribute('aria-valuenow')) > v",
        arg=first,
        timeout=JOB_TIMEOUT_MS,
    )
    assert page.locator("#stages li.done").count() >= 1
    page.click("#cancel-job")
    assert studio.wait_for_state("cancelled", "succeeded", "failed") == "cancelled"
    seen = page.evaluate("window.__progress")
    percents = [p for _, _, p in seen]
    assert percents == sorted(percents), seen  # never backwards
    assert any(0 < p < 100 for p in percents), seen
    # The page carries on: the list says so, and the form can submit again.
    job_id = page.evaluate("new URLSearchParams(location.hash.slice(1)).get('job')")
    page.wait_for_selector(f"#recent .job[data-job-id='{job_id}'][data-state='cancelled']")
    assert page.is_enabled("#submit")


def test_progress_falls_back_to_polling_when_the_stream_drops(studio: Studio) -> None:
    page = studio.page
    studio.expected_errors.append("net::ERR_FAILED")
    page.route("**/events", lambda route: route.abort())
    studio.open()
    page.set_input_files(
        "#image-input",
        files=[{"name": "poll.png", "mimeType": "image/png", "buffer": png_bytes(heart_rgba(128, seed=9))}],
    )
    studio.set_param("target_faces", 2000)
    page.click("#submit")
    studio.wait_for_model()
    job_id = page.evaluate("new URLSearchParams(location.hash.slice(1)).get('job')")
    assert any(u.endswith(f"/api/v1/jobs/{job_id}") for u in studio.requests)  # polled


def test_server_errors_appear_at_their_control(studio: Studio) -> None:
    """The page checks ranges itself; with a looser schema it sends a value the server refuses,
    and the server's message lands next to the control its ``field`` names."""
    page = studio.page

    def looser(route):
        answer = route.fetch()
        body = answer.json()
        body["engines"][0]["parameters"]["properties"]["size_mm"]["minimum"] = 1
        route.fulfill(response=answer, body=json.dumps(body))

    page.route("**/api/v1/engines", looser)
    studio.open()
    page.set_input_files(
        "#image-input",
        files=[{"name": "small.png", "mimeType": "image/png", "buffer": png_bytes(heart_rgba(64))}],
    )
    studio.set_param("size_mm", 2)
    page.click("#submit")
    error = page.locator("#params [data-field='size_mm'] .field-error")
    error.wait_for()
    assert "size_mm" in error.inner_text()
    assert page.evaluate("document.activeElement.closest('[data-field]')?.dataset.field") == "size_mm"
    # The page's own check: out of the schema's range, nothing is sent.
    page.unroute("**/api/v1/engines")
    page.reload()
    page.wait_for_selector("#engines .engine-option input:checked", state="attached")
    studio.set_param("size_mm", 2)
    page.click("#submit")
    assert page.inner_text("#params [data-field='size_mm'] .field-error") == "At least 5 mm."


def test_unavailable_engines_are_greyed_with_the_server_reason(studio: Studio) -> None:
    """Every engine the server lists unavailable is greyed with its reason; one more is added to
    the server's answer so the test never depends on what happens to be missing here. A
    text-to-image step (diffusion) is offered for text only when it can run."""
    page = studio.page
    reason = "Example: the package is not installed."
    steps = {
        "type": "object",
        "properties": {
            "steps": {"type": "integer", "minimum": 1, "maximum": 50, "default": 4},
            "width": {"type": "integer", "minimum": 64, "maximum": 2048, "multipleOf": 8, "default": 512},
        },
    }

    def answer_with(diffusion_available: bool):
        def handler(route):
            answer = route.fetch()
            body = answer.json()
            body["engines"].append(
                {
                    "name": "example3d",
                    "version": "0.1",
                    "available": False,
                    "reason": reason,
                    "parameters": {},
                }
            )
            body["text_to_image"] = [
                {
                    "name": "diffusion",
                    "version": "1.0",
                    "available": diffusion_available,
                    "reason": None if diffusion_available else "No weights.",
                    "parameters": steps,
                }
            ]
            route.fulfill(response=answer, body=json.dumps(body))

        return handler

    page.route("**/api/v1/engines", answer_with(False))
    studio.open()
    listed = page.request.get(studio.url + "api/v1/engines").json()["engines"]
    for engine in [*listed, {"name": "example3d", "available": False, "reason": reason}]:
        radio = page.locator(f"input[name='engine'][value='{engine['name']}']")
        assert radio.is_disabled() == (not engine["available"]), engine["name"]
        if not engine["available"]:
            assert engine["reason"] in page.inner_text(f"label[for='engine-{engine['name']}']")
    assert page.is_checked("#engine-relief")
    page.click("label[for='source-text']")
    assert page.locator("#text-style").count() == 0

    page.unroute("**/api/v1/engines")
    page.route("**/api/v1/engines", answer_with(True))
    page.reload()
    page.wait_for_selector("#engines .engine-option input:checked", state="attached")
    page.click("label[for='source-text']")
    assert page.is_checked("#params [data-field='mode'] input[value='extrude']")  # a name plate
    page.click("label[for='text-style-diffusion']")
    assert page.is_visible("#lettering-fields [data-field='steps']")
    # a painted picture is built like any picture: the engine's own default mode, as the pipeline does
    assert page.is_checked("#params [data-field='mode'] input[value='puffy']")
    page.click("label[for='text-style-lettering']")
    assert page.is_checked("#params [data-field='mode'] input[value='extrude']")
    page.click("label[for='text-style-diffusion']")
    # A slider lands on the schema's multiples (a picture width in eights); a typed value that is
    # not one is refused next to the box, before anything is sent.
    width = page.locator("#lettering-fields [data-field='width']")
    for position in ("137", "613", "999"):
        width.locator("input[type=range]").fill(position)
        assert int(width.locator("input[type=number]").input_value()) % 8 == 0
    width.locator("input[type=number]").fill("65")
    page.fill("#text-input", "a pebble")
    page.click("#submit")
    assert "multiple of 8" in width.inner_text()


def test_every_control_has_a_label(studio: Studio) -> None:
    studio.open()
    page = studio.page
    unlabelled = """() => [...document.querySelectorAll('input, select, textarea, button')].filter((el) => {
        if (el.closest('[hidden]') && !el.matches('#image-input')) return false;
        const named = el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
            || (el.tagName === 'BUTTON' && el.textContent.trim());
        return !named;
    }).map((el) => el.outerHTML.slice(0, 120))"""
    assert page.evaluate(unlabelled) == []
    studio.choose_mode("lithophane")
    page.click("label[for='source-text']")
    assert page.evaluate(unlabelled) == []
    page.click("label[for='source-model']")
    page.click("#mesh-options [data-field='task'] label:has-text('Repair')")
    page.click("#mesh-options details.advanced summary")
    assert page.evaluate(unlabelled) == []


# --- meshes (the mesh doctor) ---------------------------------------------------------------------------


def _facts(studio: Studio) -> dict[str, str]:
    page = studio.page
    return dict(
        zip(
            page.eval_on_selector_all("#report dt", "ds => ds.map(d => d.textContent)"),
            page.eval_on_selector_all("#report dd", "ds => ds.map(d => d.textContent)"),
            strict=True,
        )
    )


def _job_id(studio: Studio) -> str:
    return studio.page.evaluate("new URLSearchParams(location.hash.slice(1)).get('job')")


def _submit_again(studio: Studio, previous: str) -> str:
    """Submit and wait for the new job's model (not the previous job's finished state)."""
    studio.page.click("#submit")
    studio.page.wait_for_function(
        "id => new URLSearchParams(location.hash.slice(1)).get('job') !== id", arg=previous
    )
    studio.wait_for_model()
    return _job_id(studio)


def test_a_broken_mesh_is_analysed_then_repaired(studio: Studio) -> None:
    studio.open()
    page = studio.page
    empty = studio.canvas_png()
    page.click("label[for='source-model']")
    # No engine for a mesh: the doctor's options take the place of the engine and its parameters.
    assert page.is_hidden("#engine-field") and page.is_hidden("#params")
    assert page.inner_text("#submit").strip() == "Analyze mesh"
    page.set_input_files(
        "#model-input",
        files=[{"name": "broken-cube.stl", "mimeType": "model/stl", "buffer": broken_cube_stl(20.0)}],
    )
    assert page.inner_text("#model-name") == "broken-cube.stl"

    # Analysis: the mesh as it is, in the viewer, and what is wrong with it.
    page.click("#submit")
    studio.wait_for_model()
    assert _difference(empty, studio.canvas_png()) > 8
    assert page.inner_text("#report .verdict strong") == "Not ready to print"
    problems = page.eval_on_selector_all("#report-problems + ul li", "ls => ls.map(l => l.textContent)")
    assert any("watertight" in p.lower() for p in problems), problems
    assert _facts(studio)["Watertight"] == "No"
    formats = page.eval_on_selector_all("#downloads a.download", "as => as.map(a => a.dataset.format)")
    assert formats == ["glb", "stl"]  # the mesh for viewing, and the file as sent
    analysis_id = _job_id(studio)

    # Repair, scaled to 40 mm and laid flat: the options reach the server.
    page.click("#mesh-options [data-field='task'] label:has-text('Repair')")
    assert page.inner_text("#submit").strip() == "Repair mesh"
    page.fill("#mesh-options [data-field='size_mm'] input", "40")
    page.click("#mesh-options [data-field='lay_flat'] label")
    repair_id = _submit_again(studio, analysis_id)
    job = page.request.get(f"{studio.url}api/v1/jobs/{repair_id}").json()
    assert job["task"] == "repair" and job["input"]["kind"] == "model"
    assert job["params"].items() >= {"size_mm": 40.0, "lay_flat": True}.items()  # the studio's choices
    assert page.inner_text("#report .verdict strong") == "Ready to print"
    changes = page.eval_on_selector_all("#report-changes + ul li", "ls => ls.map(l => l.textContent)")
    assert changes and any("hole" in c.lower() for c in changes), changes
    assert _facts(studio)["Watertight"] == "Yes"
    sides = [float(x) for x in re.findall(r"\d+\.\d", page.inner_text("#dimensions"))]
    assert max(sides) == pytest.approx(40.0, abs=0.2), sides
    # Every format of the repaired mesh, closed; and the file as sent.
    links = page.eval_on_selector_all(
        "#downloads a.download", "as => as.map(a => [a.dataset.format, a.href])"
    )
    assert sorted(f for f, _ in links[:-1]) == sorted(FORMATS)
    assert links[-1][1].endswith(f"/jobs/{repair_id}/artifacts/input.stl")
    stl = dict(links[:-1])["stl"]
    mesh = trimesh.load(io.BytesIO(page.request.get(stl).body()), file_type="stl", force="mesh")
    mesh.merge_vertices()
    assert mesh.is_watertight and max(mesh.extents) == pytest.approx(40.0, rel=0.01)

    # The recent list names the file and the task, with its format for a thumbnail.
    item = page.locator(f"#recent .job[data-job-id='{repair_id}']")
    item.wait_for()
    assert item.locator(".job-title").inner_text() == "broken-cube.stl"
    assert item.locator(".job-engine").inner_text().startswith("Mesh repair")
    assert item.locator(".thumb").inner_text() == "STL"

    # The same repair again is answered from the cache, and says so.
    _submit_again(studio, repair_id)
    page.wait_for_selector("#report .cache-note")
    assert "cache" in page.inner_text("#progress-title")

    # A mesh job opens from its address like any job.
    page.goto(f"{studio.url}#job={repair_id}")
    page.reload()
    studio.wait_for_model()
    assert page.locator("#report-changes + ul li").count() == len(changes)
    # and the form shows how it was asked for: a mesh, to repair
    assert page.is_checked("#source-model") and page.is_hidden("#engine-field")
    assert page.inner_text("#submit").strip() == "Repair mesh"


def test_mesh_errors_appear_at_the_picker_on_a_phone(studio: Studio) -> None:
    """A hostile file is refused by the server with its reason next to the mesh picker; the page
    itself refuses what is not a mesh by name or is over the server's size limit."""
    page = studio.page
    page.set_viewport_size({"width": 390, "height": 844})
    limit = 4096  # a small limit (from the server's answer, edited) keeps the "too big" file small

    def small_limit(route):
        answer = route.fetch()
        body = answer.json()
        body["limits"]["max_model_bytes"] = limit
        route.fulfill(response=answer, body=json.dumps(body))

    page.route("**/api/v1/engines", small_limit)
    studio.open()
    page.click("label[for='source-model']")
    page.click("#mesh-options [data-field='task'] label:has-text('Repair')")

    # A binary STL whose triangle count lies (cut short): 422 corrupt, field "model".
    whole = broken_cube_stl(10.0)
    truncated = whole[: len(whole) - 60]
    page.set_input_files(
        "#model-input", files=[{"name": "cut.stl", "mimeType": "model/stl", "buffer": truncated}]
    )
    page.click("#submit")
    page.wait_for_selector("#model-error:not([hidden])")
    answer = page.request.post(
        studio.url + "api/v1/jobs",
        multipart={"model": {"name": "cut.stl", "mimeType": "model/stl", "buffer": truncated}},
    )
    assert answer.status == 422 and answer.json()["error"]["field"] == "model"
    assert page.inner_text("#model-error") == answer.json()["error"]["message"]
    assert page.get_attribute("#model-input", "aria-invalid") == "true"
    assert page.is_hidden("#form-error")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.evaluate("window.scrollTo(0, 0)")  # the picker and its message in the picture
    _screenshot(studio, "studio-mesh-phone.png")

    # Refused before upload: not a mesh by its name, and over the server's limit.
    start = len(studio.requests)
    page.set_input_files(
        "#model-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"solid?"}]
    )
    assert "not a mesh" in page.inner_text("#model-error")
    page.set_input_files(
        "#model-input", files=[{"name": "big.stl", "mimeType": "model/stl", "buffer": b"\0" * (limit + 1)}]
    )
    assert "largest mesh this server accepts" in page.inner_text("#model-error")
    assert not page.is_visible("#model-dropzone .drop-full")  # not taken
    page.click("#submit")
    assert page.is_visible("#model-error")
    assert not [u for u in studio.requests[start:] if u.endswith("/api/v1/jobs")]
