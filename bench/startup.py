"""Benchmark of the command line's start-up: ``orfeas --help``, ``orfeas engines`` and the cost of
``orfeas generate`` beyond the pipeline's own work.

Every command runs ``--repeat`` times as a fresh process; medians are reported next to the same
run's ``python -c pass`` (the interpreter's own start-up), as ratios. The pipeline's own time is
``orfeas.generate`` + ``save`` measured warm, in one process, on the same picture and formats, so
``generate overhead`` = command wall time − pipeline time: imports, argument parsing, the summary.
That overhead is split in two: the libraries the pipeline itself needs (numpy, scipy, trimesh,
OpenCV — the same ``orfeas.generate`` + ``save`` in a fresh process, minus the warm time), and what
the command line adds on top of that fresh-process run (its own imports, parsing, the summary).

Goals (issue #12): ``--help`` and ``engines`` ≤ 0.3 s, generate overhead ≤ 0.5 s, on 2 cores.

    python bench/startup.py [--repeat 7] [--out bench/results/startup.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
ORFEAS = Path(sys.executable).with_name("orfeas")
GOALS_S = {"help": 0.3, "engines": 0.3, "generate_overhead": 0.5}


def wall(command: list[str], repeat: int) -> float:
    """Median wall time of ``command`` as a fresh process (one untimed warm-up for the disk cache)."""
    subprocess.run(command, capture_output=True, check=True)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def pipeline_time(picture: Path, outputs: list[Path], repeat: int) -> float:
    """Median of ``generate`` + ``save`` in one warm process (what the command's work costs)."""
    code = (
        "import statistics, sys, time\n"
        "import orfeas\n"
        f"picture, outputs, repeat = {str(picture)!r}, {[str(o) for o in outputs]!r}, {repeat}\n"
        "def once():\n"
        "    model = orfeas.generate(picture)\n"
        "    for out in outputs:\n"
        "        model.save(out)\n"
        "once()\n"
        "times = []\n"
        "for _ in range(repeat):\n"
        "    t = time.perf_counter(); once(); times.append(time.perf_counter() - t)\n"
        "print(statistics.median(times))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def cold_time(picture: Path, outputs: list[Path], repeat: int) -> float:
    """Median wall time of one ``generate`` + ``save`` as a fresh Python process (libraries loaded)."""
    code = (
        "import orfeas\n"
        f"model = orfeas.generate({str(picture)!r})\n"
        f"for out in {[str(o) for o in outputs]!r}:\n"
        "    model.save(out)\n"
    )
    return wall([sys.executable, "-c", code], repeat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "startup.json")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from core import picture  # the same deterministic pictures as the core benchmark

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        image = folder / "figure.png"
        image.write_bytes(picture(1024, "alpha"))
        outputs = [folder / "model.stl", folder / "model.glb"]
        python = wall([sys.executable, "-c", "pass"], args.repeat)
        help_s = wall([str(ORFEAS), "--help"], args.repeat)
        engines_s = wall([str(ORFEAS), "engines"], args.repeat)
        command = [str(ORFEAS), "generate", str(image), "-q", *(x for o in outputs for x in ("-o", str(o)))]
        generate_s = wall(command, args.repeat)
        work_s = pipeline_time(image, outputs, args.repeat)
        cold_s = cold_time(image, outputs, args.repeat)
    figures = {
        "python_c_pass_s": round(python, 4),
        "help_s": round(help_s, 4),
        "engines_s": round(engines_s, 4),
        "generate_s": round(generate_s, 4),
        "pipeline_s": round(work_s, 4),
        "generate_overhead_s": round(generate_s - work_s, 4),
        "pipeline_libraries_s": round(cold_s - work_s, 4),
        "command_line_own_s": round(generate_s - cold_s, 4),
        "ratios_to_python": {
            "help": round(help_s / python, 2),
            "engines": round(engines_s / python, 2),
            "generate_overhead": round((generate_s - work_s) / python, 2),
        },
        "goals_s": GOALS_S,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(f"python -c pass      {python:.3f} s")
    for name, seconds in (("help", help_s), ("engines", engines_s)):
        goal = "meets" if seconds <= GOALS_S[name] else "misses"
        ratio = seconds / python
        print(f"orfeas {name:<12} {seconds:.3f} s  ({ratio:.1f}× python; {goal} ≤ {GOALS_S[name]} s)")
    overhead = generate_s - work_s
    goal = "meets" if overhead <= GOALS_S["generate_overhead"] else "misses"
    print(
        f"orfeas generate     {generate_s:.3f} s = pipeline {work_s:.3f} s + overhead {overhead:.3f} s "
        f"({overhead / python:.1f}× python; {goal} ≤ {GOALS_S['generate_overhead']} s)"
    )
    print(
        f"  of which           {cold_s - work_s:.3f} s loading the pipeline's libraries "
        f"(orfeas.generate in a fresh process), {generate_s - cold_s:.3f} s the command line's own"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
