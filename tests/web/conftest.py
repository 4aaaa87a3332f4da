"""Fixtures for the studio's end-to-end tests: a real ORFEAS server (uvicorn on a free loopback
port, a temporary data directory) and Debian's Chromium driven by Playwright.

WebGL runs through SwiftShader (software), so the 3D viewer renders without a GPU. Playwright's
own browser downloads are never used: ``/usr/bin/chromium`` comes from ``scripts/apt-packages.txt``.
Set ``ORFEAS_E2E_URL`` to run the same tests against a server that is already running.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

from orfeas.settings import Settings
from tests.conftest import require

CHROMIUM = Path("/usr/bin/chromium")
#: Headless, no GPU; WebGL through SwiftShader (``--enable-unsafe-swiftshader`` allows it in
#: current Chromium, which otherwise refuses software WebGL).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
#: The server's limits in these tests: small, so an "oversized" picture stays cheap to make.
MAX_UPLOAD_BYTES = 3_000_000
MAX_IMAGE_PIXELS = 1_100_000
#: Generous bounds for waiting on the browser and on jobs (a shared 2-core machine); never asserted.
JOB_TIMEOUT_MS = 120_000


def _web_static() -> Path:
    from orfeas.web import STATIC_DIR

    return STATIC_DIR


@pytest.fixture(scope="session")
def studio_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The studio's address on a real ORFEAS server of its own (or ``ORFEAS_E2E_URL``)."""
    external = os.environ.get("ORFEAS_E2E_URL")
    if external:
        yield external.rstrip("/") + "/"
        return
    vendor = _web_static() / "vendor" / "three" / "build" / "three.module.js"
    require(vendor.is_file(), "three.js is not vendored into the studio: run `make web`")
    import uvicorn

    from orfeas.api import create_app

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("e2e") / "data",
        workers=2,
        queue_size=16,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        max_image_pixels=MAX_IMAGE_PIXELS,
        rate_limit_submissions_per_minute=0,
        rate_limit_requests_per_minute=0,
    )
    # Bind first and hand the socket to uvicorn: no window in which another process takes the port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(600):  # up to a minute for the lifespan (worker pool) to come up
        if server.started or not thread.is_alive():
            break
        started.wait(0.1)
    assert server.started, "the ORFEAS server did not start"
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, with software WebGL."""
    require(CHROMIUM.is_file(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - depends on the environment
        require(False, "Playwright for Python is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Studio:
    """One browser page on the studio, recording every request it makes and every script error."""

    page: object
    url: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Console errors a test provokes on purpose (substrings), besides refused uploads.
    expected_errors: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def open(self) -> None:
        """Load the page and wait until engines are listed and the viewer has drawn a frame."""
        self.page.goto(self.url)
        self.page.wait_for_selector("#engines .engine-option input:checked", state="attached")
        self.page.wait_for_selector("#viewer[data-viewer='ready']", state="attached")

    def set_param(self, name: str, value: object) -> None:
        field = f"#params [data-field='{name}']"
        folded = self.page.locator(f"#params details.advanced:not([open]):has([data-field='{name}'])")
        if folded.count():  # open the "Advanced" group as a person would
            folded.locator("summary").click()
        self.page.fill(f"{field} input[type=number]", str(value))

    def choose_mode(self, mode: str) -> None:
        self.page.click(f"#params [data-field='mode'] label:has-text('{mode.capitalize()}')")

    def wait_for_state(self, *states: str) -> str:
        selector = ", ".join(f"#progress[data-state='{s}']" for s in states)
        self.page.wait_for_selector(selector, state="attached", timeout=JOB_TIMEOUT_MS)
        return self.page.get_attribute("#progress", "data-state")

    def wait_for_model(self) -> None:
        assert self.wait_for_state("succeeded", "failed", "cancelled") == "succeeded", self.page.inner_text(
            "#progress"
        )
        self.page.wait_for_selector("#viewer[data-model='loaded']", state="attached", timeout=JOB_TIMEOUT_MS)

    def drop(self, selector: str, name: str, data: bytes, kind: str = "drop") -> None:
        """Fire a synthetic drop (or paste) carrying ``data`` as a file, as a person's would."""
        self.page.evaluate(
            """([selector, name, b64, kind]) => {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], name, { type: "image/png" }));
                const target = document.querySelector(selector);
                if (kind === "paste") {
                    const init = { clipboardData: transfer, bubbles: true, cancelable: true };
                    target.dispatchEvent(new ClipboardEvent("paste", init));
                    return;
                }
                const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
                for (const type of ["dragenter", "dragover", "drop"]) {
                    target.dispatchEvent(new DragEvent(type, init));
                }
            }""",
            [selector, name, base64.b64encode(data).decode(), kind],
        )

    def canvas_png(self) -> bytes:
        return self.page.locator("#viewer canvas").screenshot()

    def audit(self, state: str) -> list[dict]:
        """The axe-core WCAG 2 A/AA violations of the page as it is now (``state`` names it in
        the failure message). Needs a page from ``audited_studio`` (its context bypasses CSP, so
        the injected script may run; the page's own CSP header is unchanged)."""
        self.page.add_script_tag(content=axe_source())
        result = self.page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            list(AXE_TAGS),
        )
        return [
            {
                "state": state,
                "rule": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [f"{n['target']}: {n['failureSummary']}" for n in v["nodes"]],
            }
            for v in result["violations"]
        ]


