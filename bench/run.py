"""`make bench`: every benchmark in turn; each writes its JSON to bench/results/ and prints a summary.

Benchmarks report ratios against a baseline measured in the same run, never bare seconds
compared to a fixed number: these machines are shared and noisy.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = (
    "core.py",
    "fidelity.py",
    "makers.py",
    "colours.py",
    "mask.py",
    "startup.py",
    "load.py",
    "metrics_bench.py",
    "scale.py",
    "admission.py",
)


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        script = HERE / name
        if not script.exists():
            continue
        print(f"\n== {name} ==", flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
