"""Benchmark of fidelity and speed per mode on the test corpus (tests/pictures.py) at 1024² with alpha.

For every picture and mode (puffy, relief, extrude): one warm-up, then ``--repeat`` timed runs of
picture → STL + GLB; medians are reported with the model's fidelity figures. Next to each total
stands its ratio to the I/O floor measured in the same run (decoding the picture and writing the
same STL + GLB, nothing else), and the time verification and the fidelity check take on the final
mesh, per 50 000 faces. Goals (issue #13): ≤ 0.35 s a picture (extrude ≤ 0.15 s) and ≤ 60 ms of
verification + fidelity per 50 k faces, on a 2-core machine — reported, not asserted.

    python bench/fidelity.py [--repeat 3] [--out bench/results/fidelity.json]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

MODES = ("puffy", "relief", "extrude")
SIDE = 1024
GOAL_S = {"puffy": 0.35, "relief": 0.35, "extrude": 0.15}
GOAL_CHECK_MS_PER_50K = 60.0


def large(png: bytes) -> bytes:
    """A corpus picture at :data:`SIDE` px on its longer side, alpha kept."""
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    h, w = rgba.shape[:2]
    scale = SIDE / max(h, w)
    big = cv2.resize(rgba, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    buffer = io.BytesIO()
    Image.fromarray(big, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def check_ms(data: bytes, mode: str) -> tuple[float, int]:
    """Verification + fidelity on the final mesh, as the pipeline runs them: (ms, faces)."""
    from orfeas.engines import get_engine
    from orfeas.engines.base import EngineInput, validate_parameters
    from orfeas.imaging import decode_image
    from orfeas.mesh.fidelity import faithful
    from orfeas.mesh.repair import clean_mesh, place_on_bed
    from orfeas.mesh.verify import verify
    from orfeas.settings import Settings

    settings = Settings()
    engine = get_engine("relief")
    rgba = decode_image(data, settings=settings).rgba
    out = engine.generate(EngineInput(rgba=rgba), validate_parameters(engine, {"mode": mode}), settings)
    mesh = clean_mesh(out.mesh)
    corner = mesh.bounds[0].copy()
    mesh = place_on_bed(mesh)
    intent = out.intent.moved(mesh.bounds[0] - corner)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        verify(mesh)
        faithful(mesh, intent, settings)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, len(mesh.faces)


def run_case(name: str, data: bytes, mode: str, repeat: int) -> dict:
    from core import timed

    median, floor, model = timed(data, {"mode": mode}, repeat)
    check, faces = check_ms(data, mode)
    fidelity = model.report["fidelity"]
    deviation = fidelity["deviation_mm"]
    return {
        "picture": name,
        "mode": mode,
        "faces": model.report["faces"],
        "bodies": model.report["bodies"],
        "silhouette_iou": fidelity["silhouette_iou"],
        "stray_share": fidelity["stray_share"],
        "max_deviation_mm": max(deviation["mesh_to_intent"]["max"], deviation["intent_to_mesh"]["max"]),
        "bound_mm": fidelity["bound_mm"],
        "stages_s": {k: round(v, 4) for k, v in median.items()},
        "total_s": round(median["total"], 4),
        "io_floor_s": round(floor, 4),
        "ratio_to_io_floor": round(median["total"] / floor, 2),
        "goal_s": GOAL_S[mode],
        "check_ms": round(check, 2),
        "check_ms_per_50k_faces": round(check * 50_000 / max(faces, 1), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default="bench/results/fidelity.json")
    parser.add_argument("--pictures", help="comma-separated corpus names (default: all)")
    args = parser.parse_args()
    from core import timing_summary, write_results
    from tests.pictures import PICTURES

    names = args.pictures.split(",") if args.pictures else list(PICTURES)
    rows = []
    print(
        f"{'picture':20s} {'mode':8s} {'faces':>6s} {'IoU':>6s} {'stray':>6s} {'dev mm':>7s} "
        f"{'total s':>8s} {'goal':>5s} {'× floor':>8s} {'check ms/50k':>12s}  stages"
    )
    for name in names:
        data = large(PICTURES[name]())
        for mode in MODES:
            row = run_case(name, data, mode, args.repeat)
            rows.append(row)
            stages = " ".join(f"{k}={v * 1000:.0f}" for k, v in row["stages_s"].items() if k != "total")
            print(
                f"{name:20s} {mode:8s} {row['faces']:6d} {row['silhouette_iou']:6.3f} "
                f"{row['stray_share']:6.3f} {row['max_deviation_mm']:7.3f} {row['total_s']:8.3f} "
                f"{row['goal_s']:5.2f} {row['ratio_to_io_floor']:7.1f}× "
                f"{row['check_ms_per_50k_faces']:12.1f}  {stages}",
                flush=True,
            )
    summary = {}
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        summary[mode] = {
            **timing_summary(mine, GOAL_S[mode]),
            "median_check_ms_per_50k_faces": round(
                statistics.median(r["check_ms_per_50k_faces"] for r in mine), 1
            ),
            "worst_stray_share": max(r["stray_share"] for r in mine),
            "worst_silhouette_iou": min(r["silhouette_iou"] for r in mine),
        }
    print("\nper mode:")
    for mode, s in summary.items():
        print(
            f"  {mode:8s} median {s['median_total_s']:.3f} s (worst {s['worst_total_s']:.3f}, "
            f"goal ≤ {s['goal_s']}: {s['pictures_within_goal']}/{s['pictures']}), "
            f"{s['median_ratio_to_io_floor']:.1f}× the I/O floor, verify + fidelity "
            f"{s['median_check_ms_per_50k_faces']:.0f} ms / 50k faces (goal ≤ {GOAL_CHECK_MS_PER_50K:.0f}), "
            f"IoU ≥ {s['worst_silhouette_iou']:.3f}, stray ≤ {s['worst_stray_share']:.3f}"
        )
    write_results(args.out, args.repeat, {"summary": summary, "cases": rows}, side=SIDE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
