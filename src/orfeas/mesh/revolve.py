"""Solids of revolution: a half-profile — the radius at each height — turned about the z axis.

* :func:`turned_solid` — the solid the profile sweeps out (a chess piece, a bottle);
* :func:`vessel` — the same with a wall of given thickness, a closed bottom and an open top
  (a cup, a vase), and the cavity it holds (its capacity);
* :func:`segments_for` / :func:`chordal_error_mm` — how many segments keep the facets within a
  distance of the true circle;
* :func:`section_extents` — the measurement that checks them: the x and y extent of the mesh's
  horizontal sections (a front view's outline, row by row).

Geometry is done in 2D on the meridian (the profile in the (r, z) plane) with manifold3d's
``CrossSection`` and turned with ``Manifold.revolve``, so every result is a valid manifold.
"""

from __future__ import annotations

from dataclasses import dataclass

import manifold3d
import numpy as np
import trimesh

#: Segments per full turn of the round joins of the vessel's inner offset.
ARC_SEGMENTS = 64
#: The cavity does not reach through channels narrower than this (a goblet's stem stays solid).
MIN_CHANNEL_MM = 3.0


class ClosedTop(ValueError):
    """The profile narrows at the top, so a vessel would have no opening."""


@dataclass(frozen=True)
class Profile:
    """A half-profile: radius ``r`` (mm, ≥ 0) at heights ``z`` (mm, increasing, from 0)."""

    z: np.ndarray
    r: np.ndarray

    @property
    def height(self) -> float:
        return float(self.z[-1] - self.z[0])

    def meridian(self) -> manifold3d.CrossSection:
        """The region between the axis and the profile, counter-clockwise in the (r, z) plane."""
        points = np.column_stack([self.r, self.z])
        points = points[points[:, 0] > 1e-9]  # the axis is added explicitly below
        outline = np.vstack([[0.0, self.z[0]], points, [0.0, self.z[-1]]])
        return manifold3d.CrossSection([outline])


@dataclass(frozen=True)
class Vessel:
    """A hollow solid of revolution and what it can hold."""

    solid: manifold3d.Manifold
    capacity_mm3: float  # the cavity's volume up to the rim
    opening_radius_mm: float  # radius of the open top at the rim
    floor_mm: float  # height of the inside's floor above the bed


def segments_for(radius_mm: float, max_error_mm: float, *, minimum: int = 16) -> int:
    """Segments per turn so no facet is more than ``max_error_mm`` inside the true circle.

    A multiple of four, so the solid is as wide in y as in x (a vertex sits on each half-axis).
    """
    if radius_mm <= max_error_mm:
        return minimum
    needed = np.pi / np.arccos(1.0 - max_error_mm / radius_mm)
    return int(max(minimum, 4 * np.ceil(needed / 4)))


def chordal_error_mm(radius_mm: float, segments: int) -> float:
    """How far the middle of a facet lies inside a circle of ``radius_mm`` (the sagitta)."""
    return float(radius_mm * (1.0 - np.cos(np.pi / segments)))


def turned_solid(profile: Profile, segments: int) -> manifold3d.Manifold:
    """The solid swept by turning ``profile`` once about the z axis."""
    return manifold3d.Manifold.revolve(profile.meridian(), segments)


