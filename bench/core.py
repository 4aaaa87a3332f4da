"""Benchmark of the generation core: per-stage timings and peak memory per input size and mode.

Each case runs in its own process (so peak RSS belongs to that case alone): one warm-up, then
``--repeat`` timed runs; medians are reported. Next to each total stands its ratio to the I/O
floor measured in the same process: decoding the input and exporting STL + GLB, nothing else.

    python bench/core.py [--repeat 5] [--out bench/results/core.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SIZES = (512, 1024, 2048)
MODES = ("puffy", "relief", "extrude", "lithophane", "heightmap")
#: (size, mode, kind) → target seconds on a 2-core machine, from the issues.
TARGETS = {
    (1024, "puffy", "alpha"): 0.35,
    (1024, "puffy", "plain"): 0.8,
    (1024, "lithophane", "photo"): 0.8,
    (1024, "revolve", "round"): 0.3,
}
#: Half-widths (fractions of the picture) of a vase seen from the side, from its top down.
VASE = (
    (0.08, 0.15),
    (0.12, 0.12),
    (0.25, 0.10),
    (0.35, 0.14),
    (0.50, 0.21),
    (0.65, 0.22),
    (0.80, 0.18),
    (0.92, 0.13),
)
RSS_TARGET_MB = 400


def picture(size: int, kind: str) -> bytes:
    """A deterministic test picture: ``alpha`` (subject on transparency), ``plain`` (subject on a
    plain background, needs GrabCut), ``photo`` (busy, photo-like) or ``round`` (a striped vase
    seen from the side, on transparency, for ``revolve``)."""
    rng = np.random.default_rng(size)
    if kind == "round":
        rgba = np.zeros((size, size, 4), np.uint8)
        right = [(size * (0.5 + r), size * y) for y, r in VASE]
        left = [(size * (0.5 - r), size * y) for y, r in reversed(VASE)]
        cv2.fillPoly(rgba, [np.array(right + left, np.int32)], (40, 80, 170, 255))
        for y in (0.4, 0.55, 0.7):
            band = slice(int(size * y), int(size * (y + 0.03)))
            rgba[band][rgba[band][..., 3] > 0] = (240, 240, 235, 255)
        image = Image.fromarray(rgba)
    elif kind == "photo":
        y, x = np.mgrid[0:size, 0:size] / size
        base = np.stack([120 + 80 * x, 100 + 60 * np.sin(6 * y), 90 + 70 * x * y], axis=-1)
        blobs = cv2.GaussianBlur(rng.normal(0, 40, (size, size, 3)), (0, 0), size / 30)
        rgb = np.clip(base + blobs + rng.normal(0, 10, (size, size, 3)), 0, 255).astype(np.uint8)
        image = Image.fromarray(rgb)
    else:
        rgba = np.zeros((size, size, 4), np.uint8)
        if kind == "plain":
            rgba[..., :3], rgba[..., 3] = 245, 255
        s = size / 1024
        cv2.ellipse(
            rgba,
            (int(512 * s), int(540 * s)),
            (int(380 * s), int(300 * s)),
            20,
            0,
            360,
            (200, 80, 40, 255),
            -1,
        )
        cv2.circle(rgba, (int(380 * s), int(330 * s)), int(150 * s), (60, 120, 200, 255), -1)
        cv2.circle(
            rgba,
            (int(600 * s), int(560 * s)),
            int(60 * s),
            (0, 0, 0, 0) if kind == "alpha" else (245, 245, 245, 255),
            -1,
        )
        image = Image.fromarray(rgba if kind == "alpha" else rgba[..., :3])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def timed(
    data: bytes, params: dict, repeat: int, formats: tuple[str, ...] = ("stl", "glb")
) -> tuple[dict[str, float], float, object]:
    """picture → ``formats`` (STL + GLB), one warm-up then ``repeat`` timed runs: (median seconds
    per stage and in total, the median I/O floor, the last model). The I/O floor is decoding the
    same bytes and writing the same files, nothing else."""
    import orfeas
    from orfeas.imaging import decode_image
    from orfeas.settings import Settings

    settings = Settings()
    runs, floors = [], []
    for i in range(repeat + 1):
        start = time.perf_counter()
        model = orfeas.generate(data, params=params, settings=settings)
        engine_done = time.perf_counter()
        for fmt in formats:
            model.export(fmt)
        end = time.perf_counter()
        floor_start = time.perf_counter()
        decode_image(data, settings=settings)
        for fmt in formats:
            model.export(fmt)
        floor = time.perf_counter() - floor_start
        if i == 0:
            continue  # warm-up: imports, caches
        stages = dict(model.timings)
        stages["export"] = end - engine_done
        stages["total"] = end - start
        runs.append(stages)
        floors.append(floor)
    median = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in runs[0]}
    return median, statistics.median(floors), model


def run_case(picture_path: Path, size: int, mode: str, kind: str, repeat: int) -> dict:
    """Time one case in this process and return its figures."""
    median, floor, model = timed(picture_path.read_bytes(), {"mode": mode}, repeat)
    return {
        "size": size,
        "mode": mode,
        "kind": kind,
        "faces": model.report["faces"],
        "stages_s": {k: round(v, 4) for k, v in median.items()},
        "total_s": round(median["total"], 4),
        "io_floor_s": round(floor, 4),
        "ratio_to_io_floor": round(median["total"] / floor, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "target_s": TARGETS.get((size, mode, kind)),
    }


def timing_summary(rows: list[dict], goal_s: float | None, ratio: str = "ratio_to_io_floor") -> dict:
    """What a group of timed rows (``total_s`` and ``ratio`` each) comes to: median and worst
    total, the median ``ratio`` (as ``median_<ratio>``), and how many meet ``goal_s``."""
    return {
        "median_total_s": round(statistics.median(r["total_s"] for r in rows), 4),
        "worst_total_s": round(max(r["total_s"] for r in rows), 4),
        f"median_{ratio}": round(statistics.median(r[ratio] for r in rows), 2),
        "goal_s": goal_s,
        "pictures_within_goal": sum(r["total_s"] <= (goal_s or float("inf")) for r in rows),
        "pictures": len(rows),
    }


def write_results(out: str | Path, repeat: int, payload: dict, **meta: object) -> None:
    """A benchmark's JSON at ``out``: ``meta`` (the machine, Python, repeats and ``meta``) and the
    ``payload``; says where it went."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "repeat": repeat,
        **meta,
    }
    path.write_text(json.dumps({"meta": head, **payload}, indent=2))
    print(f"written {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default="bench/results/core.json")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # path,size,mode,kind: run one case, print JSON
    args = parser.parse_args()
    if args.case:
        path, size, mode, kind = args.case.split(",")
        print(json.dumps(run_case(Path(path), int(size), mode, kind, args.repeat)))
        return 0
    pictures = Path(tempfile.mkdtemp(prefix="orfeas-bench-"))
    cases = [(s, m, "photo" if m in ("lithophane", "heightmap") else "alpha") for s in SIZES for m in MODES]
    cases += [(1024, "puffy", "plain"), (1024, "relief", "plain"), (1024, "puffy", "photo")]
    cases += [(s, "revolve", "round") for s in SIZES]
    results = []
    print(f"{'case':32s} {'faces':>7s} {'total s':>8s} {'× I/O floor':>11s} {'RSS MB':>7s}  target  stages")
    for size, mode, kind in cases:
        # Pictures are made here, so the case's process holds only what the pipeline needs.
        path = pictures / f"{size}-{kind}.png"
        if not path.exists():
            path.write_bytes(picture(size, kind))
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--case",
                f"{path},{size},{mode},{kind}",
                "--repeat",
                str(args.repeat),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(done.stdout)
        results.append(row)
        target = f"≤{row['target_s']}" if row["target_s"] else ""
        stages = " ".join(f"{k}={v * 1000:.0f}ms" for k, v in row["stages_s"].items() if k != "total")
        print(
            f"{size}² {mode:10s} {kind:6s}{'':11s} {row['faces']:7d} {row['total_s']:8.3f} "
            f"{row['ratio_to_io_floor']:10.1f}× {row['peak_rss_mb']:7.0f}  {target:6s}  {stages}"
        )
    shutil.rmtree(pictures, ignore_errors=True)
    write_results(args.out, args.repeat, {"cases": results}, rss_target_mb=RSS_TARGET_MB)
    return 0


if __name__ == "__main__":
    sys.exit(main())
