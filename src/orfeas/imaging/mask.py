"""The subject's mask, from a cascade of sources, with the source used, a confidence and the time.

Sources (the engines' ``mask`` parameter picks one, ``auto`` runs the cascade):

* ``alpha`` — the picture's own transparency, when it separates a subject;
* ``neural`` — U²-Netp's saliency (:mod:`~orfeas.imaging.saliency`), its edge refined at full
  resolution with a colour guided filter (:mod:`~orfeas.imaging.refine`); on a plain background
  what has the background's colour is taken out (the inside of a line drawing);
* ``grabcut`` — GrabCut seeded from the border colour (:mod:`~orfeas.imaging.grabcut`), the
  fallback when the network's file is absent (the reason goes into the report);
* ``none`` — the whole picture is the subject.

``auto``: alpha when meaningful; else the neural mask when the network is sure of it; else GrabCut
runs too and is kept when it is the more confident and either sure of itself (a plain background)
or the network saw nothing standing out. Without the network's file, GrabCut, with the reason.
A user's painted edit (:func:`apply_edit`) is applied last and always wins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from orfeas.errors import EngineUnavailable, InputRejected
from orfeas.imaging.grabcut import border_plainness, grabcut
from orfeas.imaging.refine import background_coloured, clean_mask, refine_edge, saliency_mask
from orfeas.imaging.saliency import Network, NetworkError, NetworkState, saliency_network
from orfeas.imaging.sources import MASK_SOURCES, MaskMethod, MaskSource, mask_sources
from orfeas.settings import Settings

#: Longest side of the copy the mask is found on (the guided filter works at this size).
MASK_SIDE = 1024
#: Below this confidence the neural mask is checked against GrabCut; below NEURAL_LOST the network
#: saw nothing that stands out. GrabCut is sure of itself from GRABCUT_SURE (a plain background).
#: Each source's figure is judged on its own scale: GrabCut is sure on a plain background even when
#: it takes a cast shadow for the subject, which the network does not (bench/mask.py).
NEURAL_SURE, NEURAL_LOST = 0.6, 0.2
GRABCUT_SURE = 0.8
#: A border at least this plain is a plain background (:func:`~orfeas.imaging.grabcut.border_plainness`).
PLAIN_BORDER = 0.8
#: An edit pixel below this is background, above :data:`EDIT_SUBJECT` subject, between: unchanged.
EDIT_BACKGROUND, EDIT_SUBJECT = 64, 192
#: The three values of a normalised edit (:func:`edit_levels`): background, unchanged, subject.
EDIT_REMOVE, EDIT_LEAVE, EDIT_ADD = 0, 128, 255

__all__ = [
    "MASK_SIDE",
    "MASK_SOURCES",
    "ForegroundMask",
    "MaskSource",
    "apply_edit",
    "clean_mask",
    "edit_levels",
    "foreground_mask",
    "mask_sources",
    "subject_mask",
]


@dataclass(frozen=True)
class ForegroundMask:
    """A boolean (H, W) mask of the subject, the source that made it, how far to trust it (0–1),
    the seconds it took, and why a preferred source was not used (empty when none was skipped)."""

    mask: np.ndarray
    method: MaskMethod
    confidence: float
    seconds: float = 0.0
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0

    def notes(self) -> dict[str, Any]:
        """What the engine's report says about the mask."""
        notes: dict[str, Any] = {
            "mask_method": self.method,
            "mask_confidence": round(self.confidence, 3),
            "mask_coverage": round(self.coverage, 4),
            "mask_seconds": round(self.seconds, 3),
        }
        if self.reason:
            notes["mask_reason"] = self.reason
        notes.update({f"mask_{k}": v for k, v in self.details.items()})
        return notes


def subject_mask(
    rgba: np.ndarray,
    source: MaskSource,
    settings: Settings,
    *,
    edit: np.ndarray | None = None,
    side: int = MASK_SIDE,
) -> ForegroundMask:
    """The subject of an RGBA picture, on a copy of at most ``side`` px (the mask has its size).

    This is the whole mask step as the engines and the mask endpoint use it: the network comes
    from ``settings`` (``models_dir``, ``rembg_model_path``, ``mask_threads``), ``edit`` is a
    user's painted 8-bit mask of any size (see :func:`apply_edit`). Raises
    :class:`~orfeas.errors.InputRejected` when there is nothing to build and
    :class:`~orfeas.errors.EngineUnavailable` when ``neural`` is asked for and cannot run here.
    """
    started = time.perf_counter()
    h, w = rgba.shape[:2]
    scale = min(1.0, side / max(h, w))
    small = rgba
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
    smooth = 1.5 if max(small.shape[:2]) >= 64 else 0.0
    decided = _edit_decides_all(edit)
    if decided:
        found = ForegroundMask(np.zeros(small.shape[:2], bool), "edit", 1.0)
    else:
        network = saliency_network(settings) if source in ("auto", "neural") else None
        found = foreground_mask(small, source, network=network, smooth_px=smooth)
    if edit is not None:
        found = apply_edit(found, edit)
    if not found.mask.any():
        raise InputRejected("No subject could be found in the picture.", code="no_subject")
    return _timed(found, started)


