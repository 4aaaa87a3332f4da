"""THIRD-PARTY.md lists every npm package ORFEAS installs, at the version and licence its lockfile
pins: the served ones (src/orfeas/web) and the test-only tools (tools/*)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
NOTICE = ROOT / "THIRD-PARTY.md"


def _pinned(folder: Path) -> dict[str, tuple[str, str]]:
    """Direct dependencies of ``folder``'s package.json → (version, licence) from its lockfile."""
    declared = json.loads((folder / "package.json").read_text())["dependencies"]
    lock = json.loads((folder / "package-lock.json").read_text())["packages"]
    pinned = {}
    for name, wanted in declared.items():
        entry = lock[f"node_modules/{name}"]
        assert entry["version"] == wanted, f"{folder}: {name} is declared {wanted}, locked {entry['version']}"
        pinned[name] = (entry["version"], entry["license"])
    return pinned


def _listed(section: str) -> dict[str, tuple[str, str]]:
    text = NOTICE.read_text().split(section, 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|", text, re.M)
    return {name: (version, licence) for name, version, licence in rows if name not in ("Package", "---")}


def test_the_notice_lists_every_package_with_its_pinned_version_and_licence() -> None:
    assert _listed("## Served by ORFEAS") == _pinned(ROOT / "src" / "orfeas" / "web")
    tools: dict[str, tuple[str, str]] = {}
    for package in sorted((ROOT / "tools").glob("*/package.json")):
        tools |= _pinned(package.parent)
    assert _listed("## Used by the tests only") == tools
    # Nothing GPL-like ships with the service.
    for name, (_, licence) in _listed("## Served by ORFEAS").items():
        assert "GPL" not in licence.upper(), name
