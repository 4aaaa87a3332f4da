"""The API docs in Chromium, under the server's own CSP: ``/docs`` (Swagger UI) lists every
operation and submits a job with "Try it out", ``/redoc`` renders the whole reference, and
neither page makes a request outside the origin or logs an error (a CSP refusal would be one).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from tests.conftest import OUTPUT_DIR
from tests.web.conftest import JOB_TIMEOUT_MS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


@dataclass
class Page:
    page: object
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def docs_page(browser, studio_url: str) -> Iterator[Page]:
    """A page in a context that enforces CSP, recording requests and errors; afterwards none may
    have left the origin and none may have been logged."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    parts = urlsplit(studio_url)
    recorded = Page(page=page, origin=f"{parts.scheme}://{parts.netloc}")
    page.on("request", lambda request: recorded.requests.append(request.url))
    page.on("pageerror", lambda error: recorded.errors.append(f"uncaught: {error}"))
    page.on("console", lambda m: recorded.errors.append(m.text) if m.type == "error" else None)
    try:
        yield recorded
    finally:
        context.close()
    foreign = [u for u in recorded.requests if not _same_origin(u, recorded.origin)]
    assert not foreign, f"the docs made requests outside their origin: {foreign}"
    assert not recorded.errors, f"the docs logged errors: {recorded.errors}"


def _same_origin(url: str, origin: str) -> bool:
    # blob: URLs are made by the page (ReDoc's search worker); data: never leaves the browser.
    if url.startswith("data:"):
        return True
    if url.startswith("blob:"):
        return url.startswith(f"blob:{origin}/")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" == origin


def _operations(docs: Page) -> set[tuple[str, str]]:
    spec = docs.page.request.get(docs.origin + "/openapi.json").json()
    return {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops if m in METHODS}


def _screenshot(docs: Page, name: str) -> None:
    OUTPUT_DIR.mkdir(exist_ok=True)
    docs.page.screenshot(path=str(OUTPUT_DIR / name))


def test_swagger_ui_lists_every_operation_and_submits_a_job(docs_page: Page) -> None:
    docs = docs_page
    page = docs.page
    answer = page.goto(docs.origin + "/docs")
    policy = answer.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "http" not in policy
    page.wait_for_selector(".opblock")
    shown = {
        (m.strip().upper(), p.strip().replace("\u200b", ""))
        for m, p in page.eval_on_selector_all(
            ".opblock",
            """bs => bs.map(b => [b.querySelector('.opblock-summary-method').textContent,
                                  b.querySelector('.opblock-summary-path').getAttribute('data-path')])""",
        )
    }
    assert shown == _operations(docs)
    _screenshot(docs, "docs-swagger.png")

    # "Try it out": a JSON text job, sent by Swagger UI itself, answered 202 with the job.
    operation = page.locator("#operations-jobs-submit_job_api_v1_jobs_post")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator(".opblock-section-request-body select.content-type").select_option("application/json")
    operation.locator("textarea.body-param__text").fill(json.dumps({"text": "DOCS"}))
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/jobs") and r.request.method == "POST"
    ) as sent:
        operation.locator("button.execute").click()
    assert sent.value.status == 202
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "202"
    job = json.loads(operation.locator(".live-responses-table tbody pre.microlight").first.inner_text())
    assert job["input"]["kind"] == "text" and job["input"]["text"] == "DOCS"
    # It is a real job: it finishes with a model.
    page.wait_for_function(
        """async (id) => (await (await fetch(`/api/v1/jobs/${id}`)).json()).state === "succeeded" """,
        arg=job["id"],
        timeout=JOB_TIMEOUT_MS,
        polling=500,
    )
    _screenshot(docs, "docs-swagger-try-it-out.png")


def test_redoc_renders_the_whole_reference(docs_page: Page) -> None:
    docs = docs_page
    page = docs.page
    answer = page.goto(docs.origin + "/redoc")
    policy = answer.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "http" not in policy
    page.wait_for_selector("[data-section-id^='operation/']", state="attached")
    assert page.inner_text("h1").startswith("ORFEAS")
    sections = page.eval_on_selector_all(
        "[data-section-id^='operation/']", "ss => ss.map(s => s.getAttribute('data-section-id'))"
    )
    assert len(set(sections)) == len(_operations(docs))
    # Styled under the hash-only style policy: styled-components' rules (the menu's background)
    # and perfect-scrollbar's stylesheet (its containers' overflow) both apply.
    styles = page.evaluate(
        """() => [getComputedStyle(document.querySelector('.menu-content')).backgroundColor,
                  getComputedStyle(document.querySelector('.ps')).overflow]"""
    )
    assert styles == ["rgb(250, 250, 250)", "hidden"]
    # Search runs (in a worker made from a blob: URL, allowed by worker-src).
    page.fill("input.search-input", "engines")
    found = page.locator("[data-role='search:results'] li[data-item-id*='operation/']")
    found.first.wait_for()
    assert "engines" in found.first.get_attribute("data-item-id")
    _screenshot(docs, "docs-redoc.png")
