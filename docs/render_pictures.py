"""Make the README's pictures: models built with ``extrude`` seen from above (ORFEAS's own z-buffer,
shaded and coloured with the texture the GLB carries) and at a three-quarter view (Blender).

    python docs/render_pictures.py [NAME ...]   # needs Debian's blender for the 3/4 views
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[1]))

from tests.pictures import PICTURES

import orfeas
from orfeas.mesh.raster import PixelGrid, height_map, shaded

HERE = Path(__file__).parent
OUT = HERE / "pictures"
MODELS = {
    "sign": {
        "text": "ORFEAS MAKER",
        "params": {"mode": "extrude", "depth_mm": 1.5},
    },
    "logo": {"image": "logo-badge", "params": {"mode": "extrude", "top_edge": "chamfer", "top_edge_mm": 0.6}},
    "keychain": {"image": "logo-badge", "params": {"mode": "keychain"}},
    "keychain-text": {"text": "Keys & Co.", "params": {"mode": "keychain", "size_mm": 60}},
}


def top_view(model: orfeas.Model, pixel_mm: float = 0.08) -> Image.Image:
    """The model from above: hill-shaded heights times the picture's colours."""
    mesh = model.mesh
    grid = PixelGrid.around(mesh.bounds[0], mesh.bounds[1], pixel_mm, pad=6)
    seen = height_map(mesh.vertices, mesh.faces, grid)
    grey = shaded(seen).astype(np.float32) / 255.0
    out = np.full((*grid.shape, 3), 255, np.uint8)
    if model.texture is not None:
        x, y = grid.centres()
        uv = model.texture.uv(np.column_stack([x.ravel(), y.ravel()]))
        image = model.texture.image
        cols = np.clip((uv[:, 0] * image.shape[1]).astype(int), 0, image.shape[1] - 1)
        rows = np.clip(((1 - uv[:, 1]) * image.shape[0]).astype(int), 0, image.shape[0] - 1)
        colour = image[rows, cols].reshape(*grid.shape, 3).astype(np.float32)
        lit = np.clip(colour * (0.35 + 0.9 * grey[..., None]), 0, 255).astype(np.uint8)
        out[seen.covered] = lit[seen.covered]
    else:
        out[seen.covered] = (grey[seen.covered, None] * 255).astype(np.uint8)
    return Image.fromarray(out)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    blender = shutil.which("blender")
    work = Path(tempfile.mkdtemp(prefix="orfeas-docs-"))
    wanted = sys.argv[1:] or list(MODELS)
    for name, spec in ((n, MODELS[n]) for n in wanted):
        if "text" in spec:
            model = orfeas.generate(text=spec["text"], params=spec["params"])
        else:
            model = orfeas.generate(PICTURES[spec["image"]](), params=spec["params"])
        top_view(model).save(OUT / f"{name}-top.png", optimize=True)
        glb = model.save(work / f"{name}.glb")
        fidelity = model.report["fidelity"]
        print(f"{name}: {model.report['faces']} faces, silhouette IoU {fidelity['silhouette_iou']}")
        if blender:
            picture = OUT / f"{name}-3d.png"
            script = str(HERE / "render_glb.py")
            subprocess.run(
                [blender, "-b", "-P", script, "--", str(glb), str(picture)], check=True, capture_output=True
            )
            Image.open(picture).convert("RGB").quantize(192).save(
                picture, optimize=True
            )  # small enough for git
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
