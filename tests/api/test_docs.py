"""``orfeas.api.docs``: the API docs pages load only the app's own files, each page's CSP lets
exactly its inline blocks run, and a server without the vendored files says how to get them.

A small static folder stands in for ``make web`` here; ``tests/web/test_docs.py`` runs the real
Swagger UI and ReDoc in Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from orfeas.api import create_app
from orfeas.api.docs import REDOC_JS, REDOC_STYLE_HASHES, SWAGGER_CSS, SWAGGER_JS
from tests.api.conftest import app_settings

pytestmark = pytest.mark.unit

RUNTIME_STYLE = "sha256-" + "A" * 43 + "="


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@pytest.fixture
def static(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    for name in (SWAGGER_JS, SWAGGER_CSS, REDOC_JS):
        (static / name).parent.mkdir(parents=True, exist_ok=True)
        (static / name).write_text("/* vendored */")
    (static / REDOC_STYLE_HASHES).write_text(f"{RUNTIME_STYLE}\n")
    (static / "index.html").write_text("<!doctype html><title>studio</title>")
    return static


def _directive(policy: str, name: str) -> list[str]:
    for directive in policy.split(";"):
        first, *sources = directive.split()
        if first == name:
            return sources
    raise AssertionError(f"no {name} in {policy}")


def test_docs_pages_load_local_files_and_hash_their_inline_blocks(tmp_path: Path, static: Path) -> None:
    with TestClient(create_app(app_settings(tmp_path / "data"), static_dir=static)) as client:
        swagger = client.get("/docs")
        assert swagger.status_code == 200 and swagger.headers["content-type"].startswith("text/html")
        assert (
            f'src="/static/{SWAGGER_JS}"' in swagger.text and f'href="/static/{SWAGGER_CSS}"' in swagger.text
        )
        assert 'href="/static/favicon.svg"' in swagger.text and "url: '/openapi.json'" in swagger.text
        assert '"validatorUrl": null' in swagger.text  # no online validator badge
        assert not re.search(r"https?://", swagger.text)
        inline = re.findall(r"<script>(.*?)</script>", swagger.text, re.S)
        assert len(inline) == 1
        policy = swagger.headers["content-security-policy"]
        assert _directive(policy, "script-src") == ["'self'", f"'{_sha256(inline[0])}'"]
        assert _directive(policy, "style-src") == ["'self'"]
        # The files it names are served.
        assert client.get(f"/static/{SWAGGER_JS}").status_code == 200

        redirect = client.get("/docs/oauth2-redirect")
        (script,) = re.findall(r"<script>(.*?)</script>", redirect.text, re.S)
        assert _directive(redirect.headers["content-security-policy"], "script-src") == [
            "'self'",
            f"'{_sha256(script)}'",
        ]

        redoc = client.get("/redoc")
        assert f'src="/static/{REDOC_JS}"' in redoc.text and 'spec-url="/openapi.json"' in redoc.text
        assert not re.search(r"https?://", redoc.text)  # no Google Fonts
        (style,) = re.findall(r"<style>(.*?)</style>", redoc.text, re.S)
        policy = redoc.headers["content-security-policy"]
        assert _directive(policy, "script-src") == ["'self'"]
        assert _directive(policy, "style-src") == ["'self'", f"'{_sha256(style)}'", f"'{RUNTIME_STYLE}'"]
        for page in (swagger, redirect, redoc):
            policy = page.headers["content-security-policy"]
            assert "unsafe-inline" not in policy and "http" not in policy
            assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        # The docs pages are not operations of the API.
        assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(
            client.get("/openapi.json").json()["paths"]
        )


def test_docs_behind_a_proxy_prefix_use_it(tmp_path: Path, static: Path) -> None:
    app = create_app(app_settings(tmp_path / "data"), static_dir=static)
    with TestClient(app, root_path="/orfeas") as client:
        page = client.get("/docs").text
        assert f'src="/orfeas/static/{SWAGGER_JS}"' in page and "url: '/orfeas/openapi.json'" in page
        assert "'/orfeas/docs/oauth2-redirect'" in page


def test_without_the_vendored_files_the_docs_say_how_to_get_them(tmp_path: Path, static: Path) -> None:
    (static / REDOC_JS).unlink()
    with TestClient(create_app(app_settings(tmp_path / "data"), static_dir=static)) as client:
        assert client.get("/docs").status_code == 200
        answer = client.get("/redoc")
        assert answer.status_code == 503
        message = answer.json()["error"]["message"]
        assert REDOC_JS in message and "make web" in message and "/openapi.json" in message
        assert "http" not in answer.headers["content-security-policy"]
        assert client.get("/openapi.json").status_code == 200  # the API itself is unaffected
