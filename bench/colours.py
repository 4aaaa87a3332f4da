"""Benchmark of colour prints (issue #15): a 4-colour ``extrude`` of a 1024 px picture, picture → 3MF
(the parts with each slicer's extruders) + GLB (a material per part).

Corpus pictures (tests/pictures.py) enlarged to 1024 px with their alpha. Each picture is timed as a
4-colour print and, in the same run, as the same ``extrude`` in one colour writing the same files
(the baseline); the ratio is what the colours cost. One warm-up, then ``--repeat`` timed runs per
case; medians reported. Goal on a 2-core machine (issue #15): 4-colour extrude ≤ 0.6 s — reported,
not asserted.

    python bench/colours.py [--repeat 3] [--out bench/results/colours.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

PICTURES = ("logo-badge", "emoji-face", "pictogram", "separate-parts")
COLOURS = {"mode": "extrude", "colors": 4}
BASELINE = {"mode": "extrude"}
GOAL_S = 0.6
#: what each case writes: the parts with their extruders, and a material per part
FORMATS = ("3mf", "glb")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default="bench/results/colours.json")
    args = parser.parse_args()
    from core import timed, timing_summary, write_results
    from fidelity import large
    from tests.pictures import PICTURES as CORPUS

    rows = []
    print(
        f"{'picture':16s} {'parts':>5s} {'faces':>6s} {'4 colours s':>11s} {'1 colour s':>10s} "
        f"{'ratio':>6s}  stages"
    )
    for name in PICTURES:
        data = large(CORPUS[name]())
        stages, _, model = timed(data, COLOURS, args.repeat, FORMATS)
        total = stages.pop("total")
        baseline = timed(data, BASELINE, args.repeat, FORMATS)[0]["total"]
        row = {
            "picture": name,
            "params": COLOURS,
            "parts": len(model.parts or []),
            "palette": [c["hex"] for c in model.report["colours"]["parts"]],
            "faces": sum(len(p.mesh.faces) for p in model.parts or []),
            "silhouette_iou": model.report["fidelity"]["silhouette_iou"],
            "stages_s": {k: round(v, 4) for k, v in stages.items()},
            "total_s": round(total, 4),
            "one_colour_s": round(baseline, 4),
            "ratio_to_one_colour": round(total / baseline, 2),
            "goal_s": GOAL_S,
        }
        rows.append(row)
        shown = " ".join(f"{k}={v * 1000:.0f}" for k, v in row["stages_s"].items())
        print(
            f"{name:16s} {row['parts']:5d} {row['faces']:6d} {row['total_s']:11.3f} "
            f"{row['one_colour_s']:10.3f} "
            f"{row['ratio_to_one_colour']:5.1f}×  {shown}",
            flush=True,
        )
    summary = timing_summary(rows, GOAL_S, ratio="ratio_to_one_colour")
    print(
        f"\n4-colour extrude: median {summary['median_total_s']:.3f} s "
        f"(worst {summary['worst_total_s']:.3f}, "
        f"goal ≤ {GOAL_S}: {summary['pictures_within_goal']}/{summary['pictures']}), "
        f"{summary['median_ratio_to_one_colour']:.1f}× the one-colour extrude"
    )
    write_results(args.out, args.repeat, {"summary": summary, "cases": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
