"""The layering, stated in one line and held by reading every import:

    api → jobs → pipeline → engines → mesh / imaging;   settings, errors, files, metrics, web,
    version are leaves.

A module may import its own floor, the floor directly below, and the leaves — nothing above it
(a back-arrow) and nothing two floors down (a skipped floor). The command line and the package's
``__init__`` are the entry points that compose the floors, so they may import any of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import orfeas

pytestmark = pytest.mark.unit

SOURCE = Path(orfeas.__file__).parent

#: top-level module or package of orfeas → its floor
FLOOR_OF = {
    "api": "api",
    "jobs": "jobs",
    "pipeline": "pipeline",
    "admission": "pipeline",
    "catalog": "pipeline",
    "spec": "pipeline",
    "subject": "pipeline",
    "engines": "engines",
    "mesh": "mesh",
    "imaging": "imaging",
}
LEAVES = frozenset({"settings", "errors", "files", "metrics", "web", "version", "extras", "parameters"})
ENTRY_POINTS = frozenset({"cli", "__init__", "__main__"})
#: floor → the floors its modules may import (besides the leaves)
MAY_IMPORT = {
    "api": {"api", "jobs"},
    "jobs": {"jobs", "pipeline"},
    "pipeline": {"pipeline", "engines", "mesh", "imaging"},
    "engines": {"engines", "mesh", "imaging"},
    "mesh": {"mesh"},
    "imaging": {"imaging"},
}


def _part(module: str) -> str:
    """``orfeas.jobs.store`` → ``jobs``; ``orfeas`` itself → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every ``orfeas.*`` module a file imports, at module level or inside functions."""
    module = "orfeas." + ".".join(path.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("orfeas")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if path.name == "__init__.py" else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name.startswith("orfeas"):
                found.append((node.lineno, name))
    return found


def violations() -> list[str]:
    problems = []
    for path in sorted(SOURCE.rglob("*.py")):
        own = path.relative_to(SOURCE).parts[0].removesuffix(".py")
        if own in ENTRY_POINTS:
            continue
        for line, target in imports_of(path):
            other = _part(target)
            if other in LEAVES or other == own:
                continue
            where = f"{path.relative_to(SOURCE)}:{line} imports {target}"
            if own in LEAVES:
                problems.append(f"{where}: a leaf imports nothing else of orfeas")
            elif other == "__init__" or other in ENTRY_POINTS:
                problems.append(f"{where}: back-arrow to an entry point")
            elif FLOOR_OF[other] not in MAY_IMPORT[FLOOR_OF[own]]:
                floors = list(MAY_IMPORT)
                kind = (
                    "back-arrow"
                    if floors.index(FLOOR_OF[other]) < floors.index(FLOOR_OF[own])
                    else "skipped floor"
                )
                problems.append(f"{where}: {kind} ({FLOOR_OF[own]} → {FLOOR_OF[other]})")
    return problems


def test_every_module_has_a_floor() -> None:
    parts = {path.relative_to(SOURCE).parts[0].removesuffix(".py") for path in SOURCE.rglob("*.py")}
    assert parts <= set(FLOOR_OF) | LEAVES | ENTRY_POINTS, parts - set(FLOOR_OF) - LEAVES - ENTRY_POINTS


def test_imports_follow_the_floors() -> None:
    assert violations() == []


def test_the_checker_sees_a_back_arrow_and_a_skipped_floor(tmp_path: Path) -> None:
    """The checker itself: it must catch both kinds (a check that cannot fail proves nothing)."""
    fake = tmp_path / "mesh_mod.py"
    fake.write_text("from orfeas.jobs.store import JobStore\nfrom orfeas.engines import get_engine\n")
    module_imports = [target for _, target in ast_imports(fake)]
    assert [FLOOR_OF[_part(t)] for t in module_imports] == ["jobs", "engines"]
    assert not {"jobs", "engines"} & MAY_IMPORT["mesh"]  # both would be reported from mesh
    assert "engines" not in MAY_IMPORT["api"]  # the API reaching past jobs is a skipped floor


def ast_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    return [(n.lineno, n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
