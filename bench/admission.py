"""Memory of admission checks under the hostile files of issue 16, each case in a fresh process.

Cases (the files are made here, deterministically):

- ``3mf-3m-triangles``: a 234 KB 3MF holding 3 M ``<triangle>`` elements, through ``read_model``;
- ``3mf-1gib``: a 1 MB 3MF whose model expands to 1 GiB, through ``read_model``;
- ``png-36mp-x6``: six 36 MP PNGs (≈ 120 KB each) checked at once as the API does — priced from
  the header, held in the admission budget, decoded and re-encoded in a thread pool;
- ``png-36mp-x6-ungated``: the same without the budget (what the gate saves);
- ``png-36mp``: one of them alone.

A case's figure is the growth of the process's peak resident memory (``VmHWM`` in
/proc/self/status, reset through /proc/self/clear_refs after imports and a warm-up) while it
runs: a memory bound, not a timing, so tests may assert it (tests/test_admission_memory.py).

    python bench/admission.py [--out bench/results/admission.json]
    python bench/admission.py --case 3mf-1gib      # one case, one JSON line
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

CASES = ("3mf-3m-triangles", "3mf-1gib", "png-36mp", "png-36mp-x6", "png-36mp-x6-ungated")
_NS = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"


def many_triangles_3mf(triangles: int = 3_000_000) -> bytes:
    """3 vertices and ``triangles`` copies of one ``<triangle>``, deflated (≈ 234 KB for 3 M)."""
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<model unit="millimeter" xmlns="{_NS}"><resources>'
        '<object id="1" type="model"><mesh><vertices><vertex x="0" y="0" z="0"/><vertex x="1" y="0" z="0"/>'
        '<vertex x="0" y="1" z="0"/></vertices><triangles>'
    ).encode()
    tail = b'</triangles></mesh></object></resources><build><item objectid="1"/></build></model>'
    return _zipped(head, b'<triangle v1="0" v2="1" v3="2"/>', triangles, tail)


def expanding_3mf(mib: int = 1024) -> bytes:
    """A model part of ``mib`` MiB of white space inside a metadata element (≈ 1 MB deflated)."""
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<model unit="millimeter" xmlns="{_NS}"><metadata name="x">'
    )
    tail = b"</metadata><resources/><build/></model>"
    return _zipped(head.encode(), b" " * (1 << 20), mib - 1, tail, level=9)


def _zipped(head: bytes, block: bytes, repeat: int, tail: bytes, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        info = zipfile.ZipInfo("3D/3dmodel.model", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as part:
            part.write(head)
            batch = block * max(1, min(repeat, (4 << 20) // len(block)))
            written = 0
            while written < repeat:
                take = min(repeat - written, len(batch) // len(block))
                part.write(batch[: take * len(block)])
                written += take
            part.write(tail)
    return buffer.getvalue()


def big_png(seed: int, side: int = 6000) -> bytes:
    """A ``side``² RGB PNG of a few flat areas: 36 MP in about 120 KB."""
    import numpy as np
    from PIL import Image

    picture = np.zeros((side, side, 3), np.uint8)
    picture[..., 0] = 180 + seed
    picture[side // 6 : 5 * side // 6, side // 6 : 5 * side // 6, 1] = 120
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def files_for(case: str) -> list[bytes]:
    if case == "3mf-3m-triangles":
        return [many_triangles_3mf()]
    if case == "3mf-1gib":
        return [expanding_3mf()]
    return [big_png(i) for i in range(1 if case == "png-36mp" else 6)]


# --- one case, in this process ------------------------------------------------------------------


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def _reset_peak() -> None:
    # Linux: VmHWM := VmRSS. Without it the baseline is the peak so far (close: the files are made
    # in the parent process).
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def run_case(case: str, paths: list[Path]) -> dict[str, object]:
    from orfeas.admission import image_cost
    from orfeas.api.budget import AdmissionBudget
    from orfeas.errors import OrfeasError
    from orfeas.imaging.decode import decode_image, encode_png, image_size
    from orfeas.mesh.exchange.untrusted import read_model
    from orfeas.settings import Settings

    settings = Settings()
    uploads = [p.read_bytes() for p in paths]
    # Warm-up: load what the checks load lazily (plugins, expat, zlib) before the baseline.
    encode_png(decode_image(big_png(0, side=64), settings).rgba)
    with contextlib.suppress(OrfeasError):
        read_model(many_triangles_3mf(10), max_bytes=settings.max_model_bytes, max_faces=5)

    outcomes: list[str] = []

    def check_mesh(data: bytes) -> None:
        try:
            read_model(data, max_bytes=settings.max_model_bytes, max_faces=settings.max_model_faces)
            outcomes.append("accepted")
        except OrfeasError as exc:
            outcomes.append(f"{exc.code}: {exc.message}")

    async def check_pictures(gated: bool) -> None:
        budget = AdmissionBudget.from_settings(settings)
        budget.wait_s = 120.0  # the figure is memory: let every check wait its turn

        async def one(data: bytes) -> None:
            _, width, height = image_size(data, settings)
            if gated:
                async with budget.hold(image_cost(width, height)):
                    decoded = await asyncio.to_thread(decode_image, data, settings)
                    await asyncio.to_thread(encode_png, decoded.rgba)
            else:
                decoded = await asyncio.to_thread(decode_image, data, settings)
                await asyncio.to_thread(encode_png, decoded.rgba)
            outcomes.append(f"decoded {width}x{height}")

        await asyncio.gather(*(one(data) for data in uploads))

    _reset_peak()
    baseline = _status("VmHWM")
    started = time.perf_counter()
    if case.startswith("3mf"):
        check_mesh(uploads[0])
    else:
        asyncio.run(check_pictures(gated=not case.endswith("ungated")))
    seconds = time.perf_counter() - started
    return {
        "case": case,
        "upload_bytes": [len(u) for u in uploads],
        "outcome": sorted(set(outcomes)),
        "peak_growth_mb": round((_status("VmHWM") - baseline) / 1e6, 1),
        "seconds": round(seconds, 2),
    }


# --- every case, each in a fresh process ---------------------------------------------------------


def measure(case: str, python: str = sys.executable) -> dict[str, object]:
    """Make the case's files here, run the case in a fresh interpreter, return its figures."""
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, data in enumerate(files_for(case)):
            path = Path(folder) / f"upload{i}"
            path.write_bytes(data)
            paths.append(str(path))
        done = subprocess.run(
            [python, __file__, "--case", case, *paths], capture_output=True, text=True, timeout=600
        )
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", choices=CASES, help="run one case in this process (files as arguments)")
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "admission.json")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.paths)))
        return 0
    results = [measure(case) for case in CASES]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'case':24} {'upload':>12} {'peak growth':>12} {'time':>7}  outcome")
    for r in results:
        upload = sum(r["upload_bytes"])  # type: ignore[arg-type]
        print(
            f"{r['case']:24} {upload / 1e3:>9.0f} KB {r['peak_growth_mb']:>9.0f} MB {r['seconds']:>6.1f}s  "
            f"{'; '.join(r['outcome'])[:90]}"  # type: ignore[arg-type]
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
