"""The ``orfeas`` command: generate models, list engines, run the service.

Exit codes: 0 success, 2 bad arguments or unusable input (the reason on stderr), 1 internal error
(or the output closed early, as by ``| head``).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orfeas.errors import EngineUnavailable, InputRejected, MeshInvalid
from orfeas.files import write_atomic
from orfeas.mesh.formats import OUTPUT_FORMATS, format_from_path

if typing.TYPE_CHECKING:
    from pydantic import BaseModel

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``orfeas`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or EXIT_OK)
    except (InputRejected, EngineUnavailable) as exc:
        print(f"orfeas: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except MeshInvalid as exc:
        print(f"orfeas: {exc.message}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``orfeas engines | head``): stop quietly
        _silence_stdout()
        return EXIT_INTERNAL


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


# --- generate ------------------------------------------------------------------------------------


def _generate(args: argparse.Namespace) -> int:
    from orfeas.pipeline import generate

    if (args.input is None) == (args.text is None):
        _usage("give either an INPUT image/folder or --text")
    params = _collect_params(args)
    lettering = {
        k: v
        for k, v in (("font_path", args.font), ("outline_px", args.outline), ("border_px", args.border))
        if v is not None
    }
    if args.input is not None and Path(args.input).is_dir():
        if args.mask_edit:
            _usage("--mask-edit goes with one picture, not a folder")
        return _generate_batch(Path(args.input), args, params)
    outputs = [Path(o) for o in (args.output or [])]
    if not outputs:
        _usage("say where to write the model with -o OUT.stl (repeat -o for more formats)")
    for out in outputs:
        _format_of(out)
    if args.input is not None and not Path(args.input).is_file():
        _usage(f"no such file: {args.input}")
    if args.mask_edit and not Path(args.mask_edit).is_file():
        _usage(f"no such file: {args.mask_edit}")
    with _Progress(args.quiet, Path(args.input).name if args.input else "text") as progress:
        model = generate(
            Path(args.input) if args.input else None,
            text=args.text,
            text_to_image=args.text_to_image,
            engine=args.engine,
            params=params,
            lettering=lettering,
            mask_edit=Path(args.mask_edit) if args.mask_edit else None,
            progress=progress,
        )
        for out in outputs:
            model.save(out)
    _write_report(args.report, model.report)
    if not args.quiet:
        print(_summary(model.report, outputs))
    return EXIT_OK


def _generate_batch(folder: Path, args: argparse.Namespace, params: dict[str, Any]) -> int:
    from orfeas.pipeline import generate

    out_dir = Path(args.output[0]) if args.output else None
    if out_dir is None or len(args.output) != 1:
        _usage("for a folder, give one output folder: -o OUTDIR (and --format stl,glb)")
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    for fmt in formats:
        if fmt not in OUTPUT_FORMATS:
            _usage(f"unknown format '{fmt}'; choose from {', '.join(OUTPUT_FORMATS)}")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        _usage(f"no images in {folder}")
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    reports: dict[str, Any] = {}
    for image in images:
        try:
            with _Progress(args.quiet, image.name) as progress:
                model = generate(image, engine=args.engine, params=params, progress=progress)
                for fmt in formats:
                    model.save(out_dir / f"{image.stem}.{fmt}", fmt)
            reports[image.name] = model.report
        except (InputRejected, MeshInvalid) as exc:
            failed += 1
            reports[image.name] = {"error": {"code": exc.code, "message": exc.message}}
            print(f"orfeas: {image.name}: {exc.message}", file=sys.stderr)
    _write_report(args.report, reports)
    if not args.quiet:
        print(f"{len(images) - failed} of {len(images)} images → {out_dir} ({', '.join(formats)})")
    return EXIT_USAGE if failed else EXIT_OK


def _collect_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in _engine_fields():
        value = getattr(args, f"param_{name}", None)
        if value is not None:
            params[name] = value
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            _usage(f"--param takes KEY=VALUE, not '{item}'")
        params[key.strip().replace("-", "_")] = value.strip()
    return params


def _summary(report: dict[str, Any], outputs: list[Path]) -> str:
    x, y, z = report["bbox_mm"]
    lines = [
        f"{', '.join(str(o) for o in outputs)}",
        f"  size {x:.1f} × {y:.1f} × {z:.1f} mm, {report['faces']} faces, {report['volume_cm3']:.2f} cm³, "
        f"~{report['filament_g']:.1f} g PLA",
        f"  watertight {'yes' if report['watertight'] else 'no'}, "
        f"thinnest wall ≈ {report['thinnest_wall_mm']:.2f} mm, "
        f"overhangs {report['overhang_share'] * 100:.0f} %, quality {report['quality_score']:.2f}",
    ]
    bodies = report.get("bodies", 1)
    if bodies > 1:
        lines.append(f"  {bodies} separate pieces: it will fall apart when printed")
    fidelity = report.get("fidelity")
    if fidelity:
        line = f"  looks like the picture: silhouette {fidelity['silhouette_iou'] * 100:.1f} % alike"
        deviation = fidelity["deviation_mm"]["mesh_to_intent"]["max"]
        if deviation is not None:
            worst = max(deviation, fidelity["deviation_mm"]["intent_to_mesh"]["max"])
            line += f", surface within {worst:.2f} mm, {fidelity['stray_share'] * 100:.1f} % stray"
        lines.append(line)
    colours = report.get("colours")
    if colours:
        lines.append(f"  {colours['count']} colours, one extruder each:")
        lines += [
            f"    T{c['extruder'] - 1} {c['hex']} {c['name']:10s} {c['share'] * 100:4.0f} % of the top, "
            f"~{c['filament_g']:.1f} g / {c['filament_m']:.2f} m"
            for c in colours["parts"]
        ]
    engine = report.get("engine", {})
    if "colours_found" in engine:
        lines.append(f"  note: {engine['colours_found']}")
    if "vessel" in engine:
        lines.append(f"  holds {engine['vessel']['capacity_ml']:.0f} ml")
    if "loop" in engine:
        loop = engine["loop"]
        kind = "a ring" if loop["kind"] == "ring" else "a hole through it"
        lines.append(f"  hangs from {kind}: {loop['hole_mm']:.1f} mm, {loop['angle_deg']:g}° from the top")
    lines += [f"  note: {warning}" for warning in engine.get("warnings", [])]
    return "\n".join(lines)


def _write_report(path: str | None, report: Any) -> None:
    if path:
        write_atomic(Path(path), json.dumps(report, indent=2).encode())


class _Progress:
    """A progress bar over the pipeline's stages, on stderr."""

    def __init__(self, quiet: bool, label: str) -> None:
        from orfeas.pipeline import STAGES

        self.stages = STAGES
        self.quiet = quiet or not sys.stderr.isatty()
        self.label = label
        self.bar: Any = None

    def __enter__(self) -> _Progress:
        if not self.quiet:
            from tqdm import tqdm

            self.bar = tqdm(
                total=len(self.stages),
                desc=self.label,
                unit="stage",
                leave=False,
                bar_format="{desc}: {bar} {postfix}",
            )
        return self

    def __call__(self, stage: str, fraction: float) -> None:
        if self.bar is not None and stage in self.stages:
            self.bar.n = self.stages.index(stage)
            self.bar.set_postfix_str(stage)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


