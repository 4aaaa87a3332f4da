"""The ``relief`` engine's parameters: one pydantic model, light to import (the CLI builds its flags
from it), each field saying which modes use it (``modes`` in the schema, read by the studio)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from orfeas.imaging.sources import MaskSource  # light: no numpy, no OpenCV
from orfeas.parameters import Parameters

#: Longest side of the copy of the picture the subject's mask is found on (what a typeset text's
#: strokes must survive: admission checks them against it).
WORKING_SIDE = 1024

Mode = Literal[
    "puffy", "relief", "extrude", "keychain", "cutter", "stamp", "lithophane", "heightmap", "revolve"
]
#: The modes that print in several colours (``colors``), each colour its own part.
COLOUR_MODES = ("relief", "extrude", "keychain")
#: The most colours (parts) a print may have, and source colours a given palette may list.
MAX_COLORS = 8
MAX_PALETTE_COLOURS = 16
_PALETTE_PART = re.compile(r"^#?[0-9a-fA-F]{6}(\+#?[0-9a-fA-F]{6})*$")

#: Where a maker object's sizes differ from the engine's general defaults (a keychain is smaller
#: and thinner than a sign): mode → field → default, used wherever the client did not say. The
#: schema carries them as ``mode_defaults`` so the studio and the CLI show what a mode will use.
MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "keychain": {"size_mm": 50.0, "depth_mm": 1.5, "base_mm": 3.0, "margin_mm": 2.0},
    "stamp": {"size_mm": 40.0, "depth_mm": 1.5, "base_mm": 5.0, "margin_mm": 2.0, "corner_mm": 2.0},
}


def _with_mode_defaults(schema: dict[str, Any]) -> None:
    """Each property's defaults per mode, from :data:`MODE_DEFAULTS`, as ``mode_defaults``."""
    for mode, defaults in MODE_DEFAULTS.items():
        for name, value in defaults.items():
            schema["properties"][name].setdefault("mode_defaults", {})[mode] = value


def _for(*modes: str, unit: str | None = None, advanced: bool = False) -> dict[str, Any]:
    """Schema extras the studio reads: which modes use a parameter (shown only for those), its unit,
    and whether it belongs in the folded "advanced" group."""
    extra: dict[str, Any] = {"modes": list(modes)}
    if unit:
        extra["unit"] = unit
    if advanced:
        extra["advanced"] = True
    return extra


