"""Nothing the app serves points a browser at another origin: the studio page, the API docs pages,
every file under ``/static`` (the studio's own and the vendored three.js, Swagger UI and ReDoc)
and the JSON answers are fetched from a real app and scanned for ``http(s)://`` URLs.

A URL may stay only where nothing fetches it, and each such place is named here with its reason:
comments (HTML, CSS, JavaScript — found by parsing the JavaScript with acorn, so a ``//`` inside a
string is not taken for a comment), XML namespace names, the licence documents served beside the
vendored code, and the listed string literals of the vendored bundles. The browser tests
(``test_docs.py``, the ``studio`` fixture) check the same thing from the other side: no request
leaves the origin.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from orfeas.api import create_app
from orfeas.settings import Settings
from orfeas.web import STATIC_DIR, VENDOR_DIR
from tests.conftest import require, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.security]

URL = re.compile(r"https?://[^\s\"'`<>()\\]+")
URL_SCANNER = Path(__file__).resolve().parents[2] / "tools" / "web-audit" / "urls.mjs"

#: XML namespace names, allowed in every file: the first argument of createElementNS and the
#: value of xmlns attributes (inline SVG, the favicon, Swagger UI's icons). Names, not addresses.
NAMESPACES = (
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/XML/1998/namespace",
)

#: String literals of the vendored bundles (``/static/vendor/``) that hold a URL which nothing
#: fetches: prefix → why. Every entry must still be found (a stale entry fails the test).
VENDOR_STRINGS = {
    # Schema identifiers ($schema, $id, dialects, vocabularies): compared as names by the JSON
    # Schema and OpenAPI code; the validators carry these meta-schemas inside the bundle.
    "https://json-schema.org/draft/": "JSON Schema meta-schema identifiers",
    "http://json-schema.org/": "JSON Schema (draft 4-7) meta-schema identifiers",
    "https://spec.openapis.org/oas/": "OpenAPI 3.1/3.2 dialect and schema identifiers",
    "https://raw.githubusercontent.com/ajv-validator/ajv/master/lib/refs/data.json#": (
        "the $id of ajv's built-in $data meta-schema (ReDoc); ajv never loads it"
    ),
    # Bases for URL arithmetic: new URL(x, base) to resolve or test relative references.
    "https://swagger.io": "Swagger UI's base for resolving relative references (not requested)",
    "https://base${": "Swagger UI's random base for parsing relative URLs",
    "https://vladimirgorej.com": "Swagger UI's base for checking that a server URL parses",
    # Text meant for a person: error messages and the grammar sources quoted in them.
    "https://github.com/": "links in error messages and licence notes",
    "https://reactjs.org/docs/error-decoder.html": "React's production error messages",
    "https://redux.js.org/Errors": "Redux's production error messages",
    "http://fb.me/use-check-prop-types": "React's prop-types warning",
    "https://git.io/JUIaE": "styled-components' production error messages",
    "https://marked.js.org/": "a deprecation warning of marked",
    "https://stackoverflow.com/a/31732902": "a comment inside one of ReDoc's CSS templates",
    "https://redocly.com/docs/cli/": "the header of a lint-ignore file ReDoc's core can write (never here)",
    "https://datatracker.ietf.org/doc/html/rfc": "the RFC sources named in Swagger UI's ABNF grammars",
    "https://www.rfc-editor.org/": "the RFC sources named in Swagger UI's ABNF grammars",
    # Examples and sample values, shown as text.
    "https://example.com/": "examples in Swagger UI's sample generator and URI-template code",
    "http://example.com": "examples in ReDoc's OpenAPI code",
    "https://실례.com/": "Swagger UI's sample value for an idn-hostname",
    # Links a person may follow (an <a href>, opened only by a click): never loaded by the page.
    "https://redocly.com/redoc/": "ReDoc's 'API docs by Redocly' attribution link",
    "https://spdx.org/licenses/": "Swagger UI's link for an SPDX licence id (the ORFEAS schema names none)",
    "https://twitter.com/": "Swagger UI's Markdown mention links",
    "https://instagram.com/": "Swagger UI's Markdown mention links",
    "https://soundcloud.com/": "Swagger UI's Markdown mention links",
    "https://www.tiktok.com/": "Swagger UI's Markdown mention links",
    "https://www.facebook.com/hashtag/": "Swagger UI's Markdown hashtag links",
    # Defaults that are off here.
    "https://validator.swagger.io/validator": (
        "Swagger UI's default online validator: off (orfeas.api.docs sets validatorUrl to null)"
    ),
    "https://api.${": "ReDoc's check whether a $ref points into Redocly's registry (ours are local)",
    "https://redocly.com/sso/teams": "a default in the schema of Redocly's own SSO config (unused)",
}

#: Licence documents served beside the vendored code (never loaded by a page): their URLs name
#: the authors and the licences.
LICENCE_DOCUMENT = re.compile(r"(^|/)(LICENSE|NOTICE|THIRD-PARTY\.txt|[^/]+\.LICENSE\.txt)$")

#: The pages, and the JSON answers that take no parameter.
PAGES = ("/", "/docs", "/redoc", "/docs/oauth2-redirect")
JSON_ANSWERS = ("/openapi.json", "/api/v1/engines", "/api/v1/jobs", "/healthz", "/readyz", "/api/health")
JSON_ANSWERS += ("/api/models-info",)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    require((VENDOR_DIR / "redoc" / "redoc.standalone.js").is_file(), "run `make web` (vendored assets)")
    settings = Settings(data_dir=tmp_path_factory.mktemp("offline") / "data", workers=1)
    with TestClient(create_app(settings)) as client:
        yield client


def _served(client: TestClient) -> dict[str, str]:
    """Path → text of everything scanned, as the app serves it."""
    served = {}
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 200, path
        served[path] = answer.text
    for file in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
        path = "/static/" + file.relative_to(STATIC_DIR).as_posix()
        answer = client.get(path)
        assert answer.status_code == 200, path
        served[path] = answer.content.decode("utf-8")  # every served file is text: no binary to skip
    job = client.post("/api/v1/jobs", json={"text": "HI"})
    assert job.status_code == 202, job.text
    for path in (*JSON_ANSWERS, f"/api/v1/jobs/{job.json()['id']}"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
        served[path] = answer.text
    metrics = client.get("/metrics")
    served["/metrics"] = metrics.text
    return served


def _strip(pattern: str, text: str) -> str:
    return re.sub(pattern, " ", text, flags=re.S)


def _js_urls(sources: dict[str, str]) -> list[dict]:
    """Every URL in each JavaScript source with where it sits (comment, string, regex, code)."""
    node = require_tool("node")
    require((URL_SCANNER.parent / "node_modules" / "acorn").is_dir(), "run `make tools` (acorn)")
    request = [{"name": path, "source": text, "module": _is_module(path)} for path, text in sources.items()]
    answer = subprocess.run(
        [node, str(URL_SCANNER)], input=json.dumps(request), capture_output=True, text=True
    )
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def _is_module(path: str) -> bool:
    # ES modules: the studio's own code and three.js; the docs bundles are classic scripts.
    return path.startswith(("/static/js/", "/static/vendor/three/"))


def _allowed_in_vendor_string(url: str, used: set[str]) -> bool:
    for prefix in VENDOR_STRINGS:
        if url.startswith(prefix):
            used.add(prefix)
            return True
    return False


def test_nothing_served_names_another_origin(client: TestClient) -> None:
    served = _served(client)
    assert {
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/redoc/redoc.standalone.js",
    } <= set(served)
    outside: list[str] = []
    used: set[str] = set()
    scripts: dict[str, str] = {}
    for path, text in served.items():
        if LICENCE_DOCUMENT.search(path):
            continue
        if path.endswith((".js", ".mjs")):
            scripts[path] = text
            continue
        if path.endswith(".css"):
            text = _strip(r"/\*.*?\*/", text)
        elif path in PAGES or path.endswith((".html", ".svg")):
            text = _strip(r"<!--.*?-->", text)
            for kind, block in re.findall(
                r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", text, flags=re.S | re.I
            ):
                if "importmap" not in kind and "json" not in kind:  # data blocks are scanned as text
                    scripts[f"{path} (inline script)"] = block
                    text = text.replace(block, " ")
        outside += [f"{path}: {url}" for url in URL.findall(text) if not url.startswith(NAMESPACES)]

    for found in _js_urls(scripts):
        url, path, where = found["url"], found["name"], found["where"]
        if where == "comment" or url.startswith(NAMESPACES):
            continue
        if path.startswith("/static/vendor/") and where == "string" and _allowed_in_vendor_string(url, used):
            continue
        outside.append(f"{path}: {url} (in {where})")

    assert not outside, "outside URLs in what the app serves:\n" + "\n".join(sorted(set(outside)))
    stale = sorted(set(VENDOR_STRINGS) - used)
    assert not stale, f"allowed but no longer found (remove them from VENDOR_STRINGS): {stale}"


def test_the_scan_finds_what_it_must_refuse() -> None:
    """The JavaScript scanner tells a fetched URL from a comment, also in tricky places."""
    sources = {
        "/static/js/a.js": 'fetch("https://cdn.example.net/x.js"); // see https://docs.example.org\n',
        "/static/js/b.js": "const u = `https://${host}/api`; /* https://licence.example */ const r = /a/;",
        "/static/js/c.js": 'const s = "not // a comment https://cdn.example.net/y";',
    }
    found = {(f["name"], f["url"], f["where"]) for f in _js_urls(sources)}
    assert found == {
        ("/static/js/a.js", "https://cdn.example.net/x.js", "string"),
        ("/static/js/a.js", "https://docs.example.org", "comment"),
        ("/static/js/b.js", "https://${host}/api", "string"),
        ("/static/js/b.js", "https://licence.example", "comment"),
        ("/static/js/c.js", "https://cdn.example.net/y", "string"),
    }


def test_the_csp_names_no_other_origin(client: TestClient) -> None:
    """Every policy the app sends — studio, docs, API — is same-origin only, with no
    'unsafe-inline' for scripts or styles."""
    for path in (*PAGES, "/static/styles.css", "/openapi.json", "/api/v1/engines"):
        policy = client.get(path).headers["content-security-policy"]
        assert not URL.search(policy) and "https:" not in policy.replace("'self'", ""), (path, policy)
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, (path, policy)
        for directive in policy.split(";"):
            name, *sources = directive.split()
            if name in ("script-src", "style-src"):
                assert all(s == "'self'" or s.startswith("'sha256-") for s in sources), (path, directive)