# --- analyze, repair ------------------------------------------------------------------------------


def _mend(args: argparse.Namespace, task: str, params: dict[str, Any]) -> Any:
    from orfeas.pipeline import mend

    source = Path(args.model)
    if not source.is_file():
        _usage(f"no such file: {args.model}")
    if args.units:
        params["units"] = args.units
    return mend(source, task=task, params=params)  # type: ignore[arg-type]


def _analyze(args: argparse.Namespace) -> int:
    model = _mend(args, "analyze", {})
    _write_report(args.report, model.report)
    print(json.dumps(model.report, indent=2))
    return EXIT_OK


def _repair(args: argparse.Namespace) -> int:
    out = Path(args.output)
    fmt = _format_of(out)
    params = {
        "size_mm": args.size_mm,
        "target_faces": args.target_faces,
        "lay_flat": args.lay_flat,
        "max_volume_loss": args.max_volume_loss,
    }
    model = _mend(args, "repair", params)
    model.save(out, fmt)
    _write_report(args.report, model.report)
    if not args.quiet:
        print("\n".join(f"  - {c}" for c in model.report["changes"]))
        print(_summary(model.report, [out]))
    return EXIT_OK


# --- engines, serve --------------------------------------------------------------------------------


def _engines(args: argparse.Namespace) -> int:
    from orfeas.catalog import catalog
    from orfeas.imaging.sources import mask_sources
    from orfeas.settings import get_settings

    settings = get_settings()
    found = catalog(settings)
    rows = [{**entry, "kind": "3d"} for entry in found["engines"]]
    rows += [{**entry, "kind": "text-to-image"} for entry in found["text_to_image"]]
    masks = mask_sources(settings)
    for row in rows:  # the engines with a `mask` parameter say which of its choices can run here
        if "mask" in row["parameters"].get("properties", {}):
            row["mask_sources"] = masks
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print("mask sources: " + "; ".join(f"{m['name']} {_state(m)}" for m in masks))
    for row in rows:
        status = "available" if row["available"] else f"unavailable: {row['reason']}"
        print(f"{row['name']} {row['version']} ({row['kind']})  {status}")
        for name, spec in row["parameters"].get("properties", {}).items():
            choices = f" one of {spec['enum']}" if "enum" in spec else ""
            print(
                f"    --{name.replace('_', '-'):20s} default {spec.get('default')!s:8s}{choices}  "
                f"{spec.get('description', '')}"
            )
    return EXIT_OK


