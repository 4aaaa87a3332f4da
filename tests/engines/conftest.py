"""Fixtures for the neural engines: settings for a test (also set as ``ORFEAS_*`` variables, for
the command line and services the test starts) and tiny models built once per test process. A
missing neural package skips locally and fails in CI (``tests.conftest.require``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orfeas.engines import gpu
from orfeas.settings import Settings
from tests.conftest import require
from tests.engines import tiny_models


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Settings]]:
    """``configure(allow_cpu=True, ...)``: the settings with these values, which are also set as
    ``ORFEAS_*`` for this test (what a command or service started by the test reads)."""

    def apply(**values: object) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(f"ORFEAS_{name.upper()}", str(value))
        return Settings()

    yield apply


def require_hy3dgen() -> None:
    from orfeas.engines.hunyuan3d import import_problem

    require(gpu.installed("hy3dgen"), "hy3dgen is not installed (extra 'hunyuan3d')")
    problem = import_problem()
    require(not problem, f"hy3dgen cannot be imported: {problem}")


def require_diffusers() -> None:
    for package in ("torch", "diffusers", "transformers"):
        require(gpu.installed(package), f"{package} is not installed (extra 'diffusion')")


@pytest.fixture(scope="session")
def tiny_hunyuan3d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hunyuan3D-2 repository folder with a tiny random shape model."""
    require_hy3dgen()
    return tiny_models.build_hunyuan3d(tmp_path_factory.mktemp("hunyuan3d"))


@pytest.fixture(scope="session")
def tiny_diffusion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A diffusers Stable Diffusion folder with tiny random weights."""
    require_diffusers()
    return tiny_models.build_diffusion(tmp_path_factory.mktemp("diffusion") / "pipeline")


@pytest.fixture(scope="session")
def tiny_rembg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX file in rembg's input/output shape, inside a folder usable as ``REMBG_HOME``."""
    for package in ("rembg", "onnxruntime"):
        require(gpu.installed(package), f"{package} is not installed (extra 'rembg')")
    return tiny_models.build_rembg_model(tmp_path_factory.mktemp("rembg-home") / "dark.onnx")
