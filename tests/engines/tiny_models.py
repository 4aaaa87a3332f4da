"""Tiny, randomly initialised models written to disk the way real weights are shipped.

The engines load them through exactly the code a user's real weights take; random weights make
meaningless pictures and shapes — the point is the path (files, loaders, devices, surfaces).

* :func:`build_hunyuan3d` — a Hunyuan3D-2 repository folder (``hunyuan3d-dit-v2-0/config.yaml`` and
  ``model.fp16.safetensors``) with upstream's own classes at a few thousand parameters.
* :func:`build_diffusion` — a Stable Diffusion pipeline folder saved with ``save_pretrained``
  (tiny UNet, VAE, CLIP text encoder, and a byte-level CLIP tokenizer written offline).
* :func:`build_rembg_model` — a U²-Net-shaped ONNX file (1×3×320×320 → 1×1×320×320) whose fixed
  weights score dark pixels as foreground, written as raw protobuf (no ``onnx`` package needed).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

SHAPE_SUBFOLDER = "hunyuan3d-dit-v2-0"

#: Upstream's config layout (hy3dgen 2.0.x), with every size shrunk; the conditioner is built from
#: an inline DINOv2 config, as in the published config, so nothing is fetched.
HUNYUAN3D_CONFIG = {
    "model": {
        "target": "hy3dgen.shapegen.models.Hunyuan3DDiT",
        "params": {
            "in_channels": 8,
            "context_in_dim": 32,
            "hidden_size": 32,
            "mlp_ratio": 2.0,
            "num_heads": 2,
            "depth": 1,
            "depth_single_blocks": 1,
            "axes_dim": [16],
            "theta": 10000,
            "qkv_bias": True,
            "guidance_embed": False,
        },
    },
    "vae": {
        "target": "hy3dgen.shapegen.models.ShapeVAE",
        "params": {
            "num_latents": 16,
            "embed_dim": 8,
            "width": 32,
            "heads": 2,
            "num_decoder_layers": 1,
            "num_freqs": 4,
            "include_pi": False,
            "qkv_bias": False,
            "qk_norm": True,
            "scale_factor": 1.0,
        },
    },
    "conditioner": {
        "target": "hy3dgen.shapegen.models.SingleImageEncoder",
        "params": {
            "main_image_encoder": {
                "type": "DinoImageEncoder",
                "kwargs": {
                    "config": {
                        "model_type": "dinov2",
                        "hidden_size": 32,
                        "num_hidden_layers": 1,
                        "num_attention_heads": 2,
                        "mlp_ratio": 2,
                        "patch_size": 14,
                        "image_size": 28,
                        "num_channels": 3,
                    },
                    "image_size": 28,
                    "use_cls_token": True,
                },
            }
        },
    },
    "scheduler": {
        "target": "hy3dgen.shapegen.schedulers.FlowMatchEulerDiscreteScheduler",
        "params": {"num_train_timesteps": 1000},
    },
    "image_processor": {
        "target": "hy3dgen.shapegen.preprocessors.ImageProcessorV2",
        "params": {"size": 64, "border_ratio": 0.15},
    },
}


def build_hunyuan3d(root: Path, seed: int = 0) -> Path:
    """Write a tiny Hunyuan3D-2 repository under ``root``; returns ``root``."""
    import safetensors.torch
    import torch
    from hy3dgen.shapegen.pipelines import instantiate_from_config

    folder = root / SHAPE_SUBFOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(HUNYUAN3D_CONFIG))
    torch.manual_seed(seed)
    tensors = {}
    for part in ("model", "vae", "conditioner"):  # upstream's checkpoint keys: "<part>.<name>"
        module = instantiate_from_config(HUNYUAN3D_CONFIG[part])
        for name, value in module.state_dict().items():
            tensors[f"{part}.{name}"] = value.detach().to(torch.float16).contiguous()
    safetensors.torch.save_file(tensors, str(folder / "model.fp16.safetensors"))
    return root


def build_diffusion(folder: Path, seed: int = 0) -> Path:
    """Save a tiny Stable Diffusion pipeline to ``folder`` with ``save_pretrained``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tokenizer = _byte_level_clip_tokenizer(folder.parent / f"{folder.name}-vocab", CLIPTokenizer)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer.get_vocab()),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=16,
            projection_dim=16,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=EulerAncestralDiscreteScheduler(timestep_spacing="trailing", steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder


def _byte_level_clip_tokenizer(folder: Path, tokenizer_class: type) -> object:
    """A CLIP tokenizer over the 256 byte symbols (no merges), built from files written here."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = _bytes_to_unicode()
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": len(symbols) + i for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return tokenizer_class(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's reversible map of the 256 bytes to printable characters, in byte order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


# --- a U²-Net-shaped ONNX model, written as protobuf by hand -------------------------------------


def build_rembg_model(path: Path) -> Path:
    """Write an ONNX model scoring each pixel by how dark it is: −mean over the colour channels.

    rembg's custom session normalises the picture, runs the model and rescales the output to
    0–255, so a dark subject on light paper comes out as foreground.
    """
    size = [1, 3, 320, 320]
    mean = _node(["input"], ["mean"], "ReduceMean", _attr_ints("axes", [1]) + _attr_int("keepdims", 1))
    negate = _node(["mean"], ["out"], "Neg", b"")
    graph = (
        _bytes(1, mean)
        + _bytes(1, negate)
        + _bytes(2, b"dark_is_foreground")
        + _bytes(11, _value_info("input", size))
        + _bytes(12, _value_info("out", [1, 1, 320, 320]))
    )
    opset = _bytes(1, b"") + _int(2, 13)
    model = _int(1, 7) + _bytes(2, b"orfeas-tests") + _bytes(7, graph) + _bytes(8, opset)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model)
    return path


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _node(inputs: list[str], outputs: list[str], op: str, attributes: bytes) -> bytes:
    body = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs)
    return body + _bytes(3, op.lower()) + _bytes(4, op) + attributes


def _attr_int(name: str, value: int) -> bytes:
    return _bytes(5, _bytes(1, name) + _int(3, value) + _int(20, 2))  # AttributeProto.INT


def _attr_ints(name: str, values: list[int]) -> bytes:
    return _bytes(5, _bytes(1, name) + b"".join(_int(8, v) for v in values) + _int(20, 7))  # INTS


def _value_info(name: str, shape: list[int]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d)) for d in shape)
    tensor = _int(1, 1) + _bytes(2, dims)  # elem_type FLOAT, shape
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor))