class ReliefParameters(Parameters):
    """Parameters of the ``relief`` engine; each says which modes use it."""

    model_config = ConfigDict(
        extra="forbid", title="relief parameters", json_schema_extra=_with_mode_defaults
    )
    #: the modes' own defaults (:data:`MODE_DEFAULTS`), for the command line's help
    mode_defaults: ClassVar[dict[str, dict[str, Any]]] = MODE_DEFAULTS

    mode: Mode = Field("puffy", description="What kind of object to make from the picture.")
    mask: MaskSource = Field(
        "auto",
        description="Where the subject's outline comes from: auto (alpha, else the neural mask, with "
        "GrabCut where it is surer), alpha, neural, grabcut, or none (the whole picture).",
        json_schema_extra=_for(
            "puffy", "relief", "extrude", "keychain", "cutter", "stamp", "heightmap", "revolve"
        ),
    )
    size_mm: float = Field(
        80.0,
        ge=5,
        le=500,
        description="Longest side of the object (revolve: its height; cutter: of the cutting outline; "
        "a cylinder lithophane takes its size from diameter_mm).",
        json_schema_extra=_for(
            "puffy",
            "relief",
            "extrude",
            "keychain",
            "cutter",
            "stamp",
            "lithophane",
            "heightmap",
            "revolve",
            unit="mm",
        ),
    )
    inflation: float = Field(
        1.0,
        ge=0.1,
        le=3.0,
        description="How round the body is (1 = circular section).",
        json_schema_extra=_for("puffy"),
    )
    back: Literal["mirror", "flat"] = Field(
        "mirror",
        description="Mirror the front on the back, or keep it flat.",
        json_schema_extra=_for("puffy"),
    )
    back_ratio: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Depth of the mirrored back relative to the front.",
        json_schema_extra=_for("puffy"),
    )
    depth_mm: float = Field(
        4.0,
        ge=0.2,
        le=50,
        description="Height of the subject above the plate (a keychain: above its backing; a stamp: "
        "of the design above its block).",
        json_schema_extra=_for("relief", "extrude", "keychain", "stamp", "heightmap", unit="mm"),
    )
    base_mm: float = Field(
        2.0,
        ge=0.0,
        le=20,
        description="Base plate thickness (a keychain: of the backing that follows its outline; a cutter: "
        "of its flange; a stamp: of its block; 0: none).",
        json_schema_extra=_for("relief", "extrude", "keychain", "cutter", "stamp", "heightmap", unit="mm"),
    )
    margin_mm: float = Field(
        3.0,
        ge=1.0,
        le=50,
        description="Plate margin around the subject (a keychain: how far its backing reaches past it; "
        "a stamp: its block).",
        json_schema_extra=_for("relief", "extrude", "keychain", "stamp", unit="mm"),
    )
    corner_mm: float = Field(
        3.0,
        ge=0.0,
        le=50,
        description="Radius of the plate's corners (a stamp: its block's).",
        json_schema_extra=_for("relief", "extrude", "stamp", unit="mm"),
    )
    top_edge: Literal["sharp", "chamfer", "fillet"] = Field(
        "sharp",
        description="The top edge of the extruded shape: sharp, a 45° chamfer or a rounded fillet.",
        json_schema_extra=_for("extrude", "keychain"),
    )
    top_edge_mm: float = Field(
        0.6,
        ge=0.1,
        le=10,
        description="Size of the chamfer or fillet.",
        json_schema_extra=_for("extrude", "keychain", unit="mm", advanced=True),
    )
    loop: Literal["ring", "hole"] = Field(
        "ring",
        description="How the keychain is hung: a ring loop beside the outline, or a hole through it "
        "where it is wide enough.",
        json_schema_extra=_for("keychain"),
    )
    hole_mm: float = Field(
        5.0,
        ge=4.0,
        le=20,
        description="Diameter of the keychain's hole (a split ring needs 4 mm or more).",
        json_schema_extra=_for("keychain", unit="mm"),
    )
    loop_wall_mm: float = Field(
        2.5,
        ge=2.0,
        le=10,
        description="Material all around the hole.",
        json_schema_extra=_for("keychain", unit="mm", advanced=True),
    )
    loop_position: Literal["auto", "top", "left", "right"] = Field(
        "auto",
        description="Where the loop goes: found automatically (near the top, where it joins the outline "
        "solidly), or at the top, left or right.",
        json_schema_extra=_for("keychain"),
    )
    loop_angle_deg: float | None = Field(
        None,
        ge=-360,
        le=360,
        description="An angle instead of a position: degrees clockwise from the top (90: right, -90: left).",
        json_schema_extra={**_for("keychain", unit="°", advanced=True), "placeholder": "from the position"},
    )
    blade_mm: float = Field(
        1.0,
        ge=0.8,
        le=1.2,
        description="Thickness of the cutter's blade wall (it tapers to a cutting edge at the top).",
        json_schema_extra=_for("cutter", unit="mm"),
    )
    blade_height_mm: float = Field(
        12.0,
        ge=5,
        le=40,
        description="Height of the cookie cutter, flange included.",
        json_schema_extra=_for("cutter", unit="mm"),
    )
    flange_mm: float = Field(
        4.0,
        ge=1,
        le=15,
        description="How far the flange the hand presses on reaches out from the blade.",
        json_schema_extra=_for("cutter", unit="mm"),
    )
    cutter_part: Literal["cutter", "imprint"] = Field(
        "cutter",
        description="The cutter, or its imprint stamp: a second piece that fits inside the cutter and "
        "presses the picture's inner lines into the cookie.",
        json_schema_extra=_for("cutter"),
    )
    min_line_mm: float = Field(
        0.6,
        ge=0.2,
        le=3,
        description="Lines of the stamp narrower than this are thickened to it, so they print and ink.",
        json_schema_extra=_for("stamp", "cutter", unit="mm", advanced=True),
    )
    grip: Literal["knob", "none"] = Field(
        "knob",
        description="A knob to hold the stamp by on its back (flaring out to the block, so it prints "
        "without supports), or a flat back.",
        json_schema_extra=_for("stamp"),
    )
    shape: Literal["flat", "curved", "cylinder"] = Field(
        "flat",
        description="A flat panel, a curved arc (arc_deg), or a closed cylinder: a lamp shade (diameter_mm).",
        json_schema_extra=_for("lithophane"),
    )
    arc_deg: float = Field(
        120.0,
        ge=10,
        le=350,
        description="How far a curved lithophane bends (degrees of arc).",
        json_schema_extra=_for("lithophane", unit="°"),
    )
    diameter_mm: float = Field(
        80.0,
        ge=20,
        le=300,
        description="Outer diameter of a cylinder lithophane; the picture goes once around, and its "
        "height follows from the picture's proportions.",
        json_schema_extra=_for("lithophane", unit="mm"),
    )
    ring_mm: float = Field(
        3.0,
        ge=0,
        le=20,
        description="Height of a ring inside the bottom of a cylinder lithophane that stiffens it (0: none).",
        json_schema_extra=_for("lithophane", unit="mm", advanced=True),
    )
    colors: int = Field(
        1,
        ge=1,
        le=MAX_COLORS,
        description="Colours to print in: the picture's colours are reduced to this many, each printed "
        "as its own part of the object in its own filament (1: one colour).",
        json_schema_extra=_for(*COLOUR_MODES),
    )
    color_strategy: Literal["inlay", "stacked"] = Field(
        "inlay",
        description="How the colours meet: inlay — flush, each colour fills the top of its region; "
        "stacked — each colour stands a step higher than the one below (prints with filament changes "
        "at those heights too).",
        json_schema_extra=_for(*COLOUR_MODES),
    )
    color_depth_mm: float = Field(
        0.6,
        ge=0.2,
        le=10,
        description="How deep each colour's inlay goes, or how much higher each stacked colour stands.",
        json_schema_extra=_for(*COLOUR_MODES, unit="mm", advanced=True),
    )
    palette: str | None = Field(
        None,
        max_length=200,
        description="The colours themselves instead of a count: parts separated by commas, colours "
        "merged into one part joined by '+', the part printing in its first colour "
        "(#d62828+#f77f00,#003049). Every pixel goes to the part holding its nearest colour.",
        json_schema_extra=_for(*COLOUR_MODES, advanced=True),
    )
    separate_parts: bool = Field(
        False,
        description="Keep separate parts of the picture as separate pieces (default: join them into one).",
        json_schema_extra=_for("puffy", "relief", "extrude", advanced=True),
    )
    detail_mm: float = Field(
        0.4,
        ge=0.0,
        le=5,
        description="Surface detail from the picture's light and dark.",
        json_schema_extra=_for("puffy", "relief", unit="mm"),
    )
    rim_mm: float = Field(
        0.8,
        ge=0.2,
        le=10,
        description="Thickness at the outline (no knife edges).",
        json_schema_extra=_for("puffy", "relief", unit="mm", advanced=True),
    )
    min_thickness_mm: float = Field(
        0.8,
        ge=0.3,
        le=10,
        description="Thickness of the lightest pixels.",
        json_schema_extra=_for("lithophane", unit="mm"),
    )
    max_thickness_mm: float = Field(
        3.0,
        ge=0.5,
        le=20,
        description="Thickness of the darkest pixels.",
        json_schema_extra=_for("lithophane", unit="mm"),
    )
    frame_mm: float = Field(
        3.0,
        ge=0.0,
        le=30,
        description="Width of a frame around the picture (0: none).",
        json_schema_extra=_for("lithophane", unit="mm"),
    )
    invert: bool = Field(
        False, description="Swap light and dark.", json_schema_extra=_for("lithophane", "heightmap")
    )
    target_faces: int = Field(
        50_000,
        ge=1_000,
        le=1_000_000,
        description="Most triangles in the finished mesh (flat parts need far fewer).",
        json_schema_extra=_for(
            "puffy", "relief", "extrude", "lithophane", "heightmap", "revolve", advanced=True
        ),
    )
    hollow: bool = Field(
        False,
        description="Make a vessel: a wall, a closed bottom and an open top.",
        json_schema_extra=_for("revolve"),
    )
    wall_mm: float = Field(
        1.6,
        ge=0.8,
        le=10,
        description="Wall thickness of a hollow vessel.",
        json_schema_extra=_for("revolve", unit="mm"),
    )
    bottom_mm: float = Field(
        2.0,
        ge=0.8,
        le=20,
        description="Thickness of a hollow vessel's bottom.",
        json_schema_extra=_for("revolve", unit="mm"),
    )
    min_diameter_mm: float = Field(
        3.0,
        ge=1.0,
        le=30,
        description="Thinner parts (a stem, a neck) are thickened to this so they print and hold.",
        json_schema_extra=_for("revolve", unit="mm"),
    )
    axis_x: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Where the axis is, as a share of the picture's width (empty: found from the outline).",
        json_schema_extra=_for("revolve", advanced=True),
    )
    profile_side: Literal["average", "better", "left", "right"] = Field(
        "average",
        description="Which side of the outline is turned: both averaged, the steadier (better), or one side.",
        json_schema_extra=_for("revolve", advanced=True),
    )
    when_not_round: Literal["refuse", "warn"] = Field(
        "refuse",
        description="What to do with a picture that is not a round object seen from the side.",
        json_schema_extra=_for("revolve", advanced=True),
    )

    @field_validator("palette")
    @classmethod
    def _palette_colours(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = [part.replace(" ", "") for part in value.split(",")]
        for part in parts:
            if not _PALETTE_PART.match(part):
                raise ValueError(f"'{part}' is not a colour like #d62828 (or colours joined by '+')")
        if len(parts) > MAX_COLORS:
            raise ValueError(f"at most {MAX_COLORS} parts, got {len(parts)}")
        if sum(len(part.split("+")) for part in parts) > MAX_PALETTE_COLOURS:
            raise ValueError(f"at most {MAX_PALETTE_COLOURS} colours in all")
        return ",".join(parts)

    @model_validator(mode="before")
    @classmethod
    def _mode_defaults(cls, data: Any) -> Any:
        # Before validation, so a mode's own default is checked like any value a client sends.
        if isinstance(data, dict):
            defaults = MODE_DEFAULTS.get(str(data.get("mode", "")), {})
            if defaults:
                data = {**defaults, **data}
        return data

    @model_validator(mode="after")
    def _colours_where_they_print(self) -> ReliefParameters:
        if (self.colors > 1 or self.palette) and self.mode not in COLOUR_MODES:
            raise ValueError(
                f"colors and palette apply to the modes {', '.join(COLOUR_MODES)} (not {self.mode})"
            )
        return self

    @field_validator("max_thickness_mm")
    @classmethod
    def _thicker_than_min(cls, value: float, info: ValidationInfo) -> float:
        # A field validator (not a model one) so the error names the field a person must change.
        low = info.data.get("min_thickness_mm")
        if low is not None and value <= low:
            raise ValueError(f"must be greater than min_thickness_mm ({low:g} mm)")
        return value
