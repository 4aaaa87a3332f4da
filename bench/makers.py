"""Benchmark of the maker objects (issue #15): time per mode for a 1024 px picture, picture → STL + GLB.

Outline objects run on corpus pictures (tests/pictures.py) enlarged to 1024 px with their alpha;
lithophane shapes on a 1024² photo-like picture (bench/core.py). One warm-up, then ``--repeat``
timed runs per case; medians are reported, next to each its ratio to the I/O floor measured in
the same run (decoding the picture and writing the same STL + GLB, nothing else). Goals on a
2-core machine (issue #15): keychain ≤ 0.3 s, cylinder lithophane ≤ 1.0 s — reported, not asserted.

    python bench/makers.py [--repeat 3] [--slice] [--case cylinder ...] [--out bench/results/makers.json]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

#: case name → (relief parameters, pictures); a picture is a corpus name or "photo".
CASES: dict[str, tuple[dict, tuple[str, ...]]] = {
    "keychain": ({"mode": "keychain"}, ("logo-badge", "line-art", "separate-parts", "emoji-face")),
    "cutter": ({"mode": "cutter"}, ("logo-badge", "line-art", "separate-parts", "emoji-face")),
    "stamp": ({"mode": "stamp"}, ("logo-badge", "line-art", "separate-parts", "emoji-face")),
    "lithophane": ({"mode": "lithophane"}, ("photo",)),
    "curved": ({"mode": "lithophane", "shape": "curved"}, ("photo",)),
    "cylinder": ({"mode": "lithophane", "shape": "cylinder"}, ("photo",)),
}
GOAL_S = {"keychain": 0.3, "cylinder": 1.0}


def _picture(name: str) -> bytes:
    from core import picture
    from fidelity import SIDE, large
    from tests.pictures import PICTURES

    return picture(SIDE, "photo") if name == "photo" else large(PICTURES[name]())


def _sliced(model) -> dict:
    """PrusaSlicer's verdict on the model's STL: sliced with its default profile, and how long that took."""
    slicer = shutil.which("prusa-slicer")
    if slicer is None:
        return {"ok": False, "error": "prusa-slicer not installed"}
    with tempfile.TemporaryDirectory() as folder:
        stl, gcode = Path(folder) / "model.stl", Path(folder) / "model.gcode"
        stl.write_bytes(model.export("stl"))
        start = time.perf_counter()
        done = subprocess.run(
            [slicer, "--export-gcode", str(stl), "--output", str(gcode)], capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
        ok = done.returncode == 0 and gcode.exists() and b"G1 " in gcode.read_bytes()[:200_000]
        return {"ok": ok, "seconds": round(seconds, 2), **({} if ok else {"error": done.stderr[-500:]})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default="bench/results/makers.json")
    parser.add_argument("--slice", action="store_true", help="and slice each model with prusa-slicer")
    parser.add_argument("--case", action="append", choices=list(CASES), help="only these cases (repeatable)")
    args = parser.parse_args()
    from core import timed, timing_summary, write_results

    rows = []
    print(f"{'case':12s} {'picture':16s} {'faces':>6s} {'total s':>8s} {'goal':>5s} {'× floor':>8s}  stages")
    cases = {k: v for k, v in CASES.items() if not args.case or k in args.case}
    for case, (params, pictures) in cases.items():
        for name in pictures:
            median, floor, model = timed(_picture(name), params, args.repeat)
            row = {
                "case": case,
                "picture": name,
                "params": params,
                "faces": model.report["faces"],
                "bodies": model.report["bodies"],
                "silhouette_iou": model.report["fidelity"]["silhouette_iou"],
                "stages_s": {k: round(v, 4) for k, v in median.items()},
                "total_s": round(median["total"], 4),
                "io_floor_s": round(floor, 4),
                "ratio_to_io_floor": round(median["total"] / floor, 2),
                "goal_s": GOAL_S.get(case),
            }
            if args.slice:
                row["sliced"] = _sliced(model)
            rows.append(row)
            goal = f"{row['goal_s']:5.2f}" if row["goal_s"] else "     "
            stages = " ".join(f"{k}={v * 1000:.0f}" for k, v in row["stages_s"].items() if k != "total")
            print(
                f"{case:12s} {name:16s} {row['faces']:6d} {row['total_s']:8.3f} {goal} "
                f"{row['ratio_to_io_floor']:7.1f}×  {stages}"
                + (f"  sliced={'yes' if row['sliced']['ok'] else 'NO'}" if args.slice else ""),
                flush=True,
            )
    summary = {}
    for case in cases:
        summary[case] = timing_summary([r for r in rows if r["case"] == case], GOAL_S.get(case))
    print("\nper case:")
    for case, s in summary.items():
        goal = f", goal ≤ {s['goal_s']}: {s['pictures_within_goal']}/{s['pictures']}" if s["goal_s"] else ""
        print(
            f"  {case:12s} median {s['median_total_s']:.3f} s (worst {s['worst_total_s']:.3f}{goal}), "
            f"{s['median_ratio_to_io_floor']:.1f}× the I/O floor"
        )
    write_results(args.out, args.repeat, {"summary": summary, "cases": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
