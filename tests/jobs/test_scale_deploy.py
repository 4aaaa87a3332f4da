"""The scaled deployment files: the compose file validates and Prometheus scrapes the workers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from orfeas.jobs.distributed import make_celery
from orfeas.settings import Settings
from tests.conftest import require_tool

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
COMPOSE = MONITORING / "docker-compose.scale.yml"


def compose(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    return subprocess.run(
        [require_tool("docker-compose"), "-f", str(COMPOSE), *args],
        cwd=MONITORING,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.integration
def test_scale_compose_is_valid_and_has_no_default_secret() -> None:
    ok = compose("config", "-q", POSTGRES_PASSWORD="test-only", GRAFANA_ADMIN_PASSWORD="test-only")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    missing = compose("config", "-q", GRAFANA_ADMIN_PASSWORD="test-only")
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stdout + missing.stderr
    config = yaml.safe_load(compose("config", POSTGRES_PASSWORD="p", GRAFANA_ADMIN_PASSWORD="g").stdout)
    services = config["services"]
    assert {"orfeas", "worker-1", "worker-2", "redis", "postgres", "prometheus", "grafana"} <= set(services)
    for worker in ("worker-1", "worker-2"):
        assert services[worker]["command"] == ["orfeas", "worker"]
        assert services[worker]["environment"]["ORFEAS_QUEUE"] == "celery"


@pytest.mark.unit
def test_scale_prometheus_scrapes_every_worker() -> None:
    config = yaml.safe_load((MONITORING / "prometheus/scale/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"orfeas", "orfeas-worker"} <= set(jobs)
    assert jobs["orfeas-worker"]["static_configs"][0]["targets"] == ["worker-1:9200", "worker-2:9200"]
    assert config["rule_files"] == ["../rules/*.yml"]


@pytest.mark.unit
def test_celery_settings_suit_long_jobs() -> None:
    settings = Settings(queue="celery", broker_url="redis://127.0.0.1:1/0", job_timeout_s=900)
    conf = make_celery(settings).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] > settings.job_timeout_s


@pytest.mark.unit
def test_scale_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="BROKER_URL"):
        Settings(queue="celery")
    with pytest.raises(ValueError, match="postgresql"):
        Settings(database_url="mysql://x")
    assert Settings(data_dir=Path("/d")).jobs_dir() == Path("/d/jobs")
    assert Settings(artifact_dir=Path("/shared")).jobs_dir() == Path("/shared")


def test_the_api_fails_jobs_no_worker_can_still_have(tmp_path: Path) -> None:
    """No job stays "running" forever: past job_timeout_s + the visibility timeout, it was lost."""
    from orfeas.jobs.distributed import CeleryQueue, visibility_timeout
    from orfeas.jobs.states import Job, JobState
    from orfeas.jobs.store import JobStore
    from orfeas.spec import JobSpec

    settings = Settings(
        data_dir=tmp_path, queue="celery", broker_url="redis://127.0.0.1:1/0", job_timeout_s=100
    )
    store = JobStore(tmp_path)
    queue = CeleryQueue(store, settings)  # never started: no broker is needed for the sweep
    events: list[tuple[str, str]] = []
    queue.add_listener(lambda event: events.append((event.kind, event.job.id)))
    job = store.create(Job(id="a" * 32, spec=JobSpec(engine="relief")))
    store.claim(job.id)
    queue._watched[job.id] = (JobState.RUNNING, 0.0)  # accepted by this API process
    started = store.get(job.id).started_at  # type: ignore[union-attr]
    limit = settings.job_timeout_s + visibility_timeout(settings) + 60
    assert queue.fail_lost(now=started + limit - 1) == []
    assert queue.fail_lost(now=started + limit + 1) == [job.id]
    assert store.get(job.id).state is JobState.FAILED  # type: ignore[union-attr]
    assert events == [("failed", job.id)]
    store.close()