def vessel(profile: Profile, segments: int, wall_mm: float, bottom_mm: float) -> Vessel:
    """``profile`` turned into a vessel: a wall at least ``wall_mm`` thick everywhere (measured
    square to the surface), a floor at least ``bottom_mm`` above the bed, open at the top.

    The cavity is the full silhouette shrunk by the wall, with a chimney above the rim so it
    breaks through the top; channels narrower than :data:`MIN_CHANNEL_MM` are closed and only the
    part that reaches the opening is kept, so a stem or a thick foot stays solid rather than
    hiding a thin tube or a closed void. Raises :class:`ClosedTop` when the top is too narrow.
    """
    top = float(profile.z[-1])
    rim = float(profile.r[-1])
    if rim <= wall_mm:
        raise ClosedTop(f"the top is {2 * rim:.1f} mm wide, no wider than two walls")
    meridian = profile.meridian()
    silhouette = meridian + meridian.mirror([1.0, 0.0])
    chimney = manifold3d.CrossSection.square([2.0 * rim, 2.0 * wall_mm + 2.0]).translate([-rim, top - 0.01])
    # Facets and the offset's arcs are chords, which lie inside their circles: shrink a little
    # further so the wall measured on the mesh is still at least ``wall_mm``.
    shrink = wall_mm / (np.cos(np.pi / segments) * np.cos(np.pi / ARC_SEGMENTS)) + 1e-3
    inside = (silhouette + chimney).offset(-shrink, manifold3d.JoinType.Round, circular_segments=ARC_SEGMENTS)
    # An opening (shrink, then grow back) closes the channels too narrow to be part of the vessel.
    channel = MIN_CHANNEL_MM / 2
    inside = inside.offset(-channel, manifold3d.JoinType.Round, circular_segments=ARC_SEGMENTS)
    inside = inside.offset(channel, manifold3d.JoinType.Round, circular_segments=ARC_SEGMENTS)
    reaching = [part for part in inside.decompose() if part.bounds()[3] > top]
    if not reaching:
        raise ClosedTop("the wall closes the top")
    reach = max(rim, float(profile.r.max())) + 1.0
    floor = manifold3d.CrossSection.square([reach, top + 2 * wall_mm + 4.0]).translate([0.0, bottom_mm])
    cavity = manifold3d.CrossSection.batch_boolean(reaching, manifold3d.OpType.Add) ^ floor
    cavity = cavity.simplify(1e-3)
    if cavity.is_empty():
        raise ClosedTop("the floor fills the whole inside")
    solid = manifold3d.Manifold.revolve(meridian - cavity, segments)
    held = cavity ^ manifold3d.CrossSection.square([reach, top]).translate([0.0, 0.0])
    capacity = manifold3d.Manifold.revolve(held, segments).volume() if not held.is_empty() else 0.0
    return Vessel(solid, float(capacity), _width_at(cavity, top), float(cavity.bounds()[1]))


def _width_at(region: manifold3d.CrossSection, z: float) -> float:
    """The largest r of ``region`` on the line at height ``z`` (0 when the line misses it)."""
    band = region ^ manifold3d.CrossSection.square([1e6, 1e-3]).translate([0.0, z - 1e-3])
    return 0.0 if band.is_empty() else float(band.bounds()[2])


def section_extents(mesh: trimesh.Trimesh, heights: np.ndarray) -> np.ndarray:
    """The extent of the horizontal section of ``mesh`` at each of ``heights``.

    Returns ``(len(heights), 4)``: x min, x max, y min, y max of where the surface crosses each
    plane z = h (NaN where it does not). The extremes of a closed surface's planar section lie
    on its edges, so the crossings of the mesh's edges with the plane give them exactly. The
    mesh must be closed and consistently wound (as every mesh that passed verification is).
    """
    heights = np.asarray(heights, dtype=np.float64)
    order = np.argsort(heights)
    sorted_h = heights[order]
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    # Each edge of a closed, consistently wound surface is traversed once each way: keeping the
    # ascending direction lists every edge once.
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = directed[directed[:, 0] < directed[:, 1]]
    a, b = vertices[edges[:, 0]], vertices[edges[:, 1]]
    low = np.minimum(a[:, 2], b[:, 2])
    high = np.maximum(a[:, 2], b[:, 2])
    first = np.searchsorted(sorted_h, low, side="left")
    last = np.searchsorted(sorted_h, high, side="right")  # planes with low ≤ h ≤ high
    counts = np.maximum(last - first, 0)
    out = np.full((len(heights), 4), np.nan)
    total = int(counts.sum())
    if total == 0:
        return out
    edge = np.repeat(np.arange(len(edges)), counts)
    plane = first[edge] + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
    dz = b[edge, 2] - a[edge, 2]
    flat = np.abs(dz) < 1e-12
    t = np.where(flat, 0.0, (sorted_h[plane] - a[edge, 2]) / np.where(flat, 1.0, dz))
    points = a[edge, :2] + t[:, None] * (b[edge, :2] - a[edge, :2])
    # Group the crossings by plane and reduce each group.
    grouped = np.argsort(plane, kind="stable")
    plane, points = plane[grouped], points[grouped]
    starts = np.flatnonzero(np.diff(plane, prepend=-1))
    hit = plane[starts]
    sorted_out = np.full((len(heights), 4), np.nan)
    sorted_out[hit, 0] = np.minimum.reduceat(points[:, 0], starts)
    sorted_out[hit, 1] = np.maximum.reduceat(points[:, 0], starts)
    sorted_out[hit, 2] = np.minimum.reduceat(points[:, 1], starts)
    sorted_out[hit, 3] = np.maximum.reduceat(points[:, 1], starts)
    out[order] = sorted_out
    return out
