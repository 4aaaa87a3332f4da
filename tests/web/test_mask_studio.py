"""The studio's cut-out, end to end in Chromium: a photo dropped on the page gets its subject mask
laid over it at once, the source can be switched, a brush (real pointer events: mouse, touch,
pen) removes or adds areas, and the model built afterwards follows the edited mask."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from orfeas.mesh import exchange
from orfeas.mesh.raster import PixelGrid, mesh_height_map, shaded
from tests.conftest import OUTPUT_DIR, ball_on_gravel, edited_mask, png_bytes, silhouette_iou
from tests.web.conftest import JOB_TIMEOUT_MS, Studio, heart_rgba
from tests.web.test_accessibility import _assert_clean

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SIDE = 420
BALL, TRUTH = ball_on_gravel(SIDE)

#: A pixel of the drawn cut-out (the canvas is the mask's size: here the picture's).
_PIXEL = """([x, y]) => Array.from(
    document.querySelector('#mask-canvas').getContext('2d').getImageData(x, y, 1, 1).data
)"""


def _drop_ball(studio: Studio) -> None:
    studio.drop("#dropzone", "ball-on-gravel.png", png_bytes(BALL))
    studio.page.wait_for_selector(
        "#mask-editor[data-state='ready']", state="attached", timeout=JOB_TIMEOUT_MS
    )


def _stroke(studio: Studio, points: list[tuple[float, float]]) -> None:
    """A brush stroke with the mouse through ``points`` given in fractions of the canvas."""
    box = studio.page.locator("#mask-canvas").bounding_box()
    assert box is not None
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    studio.page.mouse.move(*at[0])
    studio.page.mouse.down()
    for x, y in at[1:]:
        studio.page.mouse.move(x, y, steps=4)
    studio.page.mouse.up()


def _strokes(studio: Studio) -> int:
    return int(studio.page.get_attribute("#mask-editor", "data-strokes") or 0)


def _shot(studio: Studio, name: str) -> None:
    OUTPUT_DIR.mkdir(exist_ok=True)
    studio.page.mouse.move(0, 0)
    studio.page.screenshot(path=str(OUTPUT_DIR / name), animations="disabled")


def test_the_cut_out_appears_on_a_drop_and_the_brush_edit_shapes_the_model(studio: Studio) -> None:
    studio.open()
    page = studio.page
    _drop_ball(studio)

    # The server's mask over the picture: the ball as it is, the gravel dimmed, said who made it.
    status = page.inner_text("#mask-status")
    assert status.startswith("Neural") and "% sure" in status
    assert page.get_attribute("#mask-editor", "data-source") == "neural"
    width = int(page.eval_on_selector("#mask-canvas", "c => c.width"))
    assert width == SIDE  # the mask at the picture's size (at most 1024 px)
    ball = page.evaluate(_PIXEL, [round(0.55 * SIDE), round(0.5 * SIDE)])
    gravel = page.evaluate(_PIXEL, [8, 8])
    assert ball[2] > 150 and abs(ball[2] - BALL[round(0.5 * SIDE), round(0.55 * SIDE), 2]) < 12
    assert sum(gravel[:3]) < 0.45 * sum(BALL[8, 8, :3].astype(int))  # dimmed: left out of the model
    # Alpha cannot answer for an opaque photo, and says why; the others can be switched to.
    assert page.is_disabled("#mask-source-alpha")
    assert "no transparent background" in page.inner_text("#mask-source-note")
    page.click("label[for='mask-source-grabcut']")
    page.wait_for_function("() => !document.querySelector('#mask-status').textContent.startsWith('Neural')")
    page.wait_for_selector("#mask-editor[data-state='ready']", state="attached")
    assert page.eval_on_selector("#params [data-field='mask'] select", "s => s.value") == "grabcut"  # in step
    page.select_option("#params [data-field='mask'] select", "auto")  # and the other way round
    page.wait_for_selector("#mask-editor[data-source='neural']", state="attached", timeout=JOB_TIMEOUT_MS)
    _shot(studio, "studio-mask-overlay.png")

    # Paint out the ball's left part (to the picture's edge, as a person would) with the mouse.
    page.locator("#mask-size").evaluate("e => { e.value = 60; e.dispatchEvent(new Event('input')) }")
    for fx in np.linspace(0.03, 0.38, 6):
        _stroke(studio, [(fx, 0.02), (fx, 0.5), (fx, 0.98)])
    # A stroke that adds gravel, then taken back: Undo.
    page.click("label[for='mask-brush-add']")
    _stroke(studio, [(0.9, 0.1), (0.95, 0.2)])
    assert _strokes(studio) == 7
    page.click("#mask-undo")
    assert _strokes(studio) == 6
    page.click("label[for='mask-brush-remove']")
    assert page.evaluate(_PIXEL, [round(0.32 * SIDE), round(0.5 * SIDE)])[2] < 0.5 * ball[2]  # now dimmed
    _shot(studio, "studio-mask-brushed.png")

    studio.set_param("target_faces", 5000)
    page.click("#submit")
    studio.wait_for_model()
    job_id = page.evaluate("() => new URLSearchParams(location.hash.slice(1)).get('job')")
    job = page.request.get(f"{studio.url}api/v1/jobs/{job_id}").json()
    assert job["input"]["mask_edit"] is True and job["report"]["engine"]["mask_method"] == "neural"
    sent = page.request.get(studio.url + job["links"]["mask_edit"].lstrip("/")).body()
    edit = np.asarray(Image.open(io.BytesIO(sent)))
    assert edit.shape == (SIDE, SIDE)
    painted = edit == 0
    assert painted[:, : round(0.3 * SIDE)].mean() > 0.95  # the band brushed out
    assert not painted[:, round(0.5 * SIDE) :].any() and not (edit == 255).any()  # nothing else, no add
    # The model seen from above is the edited mask: the ball without its left part.
    stl = next(a["url"] for a in job["artifacts"] if a["format"] == "stl")
    model = exchange.load(page.request.get(studio.url + stl.lstrip("/")).body(), "stl")
    wanted = edited_mask(TRUTH, edit)
    assert silhouette_iou(model, wanted) >= 0.93
    assert silhouette_iou(model, TRUTH) < 0.85  # the whole ball it would have been
    # And on its own scale: the model's footprint has the edited mask's proportions (about half as
    # wide as deep), not the whole ball's (as wide as deep).
    rows, cols = np.nonzero(wanted)
    low, high = model.bounds
    wanted_ratio = (cols.max() - cols.min() + 1) / (rows.max() - rows.min() + 1)
    assert abs((high[0] - low[0]) / (high[1] - low[1]) - wanted_ratio) < 0.05 < 1 - wanted_ratio
    top = shaded(mesh_height_map(model, PixelGrid.around(low, high, (high[0] - low[0]) / 400)))
    Image.fromarray(top).save(OUTPUT_DIR / "studio-mask-model-top.png")
    _shot(studio, "studio-mask-model.png")


def test_touch_and_a_pen_paint_as_well(browser, studio_url: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        studio = Studio(page=page, url=studio_url)
        studio.open()
        _drop_ball(studio)
        box = page.locator("#mask-canvas").bounding_box()
        assert box is not None
        cdp = context.new_cdp_session(page)

        def at(fx: float, fy: float) -> dict[str, float]:
            return {"x": box["x"] + fx * box["width"], "y": box["y"] + fy * box["height"]}

        # A finger drags across the ball's right part: it paints (touch-action none), it does not scroll.
        scrolled = page.evaluate("() => document.querySelector('.create').scrollTop")
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at(0.7, 0.3)]})
        for fy in np.linspace(0.3, 0.7, 8):
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [at(0.7, float(fy))]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.wait_for_function("() => document.querySelector('#mask-editor').dataset.strokes === '1'")
        assert page.evaluate("() => document.querySelector('.create').scrollTop") == scrolled
        # A pen adds a dab of gravel back, pressing lightly.
        page.click("label[for='mask-brush-add']")
        pen = {"button": "left", "pointerType": "pen", "force": 0.4, "clickCount": 1}
        cdp.send("Input.dispatchMouseEvent", {"type": "mousePressed", **at(0.1, 0.1), **pen})
        cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", **at(0.12, 0.12), **pen})
        cdp.send("Input.dispatchMouseEvent", {"type": "mouseReleased", **at(0.12, 0.12), **pen})
        page.wait_for_function("() => document.querySelector('#mask-editor').dataset.strokes === '2'")
        side = int(page.eval_on_selector("#mask-canvas", "c => c.width"))
        touched = page.evaluate(_PIXEL, [round(0.7 * side), round(0.5 * side)])
        added = page.evaluate(_PIXEL, [round(0.11 * side), round(0.11 * side)])
        untouched = page.evaluate(_PIXEL, [round(0.11 * side), round(0.9 * side)])
        assert touched[2] < 0.6 * BALL[round(0.5 * SIDE), round(0.7 * SIDE), 2]  # the finger removed it
        assert sum(added[:3]) > 1.6 * sum(untouched[:3])  # the pen brought gravel back, undimmed
        page.click("#mask-clear")
        assert page.get_attribute("#mask-editor", "data-strokes") == "0" and page.is_disabled("#mask-undo")
    finally:
        context.close()
    assert not errors, errors


def test_the_keyboard_paints_and_the_cut_out_has_no_violations(audited_studio: Studio) -> None:
    """Arrow keys move the brush on the focused canvas and Space puts it down and lifts it; the
    cut-out's states (a photo with Alpha off and why, an edit painted) pass axe-core's audit."""
    studio = audited_studio
    studio.open()
    page = studio.page
    _drop_ball(studio)
    findings = studio.audit("a photo's cut-out")

    page.focus("#mask-canvas")
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")  # reached by keyboard: its focus is visible
    assert page.evaluate("() => document.activeElement.id") == "mask-canvas"
    outline = page.eval_on_selector("#mask-canvas", "c => getComputedStyle(c).outlineWidth")
    assert page.evaluate("() => document.activeElement.matches(':focus-visible')") and outline == "2px"
    scrolled = page.evaluate("() => document.querySelector('.create').scrollTop")
    # The brush starts in the middle (the ball): Space puts it down, Shift+ArrowRight drags it to
    # the right edge, Space lifts it, so a band from the middle to the right is removed.
    page.keyboard.press("Space")
    for _ in range(8):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")  # lifted: moving paints nothing more
    assert _strokes(studio) == 1
    assert page.evaluate("() => document.querySelector('.create').scrollTop") == scrolled
    centre = page.evaluate(_PIXEL, [round(0.62 * SIDE), round(0.5 * SIDE)])
    below = page.evaluate(_PIXEL, [round(0.62 * SIDE), round(0.68 * SIDE)])
    assert centre[2] < 0.6 * below[2]  # the band is dimmed, the ball below it is not
    findings += studio.audit("a photo's cut-out with a keyboard edit")
    _shot(studio, "studio-mask-keyboard.png")

    # Alpha asked for in the form, on an opaque photo: the server's reason is shown, and the form
    # and the switch go back to the cut-out that stands (the edit stays).
    page.select_option("#params [data-field='mask'] select", "alpha")
    page.wait_for_function(
        "() => document.querySelector('#mask-status').textContent.includes('no transparent')"
    )
    assert page.eval_on_selector("#params [data-field='mask'] select", "s => s.value") == "auto"
    assert page.is_checked("#mask-source-auto") and _strokes(studio) == 1

    # Another picture, with a transparent background: a fresh cut-out from its alpha, the edit gone.
    studio.drop("#dropzone", "heart.png", png_bytes(heart_rgba(240, seed=4)))
    page.wait_for_selector("#mask-editor[data-source='alpha'][data-state='ready']", state="attached")
    assert page.inner_text("#mask-status").startswith("Transparency")
    assert (
        _strokes(studio) == 0
        and page.is_disabled("#mask-undo")
        and not page.is_disabled("#mask-source-alpha")
    )
    assert int(page.eval_on_selector("#mask-canvas", "c => c.width")) == 240
    findings += studio.audit("a transparent picture's cut-out")
    _assert_clean(findings)
