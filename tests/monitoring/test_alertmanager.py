"""Alertmanager: the committed config, its rendering from the environment, routing by severity
(amtool) and inhibition of warnings by their critical twin (a real Alertmanager on loopback)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.monitoring.conftest import ALERTMANAGER_DIR, free_port, http_json, load_yaml, run, tool

RENDER = ALERTMANAGER_DIR / "render-config.sh"
CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"

FULL_ENV = {
    "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
    "ALERT_SLACK_API_URL": "https://hooks.slack.invalid/services/T0/B0/x",
    "ALERT_SLACK_CHANNEL": "#orfeas",
    "ALERT_EMAIL_TO": "ops@example.invalid",
    "ALERT_EMAIL_FROM": "alertmanager@example.invalid",
    "ALERT_SMTP_SMARTHOST": "smtp.example.invalid:587",
    "ALERT_SMTP_USERNAME": "alertmanager",
    "ALERT_SMTP_PASSWORD": "not-a-real-password",
}


def render(out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(["sh", str(RENDER), str(out)], env=env)


@pytest.mark.integration
def test_amtool_accepts_the_committed_config() -> None:
    result = run([tool("amtool"), "check-config", str(CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_committed_config_is_the_rendering_without_environment(tmp_path: Path, clean_env: dict) -> None:
    out = tmp_path / "alertmanager.yml"
    result = render(out, clean_env)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == CONFIG.read_text(), "re-run render-config.sh to regenerate alertmanager.yml"
    receivers = {r["name"]: r for r in load_yaml(out)["receivers"]}
    assert set(receivers) == {"null", "critical", "warning"}
    assert all(set(r) == {"name"} for r in receivers.values()), "nothing is notified until configured"


@pytest.mark.integration
def test_environment_turns_on_every_receiver(tmp_path: Path, clean_env: dict) -> None:
    out = tmp_path / "alertmanager.yml"
    result = render(out, {**clean_env, **FULL_ENV})
    assert result.returncode == 0, result.stderr
    check = run([tool("amtool"), "check-config", str(out)])
    assert check.returncode == 0, check.stdout + check.stderr
    config = load_yaml(out)
    assert config["global"]["smtp_smarthost"] == FULL_ENV["ALERT_SMTP_SMARTHOST"]
    for receiver in config["receivers"]:
        if receiver["name"] == "null":
            continue
        assert receiver["webhook_configs"][0]["url"] == FULL_ENV["ALERT_WEBHOOK_URL"]
        assert receiver["slack_configs"][0]["api_url"] == FULL_ENV["ALERT_SLACK_API_URL"]
        assert receiver["slack_configs"][0]["channel"] == "#orfeas"
        assert receiver["email_configs"][0]["to"] == FULL_ENV["ALERT_EMAIL_TO"]


@pytest.mark.integration
def test_only_the_webhook(tmp_path: Path, clean_env: dict) -> None:
    out = tmp_path / "alertmanager.yml"
    assert render(out, {**clean_env, "ALERT_WEBHOOK_URL": FULL_ENV["ALERT_WEBHOOK_URL"]}).returncode == 0
    assert run([tool("amtool"), "check-config", str(out)]).returncode == 0
    critical = next(r for r in load_yaml(out)["receivers"] if r["name"] == "critical")
    assert set(critical) == {"name", "webhook_configs"}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALERT_EMAIL_TO": "ops@example.invalid"}, "ALERT_EMAIL_TO needs"),
        ({"ALERT_WEBHOOK_URL": 'http://x/"; rm -rf /'}, "must not contain quotes"),
    ],
)
def test_bad_environment_is_refused(tmp_path: Path, clean_env: dict, env: dict, message: str) -> None:
    out = tmp_path / "alertmanager.yml"
    result = render(out, {**clean_env, **env})
    assert result.returncode != 0
    assert message in result.stderr
    assert not out.exists(), "no half-written config is left behind"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=CriticalLatency"], "critical"),
        (["severity=warning", "alertname=HighLatency"], "warning"),
        (["alertname=Watchdog"], "null"),
    ],
)
def test_routes_by_severity(labels: list[str], receiver: str) -> None:
    result = run([tool("amtool"), "config", "routes", "test", f"--config.file={CONFIG}", *labels])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager with the committed config on a loopback port."""
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            tool("prometheus-alertmanager"),
            f"--config.file={CONFIG}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
            try:
                if http_json(f"{url}/-/ready", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "alertmanager did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _alert(name: str, severity: str, signal: str, instance: str = "orfeas:8000") -> dict:
    labels = {
        "alertname": name,
        "severity": severity,
        "signal": signal,
        "job": "orfeas",
        "instance": instance,
    }
    return {"labels": labels, "annotations": {"summary": name}}


@pytest.mark.integration
def test_critical_alert_inhibits_its_warning_twin(alertmanager: str) -> None:
    alerts = [
        _alert("CriticalLatency", "critical", "latency"),
        _alert("HighLatency", "warning", "latency"),  # inhibited: same signal, same instance
        _alert("HighLatency", "warning", "latency", instance="orfeas:8001"),  # other instance
        _alert("HighCPUUsage", "warning", "cpu"),  # other signal
    ]
    request = urllib.request.Request(
        f"{alertmanager}/api/v2/alerts", json.dumps(alerts).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    deadline = time.monotonic() + 10
    while True:
        status, current = http_json(f"{alertmanager}/api/v2/alerts")
        assert status == 200
        states = {(a["labels"]["alertname"], a["labels"]["instance"]): a["status"]["state"] for a in current}
        if len(states) == 4 and "suppressed" in states.values():
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.1)
    assert states == {
        ("CriticalLatency", "orfeas:8000"): "active",
        ("HighLatency", "orfeas:8000"): "suppressed",
        ("HighLatency", "orfeas:8001"): "active",
        ("HighCPUUsage", "orfeas:8000"): "active",
    }


@pytest.mark.integration
def test_application_down_inhibits_the_other_alerts_of_its_instance(alertmanager: str) -> None:
    alerts = [
        _alert("ApplicationDown", "critical", "availability"),
        _alert("HighErrorRate", "warning", "errors"),
        _alert("JobQueueFull", "critical", "queue"),
    ]
    request = urllib.request.Request(
        f"{alertmanager}/api/v2/alerts", json.dumps(alerts).encode(), {"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=5).close()
    deadline = time.monotonic() + 10
    while True:
        current = http_json(f"{alertmanager}/api/v2/alerts")[1]
        states = {a["labels"]["alertname"]: a["status"]["state"] for a in current}
        if len(states) == 3 and list(states.values()).count("suppressed") == 2:
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.1)
    assert states["ApplicationDown"] == "active"
