"""All configuration in one place: pydantic settings read from ``ORFEAS_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of ORFEAS. Each field reads ``ORFEAS_<NAME>`` from the environment."""

    model_config = SettingsConfigDict(env_prefix="ORFEAS_", extra="ignore")

    # --- image intake -------------------------------------------------------------------------
    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1024, description="Largest accepted upload.")
    max_image_pixels: int = Field(
        40_000_000, ge=1, description="Largest accepted width × height, checked before decoding."
    )
    max_text_chars: int = Field(200, ge=1, description="Longest accepted text prompt.")
    max_model_bytes: int = Field(100 * 1024 * 1024, ge=1024, description="Largest accepted mesh file.")
    max_model_faces: int = Field(2_000_000, ge=1, description="Most triangles accepted in a mesh file.")
    admission_memory_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024 * 1024,
        description="Memory the checks of uploads in flight (decoding, mesh parsing) may take together; "
        "a check that does not fit waits (admission_wait_s), then gets 503 with Retry-After.",
    )
    admission_wait_s: float = Field(
        2.0, ge=0, description="How long an upload's check waits for room in the admission memory budget."
    )

    # --- service ------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (e.g. 127.0.0.1 or 10.0.0.0/8); empty: none, the client is the peer.",
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Open connections served at once; more are answered 503 and closed at once "
        "(the process's file-descriptor limit is raised to fit where the system allows).",
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A request's line and headers must arrive within this (slow clients are cut off).",
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, description="An idle kept-alive connection is closed after this."
    )
    max_header_bytes: int = Field(
        64 * 1024,
        ge=4096,
        description="Largest request line plus headers accepted (h11's incomplete event size).",
    )
    body_min_rate_bytes_per_s: int = Field(
        1024,
        ge=0,
        description="After body_grace_s, a request body arriving slower than this on average is cut off "
        "(0: off).",
    )
    body_grace_s: float = Field(
        10.0, ge=0, description="How long a request body may take before body_min_rate_bytes_per_s applies."
    )
    data_dir: Path = Field(Path("./data"), description="Job database and artifacts live here.")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    queue_size: int = Field(64, ge=1, description="Jobs waiting beyond the running ones.")
    job_timeout_s: float = Field(600.0, gt=0)
    max_attempts: int = Field(2, ge=1, description="Runs a job gets when interrupted by a crash.")
    retention_hours: float = Field(72.0, gt=0)
    disk_budget_bytes: int = Field(5 * 1024**3, ge=0, description="Artifacts beyond this are pruned.")
    min_free_bytes: int = Field(
        256 * 1024**2,
        ge=0,
        description="Submissions are refused (507) while the data disk has less than this free, so the "
        "disk never fills; /readyz reports not ready below it.",
    )
    rate_limit_submissions_per_minute: int = Field(30, ge=0, description="0 turns the limit off.")
    rate_limit_requests_per_minute: int = Field(1200, ge=0, description="0 turns the limit off.")
    api_keys: str = Field("", description="Comma-separated API keys; empty means no key is needed.")
    protect_metrics: bool | None = Field(
        None,
        description="Whether /metrics needs an API key too; default: yes whenever api_keys are set "
        "(Prometheus then sends one, see monitoring/README.md).",
    )
    cors_origins: str = Field("", description="Comma-separated origins; empty turns CORS off.")
    allowed_hosts: str = Field(
        "",
        description="Comma-separated Host names the service answers to (against DNS rebinding); empty: "
        "the bind address and localhost, or any host when bound to all interfaces (0.0.0.0, ::).",
    )
    metrics_enabled: bool = True
    worker_mode: Literal["process", "thread"] = Field(
        "process", description="Run generations in child processes (default, faster here) or threads."
    )
    cache_enabled: bool = Field(
        True, description="Answer a submission identical to an earlier one with that job's result."
    )
    cache_max_bytes: int = Field(
        2 * 1024**3,
        ge=0,
        description="Files the result cache answers from; beyond it the oldest entries are forgotten.",
    )
    maintenance_interval_s: float = Field(
        300.0, gt=0, description="How often retention (age and disk budget) runs in the service."
    )

    # --- engines ------------------------------------------------------------------------------
    default_engine: str = "relief"
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$",
        description="Where neural engines run: auto (the first CUDA device), cuda, cuda:N or cpu.",
    )
    allow_cpu: bool = Field(
        False, description="With device=auto and no CUDA device, run neural engines on the CPU (slow)."
    )
    gpu_memory_fraction: float = Field(
        0.9, gt=0, le=1, description="Share of a GPU's memory one worker process may allocate."
    )
    gpu_oom_fallback: bool = Field(
        False, description="When a neural engine runs out of GPU memory, build the model with relief."
    )
    hunyuan3d_model_dir: Path | None = Field(
        None, description="Hunyuan3D-2 weights: the repository folder or its shape subfolder."
    )
    hunyuan3d_model_id: str = Field(
        "tencent/Hunyuan3D-2", description="Looked up under HY3DGEN_MODELS and in the offline HF cache."
    )
    hunyuan3d_subfolder: str = Field("hunyuan3d-dit-v2-0", description="The shape model's subfolder.")
    diffusion_model_dir: Path | None = Field(
        None, description="A diffusers text-to-image pipeline folder (with model_index.json)."
    )
    models_dir: Path = Field(
        Path("./models"),
        description="Model files run on the CPU by default (u2netp.onnx for the subject mask), placed "
        "by `python -m orfeas.imaging.models`; nothing is ever downloaded at run time.",
    )
    mask_threads: int = Field(
        2, ge=1, le=64, description="CPU threads the subject-mask network may use in one process."
    )
    rembg_model_path: Path | None = Field(
        None,
        description="A U²-Net-family ONNX file run through rembg (optional extra) for the neural mask; "
        "empty: the neural mask runs models_dir/u2netp.onnx itself.",
    )

    # --- fidelity (docs: README "The printability report") ------------------------------------
    fidelity_bound_mm: float = Field(
        0.2,
        gt=0,
        description="A model whose surface strays from what the engine meant to build by more than "
        "max(this, fidelity_bound_depth_share × its relief depth) fails verification and is not written.",
    )
    fidelity_bound_depth_share: float = Field(
        0.02, ge=0, le=1, description="The share of the relief depth the fidelity bound grows with."
    )

    # --- scale-out (docs: DESIGN.md §4) ----------------------------------------------------------
    queue: Literal["local", "celery"] = Field(
        "local",
        description="local: the embedded worker pool (one API process owns the store: it re-queues "
        "interrupted jobs at start); celery: jobs go to `orfeas worker`s via Redis, any number of API "
        "processes may share the store.",
    )
    broker_url: str = Field(
        "", description="The Celery broker (redis://host:6379/0); required (no default) when queue=celery."
    )
    database_url: str = Field(
        "", description="Empty: SQLite in data_dir; postgresql://user:pass@host/db: a shared PostgreSQL."
    )
    artifact_dir: Path | None = Field(
        None, description="Job files (a shared directory for several machines); default data_dir/jobs."
    )
    worker_metrics_port: int = Field(
        0, ge=0, le=65535, description="An `orfeas worker` serves its own /metrics here (0: off)."
    )

    @model_validator(mode="after")
    def _scale_out_consistent(self) -> Settings:
        if self.queue == "celery" and not self.broker_url.strip():
            raise ValueError("queue=celery needs ORFEAS_BROKER_URL (for example redis://127.0.0.1:6379/0)")
        url = self.database_url.strip()
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("database_url must be empty (SQLite) or a postgresql:// URL")
        return self

    def jobs_dir(self) -> Path:
        """Where job files live: ``artifact_dir`` when set, else ``data_dir/jobs``."""
        return self.artifact_dir if self.artifact_dir is not None else self.data_dir / "jobs"

    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())

    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def metrics_protected(self) -> bool:
        """Whether ``/metrics`` needs a key: as set, else whenever the API needs one."""
        return bool(self.api_key_set()) if self.protect_metrics is None else self.protect_metrics

    def allowed_host_set(self) -> frozenset[str] | None:
        """The Host names to answer, lower case, without port; ``None``: any host."""
        given = {h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()}
        if given:
            return frozenset(given)
        if self.host in ("0.0.0.0", "::", ""):
            return None  # listening everywhere: the operator names the hosts, or accepts any
        return frozenset({self.host.lower(), "localhost", "127.0.0.1", "::1"})

    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]


def get_settings() -> Settings:
    """The settings in this process's environment, read now.

    Called only at the process edges — the command line, :func:`orfeas.api.create_app` without
    settings, ``orfeas worker``, and the Python API's defaults; everything below is handed its
    settings by its caller.
    """
    return Settings()