def foreground_mask(
    rgba: np.ndarray,
    source: MaskSource = "auto",
    *,
    network: NetworkState | Network | None = None,
    smooth_px: float = 1.5,
) -> ForegroundMask:
    """Find the subject in an RGBA image with ``source``; the result is cleaned and has the image's size.

    ``network`` is what runs the neural mask (:func:`~orfeas.imaging.saliency.saliency_network`);
    without one ``auto`` falls back to GrabCut and says so in ``reason``.
    """
    started = time.perf_counter()
    if source not in MASK_SOURCES:
        raise InputRejected(
            f"Parameter 'mask': must be one of {', '.join(MASK_SOURCES)}.",
            code="invalid_parameter",
            field="mask",
        )
    alpha = rgba[..., 3]
    if source == "none":
        return _timed(ForegroundMask(np.ones(alpha.shape, bool), "none", 1.0), started)
    if alpha.size > 1 and not np.any(alpha >= 128):
        raise InputRejected("The picture is fully transparent: there is nothing to build.", code="no_subject")
    if source in ("auto", "alpha"):
        if alpha_is_meaningful(alpha):
            return _timed(
                ForegroundMask(clean_mask(alpha >= 128, smooth_px=smooth_px), "alpha", 1.0), started
            )
        if source == "alpha":
            raise InputRejected(
                "Parameter 'mask': the picture has no transparent background to take the subject from "
                "(choose auto, neural or grabcut).",
                code="invalid_parameter",
                field="mask",
            )
    if min(alpha.shape) < 8:  # too small to tell a subject from its background
        return _timed(ForegroundMask(np.ones(alpha.shape, bool), "whole", 0.0), started)
    if isinstance(network, Network):
        network = NetworkState(network)
    rgb = np.ascontiguousarray(rgba[..., :3])
    if source == "grabcut":
        return _timed(_grabcut_mask(rgb, smooth_px), started)
    neural, reason = None, ""
    if network is None or network.network is None:
        reason = f"neural mask unavailable: {network.reason if network else 'no network given'}"
    else:
        try:
            neural = _neural_mask(rgb, network.network, smooth_px)
        except NetworkError as exc:
            reason = f"neural mask failed: {exc}"
    if source == "neural":
        if neural is None:
            raise EngineUnavailable(f"The neural subject mask cannot run here: {reason.split(': ', 1)[1]}")
        return _timed(neural, started)
    # auto: the neural mask when it is sure. Otherwise GrabCut decides if it is sure on its own
    # scale (a plain background) or the network saw nothing that stands out.
    if neural is not None and neural.confidence >= NEURAL_SURE:
        return _timed(neural, started)
    cut = _grabcut_mask(rgb, smooth_px)
    if neural is None:
        return _timed(_with(cut, reason=reason), started)
    details = {**neural.details, "neural_confidence": neural.confidence, "grabcut_confidence": cut.confidence}
    grabcut_wins = cut.method == "grabcut" and cut.confidence > neural.confidence
    grabcut_wins &= cut.confidence >= GRABCUT_SURE or neural.confidence < NEURAL_LOST
    grabcut_wins |= not neural.mask.any()  # then GrabCut's answer, even "the whole picture"
    return _timed(_with(cut if grabcut_wins else neural, details=details), started)