def _state(row: dict[str, Any]) -> str:
    if not row["available"]:
        return f"unavailable: {row['reason']}"
    said = row.get("model") or row["reason"]
    return f"available ({said})" if said else "available"


def _serve(args: argparse.Namespace) -> int:
    from orfeas.api import serve
    from orfeas.settings import Settings

    overrides = {
        k: v for k, v in (("host", args.host), ("port", args.port), ("data_dir", args.data_dir)) if v
    }
    serve(Settings(**overrides))
    return EXIT_OK


def _worker(args: argparse.Namespace) -> int:
    from orfeas.jobs.distributed import worker_main
    from orfeas.settings import get_settings

    return worker_main(get_settings())


# --- argument parsing ---------------------------------------------------------------------------


@functools.cache
def _default_parameters() -> type[BaseModel]:
    """The default engine's parameter model, which the flags are built from (read once: the
    settings are read from the environment each time they are asked for)."""
    from orfeas.engines import get_engine
    from orfeas.settings import get_settings

    return get_engine(get_settings().default_engine).parameters_model


def _engine_fields() -> dict[str, Any]:
    return dict(_default_parameters().model_fields)


def _mode_defaults(name: str) -> str:
    """'; keychain: 50' — where a mode of the default engine uses its own default for ``name``."""
    model = _default_parameters()
    table: dict[str, dict[str, Any]] = getattr(model, "mode_defaults", {})
    return "".join(f"; {mode}: {values[name]:g}" for mode, values in table.items() if name in values)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orfeas", description="A picture or a line of text in, a 3D model out."
    )
    parser.set_defaults(run=lambda _args: parser.print_help())
    commands = parser.add_subparsers(title="commands")

    gen = commands.add_parser("generate", help="make a model from an image, a folder of images, or text")
    gen.add_argument("input", nargs="?", help="an image file, or a folder of images for batch")
    gen.add_argument("-o", "--output", action="append", help="output file (format from extension); repeat")
    gen.add_argument("--text", help='text to typeset into a sign (e.g. "HELLO"); use \\n for new lines')
    gen.add_argument("--engine", help="engine name (see `orfeas engines`)")
    gen.add_argument(
        "--format", default="stl", help="batch: comma-separated formats (stl,3mf,obj,glb,ply,stl.zip)"
    )
    gen.add_argument("--report", help="write the printability report as JSON here")
    gen.add_argument(
        "--text-to-image",
        default="lettering",
        help="text: 'lettering' (typeset, offline, default) or 'diffusion' (a local model)",
    )
    gen.add_argument("--font", help="text: a TrueType/OpenType font file")
    gen.add_argument("--outline", type=int, help="text: thicken glyphs by this many pixels")
    gen.add_argument("--border", type=int, help="text: a frame this many pixels thick")
    gen.add_argument(
        "--mask-edit",
        metavar="EDIT.png",
        help="a painted correction of the picture's subject mask, its size: black removes, white adds, "
        "mid-grey or transparent leaves it to --mask",
    )
    gen.add_argument("--param", action="append", metavar="KEY=VALUE", help="any engine parameter")
    gen.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    for name, field in _engine_fields().items():
        flag = f"--{name.replace('_', '-')}"
        kind = _field_kind(field.annotation)
        help_text = field.description or ""
        if kind is bool:
            gen.add_argument(flag, dest=f"param_{name}", action="store_const", const=True, help=help_text)
        elif isinstance(kind, tuple):
            gen.add_argument(flag, dest=f"param_{name}", choices=kind, help=help_text)
        else:
            gen.add_argument(
                flag,
                dest=f"param_{name}",
                type=kind,
                help=f"{help_text} (default {field.default}{_mode_defaults(name)})",
            )
    gen.set_defaults(run=_generate)

    ana = commands.add_parser("analyze", help="print the printability report of a mesh file (JSON)")
    ana.add_argument("model", help="an STL, OBJ, PLY, GLB or 3MF file")
    ana.add_argument(
        "--units", choices=["cm", "in", "m", "mm"], help="the file's units (default: as declared, else mm)"
    )
    ana.add_argument("--report", help="also write the report here")
    ana.set_defaults(run=_analyze)

    rep = commands.add_parser("repair", help="make a mesh file printable (closed, manifold, one solid)")
    rep.add_argument("model", help="an STL, OBJ, PLY, GLB or 3MF file")
    rep.add_argument("-o", "--output", required=True, help="the repaired file (format from extension)")
    rep.add_argument(
        "--units", choices=["cm", "in", "m", "mm"], help="the file's units (default: as declared, else mm)"
    )
    rep.add_argument("--size-mm", type=float, help="scale so the longest side is this long")
    rep.add_argument("--target-faces", type=int, help="simplify to about this many triangles")
    rep.add_argument("--lay-flat", action="store_true", help="rest the largest flat face on the bed")
    rep.add_argument(
        "--max-volume-loss",
        type=float,
        default=0.02,
        help="fail rather than remove more than this share of the volume (default 0.02)",
    )
    rep.add_argument("--report", help="write the report and the list of changes as JSON here")
    rep.add_argument("-q", "--quiet", action="store_true")
    rep.set_defaults(run=_repair)

    eng = commands.add_parser("engines", help="list engines, whether they can run here, and their parameters")
    eng.add_argument("--json", action="store_true", help="machine-readable output")
    eng.set_defaults(run=_engines)

    srv = commands.add_parser("serve", help="run the web service and studio")
    srv.add_argument("--host")
    srv.add_argument("--port", type=int)
    srv.add_argument("--data-dir")
    srv.set_defaults(run=_serve)

    wrk = commands.add_parser("worker", help="run a Celery job worker (queue=celery; settings from ORFEAS_*)")
    wrk.set_defaults(run=_worker)
    return parser


def _field_kind(annotation: Any) -> Any:
    """The argparse type for a parameter: bool, int, float, str, or a tuple of choices."""
    if annotation in (bool, int, float, str):
        return annotation
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return str
    return str


def _usage(message: str) -> typing.NoReturn:
    raise InputRejected(message, code="usage")


def _format_of(path: Path) -> str:
    try:
        return format_from_path(path)
    except ValueError as exc:
        _usage(f"{path}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
