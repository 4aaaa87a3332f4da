"""monitoring/README.md documents exactly what ORFEAS exports and every alert."""

from __future__ import annotations

import re

import pytest

from tests.monitoring.conftest import README, alert_rules


def table(header_first_cell: str) -> list[dict[str, str]]:
    """The rows of the README table whose header starts with ``header_first_cell``."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_first_cell} |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def code_words(cell: str) -> frozenset[str]:
    return frozenset(re.findall(r"`([^`]+)`", cell))


@pytest.mark.unit
def test_metric_table_equals_the_exported_metrics(exported_families: dict) -> None:
    documented = {}
    for row in table("family"):
        (name,) = code_words(row["name"])
        assert name not in documented, f"{name} documented twice"
        documented[name] = (row["type"], code_words(row["labels"]))
    exported = {name: (kind, labels) for name, (kind, labels) in exported_families.items()}
    assert set(documented) == set(exported), (
        f"undocumented: {sorted(set(exported) - set(documented))}; "
        f"not exported: {sorted(set(documented) - set(exported))}"
    )
    for name, spec in exported.items():
        assert documented[name] == spec, f"{name}: README says {documented[name]}, exported {spec}"


@pytest.mark.unit
def test_alert_table_lists_every_alert_with_its_severity() -> None:
    rows = {row["alert"]: row for row in table("alert")}
    rules = alert_rules()
    assert set(rows) == set(rules)
    for name, rule in rules.items():
        assert rows[name]["severity"] == rule["labels"]["severity"], name
        assert rows[name]["what to do"], name