def apply_edit(found: ForegroundMask, edit: np.ndarray) -> ForegroundMask:
    """A user's painted edit over a mask: an 8-bit image (any size, scaled to the mask's) where
    dark (< 64) is background, light (≥ 192) is subject and mid-grey leaves the mask as it was."""
    edit = np.asarray(edit)
    if edit.ndim == 3:
        edit = (
            edit[..., 0]
            if edit.shape[2] < 3
            else cv2.cvtColor(edit[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
        )
    if edit.ndim != 2 or edit.size == 0:
        raise InputRejected(
            "The mask edit must be a greyscale picture.", code="invalid_parameter", field="mask_edit"
        )
    h, w = found.mask.shape
    scaled = cv2.resize(edit.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    background, subject = scaled < EDIT_BACKGROUND, scaled >= EDIT_SUBJECT
    mask = (found.mask & ~background) | subject
    decided = float((background | subject).mean())
    details = {**found.details, "edited": round(decided, 4)}
    method = "edit" if decided == 1.0 else found.method
    return ForegroundMask(mask, method, found.confidence, found.seconds, found.reason, details)


def edit_levels(rgba: np.ndarray) -> np.ndarray:
    """A painted edit as sent (an 8-bit RGBA picture: a greyscale or 1-bit PNG, or a brush layer
    with transparency) → its canonical (h, w) uint8 form of three values: :data:`EDIT_REMOVE` where
    it is dark, :data:`EDIT_ADD` where it is light, :data:`EDIT_LEAVE` where it is mid-grey or
    transparent (the mask source decides there). Equal edits give equal arrays (and files)."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_RGB2GRAY)
    levels = np.full(grey.shape, EDIT_LEAVE, np.uint8)
    opaque = rgba[..., 3] >= 128
    levels[opaque & (grey < EDIT_BACKGROUND)] = EDIT_REMOVE
    levels[opaque & (grey >= EDIT_SUBJECT)] = EDIT_ADD
    return levels


def alpha_is_meaningful(alpha: np.ndarray) -> bool:
    """True when the alpha channel separates a subject from a transparent background."""
    transparent = float((alpha < 128).mean())
    return 0.001 < transparent < 0.999


def _neural_mask(rgb: np.ndarray, network: Network, smooth_px: float) -> ForegroundMask:
    saliency = network.predict(rgb)
    mask, _ = saliency_mask(rgb, saliency)
    details: dict[str, Any] = {"network": network.name}
    if border_plainness(rgb) < PLAIN_BORDER:
        mask = clean_mask(mask, smooth_px=smooth_px)
        return ForegroundMask(mask, "neural", _neural_confidence(saliency, mask), details=details)
    # On a plain background the network fills outlines (a line drawing, a mug's handle) that show
    # the background through: what has the background's colour is background. Where the result
    # agrees with the colour cue alone (all that is unlike the background), the two sources
    # vouch for each other: thin lettering the network is unsure of gets that confidence.
    background = background_coloured(rgb, ~mask)
    mask = clean_mask(refine_edge(rgb, (mask & ~background).astype(np.float32)) >= 0.5, smooth_px=smooth_px)
    unlike = clean_mask(~background, smooth_px=smooth_px)
    agreement = float((mask & unlike).sum() / max(1, (mask | unlike).sum()))
    confidence = max(_neural_confidence(saliency, mask), round(agreement, 3) if mask.any() else 0.0)
    return ForegroundMask(
        mask, "neural", confidence, details={**details, "colour_agreement": round(agreement, 3)}
    )


def _neural_confidence(saliency: np.ndarray, mask: np.ndarray) -> float:
    """How decisive the network is about the subject: 1 − (unsure pixels / subject pixels), and 0
    when the mask is empty or covers nearly everything (nothing stands out)."""
    coverage = float(mask.mean())
    if coverage < 0.002 or coverage > 0.98:
        return 0.0
    unsure = float(((saliency > 0.15) & (saliency < 0.85)).mean())
    sure = float((saliency >= 0.85).mean())
    return round(float(np.clip(1.0 - unsure / max(sure, 1e-6), 0.0, 1.0)), 3)


def _grabcut_mask(rgb: np.ndarray, smooth_px: float) -> ForegroundMask:
    mask, confidence = grabcut(rgb)
    if mask.mean() < 0.005:
        # Nothing separable from the background: use the whole picture rather than fail.
        return ForegroundMask(np.ones(mask.shape, dtype=bool), "whole", 0.0)
    return ForegroundMask(clean_mask(mask, smooth_px=smooth_px), "grabcut", confidence)


def _edit_decides_all(edit: np.ndarray | None) -> bool:
    if edit is None:
        return False
    values = np.asarray(edit)
    return bool(values.size) and bool(np.all((values < EDIT_BACKGROUND) | (values >= EDIT_SUBJECT)))


def _with(found: ForegroundMask, **changes: Any) -> ForegroundMask:
    values = {k: getattr(found, k) for k in ("mask", "method", "confidence", "seconds", "reason", "details")}
    values.update(changes)
    return ForegroundMask(**values)


def _timed(found: ForegroundMask, started: float) -> ForegroundMask:
    return _with(found, seconds=time.perf_counter() - started)
