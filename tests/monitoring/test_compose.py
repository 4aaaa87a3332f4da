"""The compose stack, validated with Debian's docker-compose, and the files it mounts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.monitoring.conftest import MONITORING, ROOT, load_yaml, run, tool

COMPOSE = MONITORING / "docker-compose.yml"
SERVICES = {"orfeas", "prometheus", "alertmanager", "grafana", "node-exporter"}


def compose(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = run([tool("docker-compose"), "-f", str(COMPOSE), *args], cwd=MONITORING, env=env)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.integration
def test_compose_file_is_valid(clean_env: dict) -> None:
    code, out, err = compose(["config", "-q"], {**clean_env, "GRAFANA_ADMIN_PASSWORD": "test-only"})
    assert code == 0, out + err


@pytest.mark.integration
def test_grafana_password_has_no_default(clean_env: dict) -> None:
    code, out, err = compose(["config", "-q"], clean_env)
    assert code != 0
    assert "GRAFANA_ADMIN_PASSWORD" in out + err


@pytest.mark.integration
def test_compose_services_and_mounts(clean_env: dict) -> None:
    code, out, err = compose(["config"], {**clean_env, "GRAFANA_ADMIN_PASSWORD": "test-only"})
    assert code == 0, err
    config = yaml.safe_load(out)
    services = config["services"]
    assert set(services) == SERVICES
    build = services["orfeas"]["build"]
    assert Path(build["context"]).resolve() == ROOT
    assert (ROOT / build.get("dockerfile", "Dockerfile")).is_file()
    # Every file or folder mounted from the repository exists.
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if str(source).startswith(str(MONITORING)):
                assert Path(source).exists(), f"{name} mounts missing {source}"
    # The Grafana provisioning points at the folder compose mounts the dashboards into.
    provider = load_yaml(MONITORING / "grafana/provisioning/dashboards/orfeas.yml")["providers"][0]
    targets = {
        v["target"] if isinstance(v, dict) else v.split(":")[1] for v in services["grafana"]["volumes"]
    }
    assert provider["options"]["path"] in targets
    # Alertmanager renders its config from the environment before starting.
    assert "render-config.sh" in " ".join(services["alertmanager"]["entrypoint"])


@pytest.mark.unit
def test_prometheus_targets_are_compose_services() -> None:
    config = load_yaml(MONITORING / "prometheus/prometheus.yml")
    hosts = {
        target.split(":")[0]
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert hosts - {"localhost"} <= SERVICES


@pytest.mark.unit
def test_dockerfile_serves_on_all_interfaces() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "pip install ." in text
    assert '"serve", "--host", "0.0.0.0"' in text
    assert "USER " in text, "the service does not run as root"
