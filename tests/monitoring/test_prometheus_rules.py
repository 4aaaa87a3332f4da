"""Prometheus configuration, recording and alert rules, checked with the real promtool."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.monitoring.conftest import (
    CRITICAL_ALERTS,
    PROMETHEUS_DIR,
    RULE_TESTS_DIR,
    RULES_DIR,
    WARNING_ALERTS,
    alert_rules,
    load_yaml,
    run,
    tool,
)


@pytest.mark.integration
def test_promtool_accepts_the_prometheus_config() -> None:
    result = run([tool("promtool"), "check", "config", "prometheus.yml"], cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout + result.stderr


@pytest.mark.integration
def test_promtool_accepts_the_scaled_prometheus_config() -> None:
    """The scaled set-up's config (API + every `orfeas worker`) reads the same rule files."""
    result = run([tool("promtool"), "check", "config", "prometheus.yml"], cwd=PROMETHEUS_DIR / "scale")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout + result.stderr


@pytest.mark.integration
def test_promtool_accepts_the_rules() -> None:
    files = sorted(str(p) for p in RULES_DIR.glob("*.yml"))
    result = run([tool("promtool"), "check", "rules", *files])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_promtool_rule_unit_tests_pass() -> None:
    files = sorted(p.name for p in RULE_TESTS_DIR.glob("*.yml"))
    assert files, "no promtool rule tests"
    result = run([tool("promtool"), "test", "rules", *files], cwd=RULE_TESTS_DIR, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


@pytest.mark.integration
def test_promtool_rule_tests_can_fail(tmp_path: Path) -> None:
    """A wrong expectation makes promtool fail: the rule tests are not vacuous."""
    shutil.copytree(PROMETHEUS_DIR / "rules", tmp_path / "rules")
    (tmp_path / "tests").mkdir()
    original = (RULE_TESTS_DIR / "errors.yml").read_text()
    broken = original.replace("records 2.00 server-side", "records 3.00 server-side", 1)
    assert broken != original
    (tmp_path / "tests" / "errors.yml").write_text(broken)
    result = run([tool("promtool"), "test", "rules", "errors.yml"], cwd=tmp_path / "tests")
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


@pytest.mark.unit
def test_the_seventeen_alerts_exist_with_their_severity() -> None:
    rules = alert_rules()
    assert set(rules) == set(CRITICAL_ALERTS) | set(WARNING_ALERTS)
    assert len(rules) == 17
    for name in CRITICAL_ALERTS:
        assert rules[name]["labels"]["severity"] == "critical", name
    for name in WARNING_ALERTS:
        assert rules[name]["labels"]["severity"] == "warning", name


@pytest.mark.unit
@pytest.mark.parametrize("name", CRITICAL_ALERTS + WARNING_ALERTS)
def test_every_alert_explains_itself(name: str) -> None:
    rule = alert_rules()[name]
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description", "runbook"}
    assert "$labels.instance" in annotations["summary"]
    assert "$value" in annotations["description"] or name == "ApplicationDown"
    assert annotations["runbook"].endswith("."), "the runbook is a sentence"
    assert rule["labels"].get("signal"), "the signal label pairs a warning with its critical twin"
    assert rule.get("for"), "every alert waits before firing"


@pytest.mark.unit
def test_warnings_with_a_critical_twin_share_its_signal() -> None:
    """Alertmanager inhibits a warning while the critical alert with the same signal fires."""
    rules = alert_rules()
    signal = {name: rule["labels"]["signal"] for name, rule in rules.items()}
    twins = {
        "HighErrorRate": "CriticalErrorRate",
        "HighLatency": "CriticalLatency",
        "HighCPUUsage": "CriticalCPUUsage",
        "HighMemoryUsage": "CriticalMemoryUsage",
        "LowDiskSpace": "CriticalDiskSpace",
        "HighRateLimitRejections": "PossibleDDoS",
        "HighGenerationFailureRate": "NoSuccessfulGenerations",
    }
    for warning, critical in twins.items():
        assert signal[warning] == signal[critical], (warning, critical)
    critical_signals = {signal[name] for name in CRITICAL_ALERTS}
    assert signal["SlowGenerations"] not in critical_signals, "SlowGenerations has no critical twin"


@pytest.mark.unit
def test_thresholds_match_the_design() -> None:
    expected = {
        "CriticalErrorRate": "> 1",
        "HighErrorRate": "> 0.1",
        "CriticalLatency": "> 30",
        "HighLatency": "> 5",
        "CriticalCPUUsage": "> 0.95",
        "HighCPUUsage": "> 0.80",
        "CriticalMemoryUsage": "> 0.95",
        "HighMemoryUsage": "> 0.85",
        "PossibleDDoS": "> 10",
        "CriticalDiskSpace": "< 0.10",
        "LowDiskSpace": "< 0.20",
        "HighGenerationFailureRate": "> 0.20",
        "SlowGenerations": "> 600",
    }
    rules = alert_rules()
    for name, threshold in expected.items():
        assert rules[name]["expr"].rstrip().endswith(threshold), (name, rules[name]["expr"])
    assert rules["ApplicationDown"]["for"] == "1m"


@pytest.mark.unit
def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    firing: dict[str, int] = {}
    silent: dict[str, int] = {}
    for path in sorted(RULE_TESTS_DIR.glob("*.yml")):
        spec = load_yaml(path)
        assert {Path(f).name for f in spec["rule_files"]} == {p.name for p in RULES_DIR.glob("*.yml")}, path
        for case in spec["tests"]:
            for check in case.get("alert_rule_test", []):
                name = check["alertname"]
                if check.get("exp_alerts"):
                    firing[name] = firing.get(name, 0) + 1
                    for alert in check["exp_alerts"]:
                        # Expectations pin the whole label set and every annotation.
                        assert {"severity", "signal", "instance"} <= set(alert["exp_labels"]), name
                        assert set(alert["exp_annotations"]) == {"summary", "description", "runbook"}, name
                else:
                    silent[name] = silent.get(name, 0) + 1
    names = set(alert_rules())
    assert not names - set(firing), f"alerts never shown firing: {sorted(names - set(firing))}"
    assert not names - set(silent), f"alerts never shown silent: {sorted(names - set(silent))}"
    assert not (set(firing) | set(silent)) - names, "a test names an alert that does not exist"


@pytest.mark.unit
def test_prometheus_config_scrapes_orfeas_node_exporter_and_itself() -> None:
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"orfeas", "node", "prometheus", "alertmanager"} <= set(jobs)
    assert jobs["orfeas"]["metrics_path"] == "/metrics"
    assert config["rule_files"] == ["rules/*.yml"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]
    # ApplicationDown selects the jobs by name: renaming one would silence it.
    assert 'job=~"orfeas|orfeas-worker"' in alert_rules()["ApplicationDown"]["expr"]
