"""The studio's accessibility: axe-core's WCAG 2 A/AA audit of its main states, and keyboard use.

The audit (axe-core from npm, installed for the tests only by ``make tools``) is injected into
pages of a context that bypasses CSP; the server still sends its strict CSP, which each audit
checks. Every state must have no violation at all.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import png_bytes
from tests.web.conftest import Studio, broken_cube_stl, heart_rgba

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _assert_clean(findings: list[dict]) -> None:
    assert not findings, "axe-core found WCAG 2 A/AA violations:\n" + json.dumps(findings, indent=2)


def _assert_strict_csp(studio: Studio) -> None:
    """The page the audit ran on was served with the studio's own strict policy."""
    policy = studio.page.request.get(studio.url).headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self';" in policy
    assert "unsafe-inline" not in policy and "http" not in policy


def _open_advanced(studio: Studio, within: str) -> None:
    for summary in studio.page.locator(f"{within} details.advanced:not([open]) > summary").all():
        if summary.is_visible():
            summary.click()


def _picture(studio: Studio, seed: int) -> None:
    studio.page.set_input_files(
        "#image-input",
        files=[
            {"name": "heart.png", "mimeType": "image/png", "buffer": png_bytes(heart_rgba(200, seed=seed))}
        ],
    )
    studio.page.wait_for_selector("#dropzone.has-file")


def test_picture_states_have_no_violations(audited_studio: Studio) -> None:
    studio = audited_studio
    studio.open()
    page = studio.page
    findings = studio.audit("empty")

    _picture(studio, seed=11)
    _open_advanced(studio, "#params")
    findings += studio.audit("picture loaded, advanced parameters open")

    # A value the server would refuse, shown next to its box.
    studio.set_param("size_mm", 1)
    page.click("#submit")
    page.wait_for_selector("#params .field.invalid")
    findings += studio.audit("a parameter out of range")

    studio.set_param("size_mm", 50)
    studio.set_param("target_faces", 3000)
    page.click("#submit")
    studio.wait_for_model()
    page.wait_for_selector("#recent .job[data-state='succeeded']")
    findings += studio.audit("a finished model with its report")
    _assert_clean(findings)
    _assert_strict_csp(studio)


def test_text_and_mesh_tabs_have_no_violations(audited_studio: Studio) -> None:
    studio = audited_studio
    studio.open()
    page = studio.page
    page.click("label[for='source-text']")
    page.fill("#text-input", "ORFEAS")
    page.click("#lettering > summary")
    findings = studio.audit("Text tab, lettering open")

    page.click("label[for='source-model']")
    _open_advanced(studio, "#mesh-options")
    findings += studio.audit("Mesh tab, advanced options open")

    page.set_input_files(
        "#model-input", files=[{"name": "cube.stl", "mimeType": "model/stl", "buffer": broken_cube_stl()}]
    )
    page.click("#submit")
    studio.wait_for_model()
    findings += studio.audit("Mesh tab, an analysed broken mesh")
    _assert_clean(findings)
    _assert_strict_csp(studio)


def test_phone_viewport_has_no_violations(audited_studio: Studio) -> None:
    studio = audited_studio
    studio.page.set_viewport_size({"width": 390, "height": 844})
    studio.open()
    page = studio.page
    findings = studio.audit("phone, empty")
    page.click("label[for='source-text']")
    page.fill("#text-input", "HI")
    studio.set_param("target_faces", 3000)
    page.click("#submit")
    studio.wait_for_model()
    findings += studio.audit("phone, a finished text model")
    _assert_clean(findings)


# --- keyboard -----------------------------------------------------------------------------------------

#: Marks every control a person can operate now with ``data-kb`` (a radio group shares one mark:
#: Tab reaches the group, arrow keys move within it) and returns their descriptions by mark.
_MARK_CONTROLS = """() => {
    const rendered = (e) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden";
    };
    const marks = {};
    const groups = {};
    for (const el of document.querySelectorAll("[data-kb]")) delete el.dataset.kb;
    const controls = "a[href], button, input, select, textarea, summary, [tabindex]";
    for (const el of document.querySelectorAll(controls)) {
        if (el.disabled || el.closest("[hidden], [inert]")) continue;
        if (el.tabIndex < 0 && !el.matches("input")) continue;
        const folded = el.closest("details:not([open])");
        if (folded && !(el.matches("summary") && el.parentElement === folded)) continue;
        // A visually hidden input (radio, switch, file) is drawn by its label.
        if (!rendered(el) && !(el.labels?.length && rendered(el.labels[0]))) continue;
        const name = el.labels?.[0]?.textContent || el.getAttribute("aria-label") || el.textContent;
        const label = (name || "").trim();
        const what = `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} "${label.slice(0, 40)}"`;
        if (el.type === "radio") {
            groups[el.name] ??= String(Object.keys(marks).length);
            el.dataset.kb = groups[el.name];
            marks[el.dataset.kb] = `radio group ${el.name}`;
        } else {
            el.dataset.kb = String(Object.keys(marks).length);
            marks[el.dataset.kb] = what;
        }
    }
    return marks;
}"""

