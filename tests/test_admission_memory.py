"""Peak memory of admission checks under the hostile files of issue 16 (defect 1), each in a fresh
process through ``bench/admission.py``: growth of ``VmHWM`` at most 300 MB. A memory bound, not a
timing, so it is asserted here; the benchmark prints the same figures and the ungated baseline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import require

pytestmark = pytest.mark.performance

_BENCH = Path(__file__).parents[1] / "bench" / "admission.py"
#: The issue's bound on the API's peak growth under these files.
LIMIT_MB = 300


def _bench():
    spec = importlib.util.spec_from_file_location("bench_admission", _BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("case", "outcome"),
    [
        ("3mf-3m-triangles", "too_large"),  # 234 KB → was 2.7 GB
        ("3mf-1gib", "too_large"),  # 1 MB → was 2.0 GB
        ("png-36mp-x6", "decoded 6000x6000"),  # six at once, gated → were 0.87 GB ungated
    ],
)
def test_peak_memory_under_hostile_uploads(case: str, outcome: str) -> None:
    require(Path("/proc/self/status").exists(), "VmHWM needs Linux's /proc")
    figures = _bench().measure(case, python=sys.executable)
    assert all(o.startswith(outcome) for o in figures["outcome"]), figures
    assert figures["peak_growth_mb"] <= LIMIT_MB, figures
