"""The Grafana dashboard: the 14 panels of DESIGN.md §5, every query parsed by a real Prometheus,
and every metric name it reads exported by ORFEAS (or defined by a recording rule)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orfeas.metrics import GPU_METRICS
from tests.monitoring.conftest import (
    DASHBOARD,
    MONITORING,
    PrometheusServer,
    dashboard_queries,
    load_yaml,
    recording_rule_names,
    sample_names,
)
from tests.monitoring.promql import metric_names, substitute

PANEL_TITLES = [
    "Health overview",
    "Request rate by endpoint",
    "Latency p50 / p95",
    "Generations over time",
    "Generation duration",
    "Success vs failure",
    "Quality-score heatmap",
    "Rate-limit rejections",
    "Error-rate trend",
    "Active jobs",
    "CPU",
    "Memory",
    "GPU",
    "Resources",
]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def used_metric_names() -> set[str]:
    return set().union(*(metric_names(substitute(expr)) for _, expr in dashboard_queries()))


@pytest.mark.unit
def test_the_fourteen_panels() -> None:
    panels = dashboard()["panels"]
    assert sorted(p["title"] for p in panels) == sorted(PANEL_TITLES)
    assert len({p["id"] for p in panels}) == 14
    assert all(p["targets"] and p.get("description") for p in panels)


@pytest.mark.unit
def test_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells.get((x, y))}"
                cells[(x, y)] = panel["title"]


@pytest.mark.unit
def test_dashboard_uses_the_provisioned_datasource() -> None:
    datasource = load_yaml(MONITORING / "grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    uid = datasource["uid"]
    for panel in dashboard()["panels"]:
        assert panel["datasource"]["uid"] == uid
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
    variable = dashboard()["templating"]["list"][0]
    assert variable["name"] == "instance" and variable["datasource"]["uid"] == uid


@pytest.mark.unit
def test_metric_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (engine, le) (rate(orfeas_generation_duration_seconds_bucket"
        '{job="orfeas", route!~".*/events"}[5m] offset 1m))) / on (job, instance) group_left '
        'orfeas_host_logical_cpus and time() - up{job="x"} > 1e3'
    )
    assert metric_names(expr) == {
        "orfeas_generation_duration_seconds_bucket",
        "orfeas_host_logical_cpus",
        "up",
    }


@pytest.mark.unit
def test_every_dashboard_metric_is_exported(exercised_metrics: Any) -> None:
    """Against a registry where every recording function ran (GPU families from a fixed reading)."""
    known = sample_names(exercised_metrics.exposition().decode()) | recording_rule_names() | {"up"}
    missing = used_metric_names() - known
    assert not missing, f"the dashboard reads metrics nobody exports: {sorted(missing)}"
    assert set(GPU_METRICS) <= used_metric_names(), "the GPU panel shows the NVML families"


@pytest.mark.integration
def test_every_dashboard_query_parses(idle_prometheus: PrometheusServer) -> None:
    for title, expr in dashboard_queries():
        status, answer = idle_prometheus.query(substitute(expr))
        assert status == 200, f"{title}: {expr}\n{answer}"
        assert answer["status"] == "success"


@pytest.mark.integration
def test_a_broken_query_is_refused(idle_prometheus: PrometheusServer) -> None:
    """The parse check above can fail: Prometheus answers 400 to a malformed expression."""
    status, answer = idle_prometheus.query("sum by (le (rate(orfeas_http_requests_total[5m]))")
    assert status == 400
    assert answer["errorType"] == "bad_data"


@pytest.mark.integration
def test_every_rule_expression_parses(idle_prometheus: PrometheusServer) -> None:
    """Recording and alert expressions go through the same parser (promtool also checks them)."""
    for path in sorted((MONITORING / "prometheus/rules").glob("*.yml")):
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                status, answer = idle_prometheus.query(rule["expr"])
                assert status == 200, (rule, answer)