#: What the focused element is, and whether its focus can be seen: an outline of at least 2 px on
#: the control or on what draws it (a hidden radio's label, a switch's track, the drop zone of a
#: file input), inside the window and not covered by anything else (WCAG 2.4.7, 2.4.11).
_FOCUS = """() => {
    const describe = (e) =>
        `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}.${[...e.classList].join(".")}`;
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    let shown = el;
    const next = el.nextElementSibling;
    const hidden = el.matches("input[type=radio], input[type=checkbox], input[type=file]");
    if (hidden && next?.matches("label, .switch-track")) shown = next;
    const style = getComputedStyle(shown);
    const width = parseFloat(style.outlineWidth);
    // The middle of the part of it inside the window (a tall canvas may stick out).
    const r = shown.getBoundingClientRect();
    const left = Math.max(r.left, 0), right = Math.min(r.right, innerWidth);
    const top = Math.max(r.top, 0), bottom = Math.min(r.bottom, innerHeight);
    const inside = right - left > 2 && bottom - top > 2;
    const hit = inside ? document.elementFromPoint((left + right) / 2, (top + bottom) / 2) : null;
    return {
        mark: el.dataset.kb ?? null,
        what: describe(el),
        focusVisible: el.matches(":focus-visible"),
        outline: style.outlineStyle !== "none" && width >= 2 ? `${width}px ${style.outlineStyle}` : null,
        seen: Boolean(hit && (shown.contains(hit) || el.contains(hit))),
        hit: hit ? describe(hit) : null,
    };
}"""


def _tab_to(studio: Studio, selector: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches ``selector``."""
    for _ in range(limit):
        studio.page.keyboard.press("Tab")
        if studio.page.evaluate("s => document.activeElement?.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def _tab_round(studio: Studio, state: str, limit: int = 200) -> list[str]:
    """Tab once around the page: every control must be reached, each with a visible focus.
    Returns the problems found (empty when all is well)."""
    page = studio.page
    controls = page.evaluate(_MARK_CONTROLS)
    _tab_to(studio, "a.skip")  # the first control of the page: one round starts and ends here
    reached: set[str] = set()
    problems = []
    for step in range(limit):
        focus = page.evaluate(_FOCUS)
        if step and focus and focus["what"] == "a.skip":
            break
        if focus is None:  # past the last control: the browser's own UI
            page.keyboard.press("Tab")
            continue
        reached.add(focus["mark"])
        if not (focus["focusVisible"] and focus["outline"] and focus["seen"]):
            problems.append(f"{state}: {focus['what']} has no visible focus: {focus}")
        page.keyboard.press("Tab")
    missing = [what for mark, what in controls.items() if mark not in reached]
    problems += [f"{state}: Tab never reaches {what}" for what in missing]
    return problems


def test_every_control_is_reached_by_tab_with_a_visible_focus(studio: Studio) -> None:
    studio.open()
    page = studio.page
    problems = _tab_round(studio, "empty")
    _picture(studio, seed=12)
    _open_advanced(studio, "#params")
    problems += _tab_round(studio, "picture loaded, advanced parameters open")
    studio.set_param("target_faces", 3000)
    page.click("#submit")
    studio.wait_for_model()
    page.wait_for_selector("#recent .job[data-state='succeeded']")
    problems += _tab_round(studio, "a finished model")
    page.click("label[for='source-text']")
    page.click("#lettering > summary")
    problems += _tab_round(studio, "Text tab, lettering open")
    page.click("label[for='source-model']")
    _open_advanced(studio, "#mesh-options")
    problems += _tab_round(studio, "Mesh tab, advanced options open")
    for width, height in ((1024, 768), (390, 844)):  # the page scrolls under a sticky top bar
        page.set_viewport_size({"width": width, "height": height})
        page.click("label[for='source-image']")
        problems += _tab_round(studio, f"{width}×{height}, a finished model")
    assert not problems, "\n".join(problems)


def test_keyboard_alone_makes_a_model(studio: Studio, tmp_path) -> None:
    """From an empty page to a downloaded model with the keyboard only: pick the picture, set a
    parameter, change the mode and back, open the advanced group, generate, look, download."""
    studio.open()
    page = studio.page
    picture = tmp_path / "heart.png"
    picture.write_bytes(png_bytes(heart_rgba(200, seed=13)))

    _tab_to(studio, "#image-input")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(picture))
    page.wait_for_selector("#dropzone.has-file")
    assert page.inner_text("#file-name") == "heart.png"

    mode = "#params [data-field='mode'] input"
    _tab_to(studio, f"{mode}:checked")
    page.keyboard.press("ArrowRight")
    assert page.is_checked(f"{mode}[value='relief']")
    page.keyboard.press("ArrowLeft")
    assert page.is_checked(f"{mode}[value='puffy']")

    _tab_to(studio, "#params [data-field='size_mm'] input[type=number]")
    page.keyboard.press("Control+A")
    page.keyboard.type("42")

    _tab_to(studio, "#params details.advanced > summary")
    page.keyboard.press("Enter")
    assert page.evaluate("document.querySelector('#params details.advanced').open")
    _tab_to(studio, "#params [data-field='target_faces'] input[type=number]")
    page.keyboard.press("Control+A")
    page.keyboard.type("3000")

    _tab_to(studio, "#submit")
    page.keyboard.press("Enter")
    studio.wait_for_model()
    job_id = page.evaluate("new URLSearchParams(location.hash.slice(1)).get('job')")
    job = page.request.get(f"{studio.url}api/v1/jobs/{job_id}").json()
    assert job["params"]["size_mm"] == 42 and job["params"]["target_faces"] == 3000
    assert job["params"].get("mode", "puffy") == "puffy"

    # The viewer: its toolbar and its canvas answer keys.
    _tab_to(studio, "#wireframe")
    page.keyboard.press("Space")
    assert page.get_attribute("#wireframe", "aria-pressed") == "true"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "reset-view"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.tagName") == "CANVAS"
    page.keyboard.press("w")
    assert page.get_attribute("#wireframe", "aria-pressed") == "false"

    # A download by keyboard.
    _tab_to(studio, "#downloads a.download[data-format='stl']")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.endswith("model.stl")
    saved = tmp_path / "model.stl"
    download.value.save_as(saved)
    assert saved.stat().st_size > 1000