#: The axe-core rule tags audited: WCAG 2.0, 2.1 and 2.2, levels A and AA.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa")
#: axe-core, installed for the tests only by ``make tools`` (never served by the app).
AXE_JS = (
    Path(__file__).resolve().parents[2] / "tools" / "web-audit" / "node_modules" / "axe-core" / "axe.min.js"
)


def axe_source() -> str:
    require(AXE_JS.is_file(), f"axe-core is not installed at {AXE_JS}: run `make tools`")
    return AXE_JS.read_text(encoding="utf-8")


def _open_studio(browser, studio_url: str, **context_options: object) -> Iterator[Studio]:
    """A fresh page on the studio; afterwards, nothing may have left the origin or thrown."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, accept_downloads=True, **context_options
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    studio = Studio(page=page, url=studio_url)
    page.on("request", lambda request: studio.requests.append(request.url))
    page.on("pageerror", lambda error: studio.errors.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: studio.errors.append(f"console: {message.text}") if message.type == "error" else None,
    )
    try:
        yield studio
    finally:
        context.close()
    foreign = [u for u in studio.requests if not _same_origin(u, studio.origin)]
    assert not foreign, f"the page made requests outside its origin: {foreign}"
    unexpected = [
        e
        for e in studio.errors
        if not _expected_console_error(e) and not any(x in e for x in studio.expected_errors)
    ]
    assert not unexpected, f"the page logged errors: {unexpected}"


@pytest.fixture
def studio(browser, studio_url: str) -> Iterator[Studio]:
    """A fresh page on the studio, under the page's own CSP."""
    yield from _open_studio(browser, studio_url)


@pytest.fixture
def audited_studio(browser, studio_url: str) -> Iterator[Studio]:
    """A fresh page on the studio in a context that bypasses CSP, so that :meth:`Studio.audit`
    can inject axe-core; the server sends the same strict CSP as ever (the tests check it)."""
    yield from _open_studio(browser, studio_url, bypass_csp=True)


def _same_origin(url: str, origin: str) -> bool:
    # blob: and data: URLs are made by the page itself (previews) and never leave the browser.
    if url.startswith(("blob:", "data:")):
        return url.startswith(f"blob:{origin}/") or url.startswith("data:")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" == origin


def _expected_console_error(text: str) -> bool:
    # The browser logs every 4xx answer; the tests that provoke them check the message shown.
    return "Failed to load resource" in text and ("413" in text or "415" in text or "422" in text)


# --- pictures ----------------------------------------------------------------------------------------


def heart_rgba(size: int = 240, seed: int = 0) -> np.ndarray:
    """A red heart with a light highlight on a transparent background (``seed`` nudges the shape
    so that every test submits a different picture)."""
    image = np.zeros((size, size, 4), np.uint8)
    s = size / 240
    r = int(52 * s) + seed
    colour = (214, 48, 72, 255)
    cv2.circle(image, (int(72 * s), int(86 * s)), r, colour, -1, cv2.LINE_AA)
    cv2.circle(image, (int(168 * s), int(86 * s)), r, colour, -1, cv2.LINE_AA)
    points = np.array(
        [[int(22 * s), int(104 * s)], [int(218 * s), int(104 * s)], [int(120 * s), int(218 * s)]]
    )
    cv2.fillPoly(image, [points], colour, cv2.LINE_AA)
    cv2.circle(image, (int(66 * s), int(70 * s)), int(15 * s), (255, 190, 196, 255), -1, cv2.LINE_AA)
    return image


# --- meshes ------------------------------------------------------------------------------------------


def broken_cube_stl(side_mm: float = 20.0) -> bytes:
    """A binary STL of a cube with one face (two triangles) missing: open, so not printable, and
    repairable by filling the hole."""
    import trimesh

    cube = trimesh.creation.box(extents=(side_mm, side_mm, side_mm))
    holed = trimesh.Trimesh(cube.vertices, cube.faces[:-2], process=False)
    assert not holed.is_watertight
    return holed.export(file_type="stl")
