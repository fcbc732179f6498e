"""The one options object of a coverage run: every setting, its default and its limits, once.

:class:`RunOptions` is what the prediction engine, the ray tracer and every front end share. Each
field carries its own description (:class:`OptionInfo` in the field's metadata): the help text,
the command-line flag and the QGIS label are generated from it, so a default or a limit is
written in exactly one place. The object validates itself on construction; a bad value raises
:class:`~radiomap_geo.errors.InputError` whose ``parameter`` is the field name, which each front
end translates to its own name (``--rx-height`` on the command line, "Receiver height above
ground (m)" in QGIS) instead of rewriting the message.

RSRP defaults: NR at 3.5 GHz (the carrier of the shipped networks and of a site without
``frequency_mhz``) with 30 kHz subcarriers and a 20 MHz carrier, i.e. 51 resource blocks = 612
subcarriers, so ``rsrp_dbm`` is ``rx_power_dbm - 27.9 dB`` (see :mod:`radiomap_geo.rsrp`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from radiomap_geo.errors import InputError
from radiomap_geo.rsrp import NR_RESOURCE_BLOCKS, TECHNOLOGIES, rsrp_offset_db

#: The subcarrier spacing when none is given: NR mid-band (3.5 GHz) uses 30 kHz, LTE only 15.
DEFAULT_SUBCARRIER_SPACING_KHZ = {"nr": 30, "lte": 15}


@dataclass(frozen=True)
class OptionInfo:
    """How a setting is described, bounded and named by the front ends."""

    label: str  # plain words, used in messages and as the QGIS label
    help: str  # one sentence for --help and the QGIS help
    cli: str | None = None  # the command-line flag, None for settings the CLI does not expose
    qgis: str | None = None  # the Processing parameter name, None when QGIS does not expose it
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False  # the minimum itself is refused (e.g. a zero bandwidth)
    choices: tuple[Any, ...] | None = None


def _option(default: Any, info: OptionInfo) -> Any:
    return field(default=default, metadata={"info": info})


@dataclass(frozen=True)
class RunOptions:
    """Settings shared by every tile of a run (the first five keep their historic order)."""

    rx_height_m: float = _option(
        1.5,
        OptionInfo(
            "Receiver height above ground (m)",
            "Receiver height above ground (m).",
            cli="--rx-height",
            qgis="RX_HEIGHT",
            minimum=0.0,
            maximum=500.0,
            min_exclusive=True,
        ),
    )
    bandwidth_mhz: float = _option(
        20.0,
        OptionInfo(
            "Channel bandwidth (MHz)",
            "Channel bandwidth (MHz): thermal noise for SINR and the resource blocks for RSRP.",
            cli="--bandwidth",
            qgis="BANDWIDTH",
            minimum=0.0,
            maximum=400.0,
            min_exclusive=True,
        ),
    )
    noise_figure_db: float = _option(
        7.0,
        OptionInfo(
            "Receiver noise figure (dB)",
            "Receiver noise figure (dB), for SINR.",
            cli="--noise-figure",
            qgis="NOISE_FIGURE",
            minimum=0.0,
            maximum=30.0,
        ),
    )
    per_site: bool = _option(
        False,
        OptionInfo(
            "Per-site path gain",
            "Add one path_gain_db:<site_id> band per site.",
            cli="--per-site",
            qgis="PER_SITE",
        ),
    )
    tile_size: int = _option(
        512,
        OptionInfo(
            "Tile size (cells)",
            "Tile edge in cells (memory per tile).",
            cli="--tile-size",
            minimum=16,
            maximum=16384,
        ),
    )
    subcarrier_spacing_khz: int | None = _option(
        None,
        OptionInfo(
            "Subcarrier spacing (kHz)",
            "OFDM subcarrier spacing (kHz) for RSRP: 15, 30 or 60 for NR, 15 for LTE "
            "[default: 30 for NR, 15 for LTE].",
            cli="--subcarrier-spacing",
            qgis="SUBCARRIER_SPACING",
            choices=tuple(NR_RESOURCE_BLOCKS),
        ),
    )
    technology: str = _option(
        "nr",
        OptionInfo(
            "Radio technology",
            "nr or lte: which 3GPP resource-block table turns the bandwidth into subcarriers "
            "for RSRP.",
            cli="--technology",
            qgis="TECHNOLOGY",
            choices=TECHNOLOGIES,
        ),
    )
    max_range_m: float | None = _option(
        None,
        OptionInfo(
            "Maximum range (m)",
            "Metres from a site beyond which it is ignored [default: the model's reach].",
            cli="--max-range",
            minimum=0.0,
            maximum=100_000.0,
            min_exclusive=True,
        ),
    )
    default_height_m: float = _option(
        10.0,
        OptionInfo(
            "Height of buildings without height information (m)",
            "Height (m) of buildings with no usable height information.",
            cli="--default-height",
            qgis="DEFAULT_HEIGHT",
            minimum=0.0,
            maximum=1000.0,
            min_exclusive=True,
        ),
    )
    storey_height_m: float = _option(
        3.0,
        OptionInfo(
            "Storey height (m)",
            "Metres per storey when only building:levels is known.",
            cli="--storey-height",
            minimum=0.0,
            maximum=20.0,
            min_exclusive=True,
        ),
    )
    strict: bool = _option(
        False,
        OptionInfo(
            "Refuse invalid building heights",
            "Refuse building heights that are not usable numbers (text, negative, above 1000 m) "
            "instead of replacing them by the default height with a warning.",
            cli="--strict",
            qgis="STRICT",
        ),
    )

    def __post_init__(self) -> None:
        for item in fields(self):
            _check(item.name, getattr(self, item.name), item.metadata["info"], item.default)
        # Also checks that the bandwidth is a channel bandwidth of the technology's tables.
        _ = self.rsrp_offset_db

    @property
    def subcarrier_spacing(self) -> int:
        """The subcarrier spacing in kHz, the technology's usual one when not given."""
        if self.subcarrier_spacing_khz is not None:
            return int(self.subcarrier_spacing_khz)
        return DEFAULT_SUBCARRIER_SPACING_KHZ[self.technology]

    @property
    def rsrp_offset_db(self) -> float:
        """Decibels from total received power to RSRP (per resource element) here."""
        return rsrp_offset_db(self.bandwidth_mhz, self.subcarrier_spacing, self.technology)

    def with_settings(self, **settings: Any) -> RunOptions:
        """A copy with some fields changed (validated again); unknown names are refused."""
        unknown = sorted(set(settings) - set(field_names()))
        if unknown:
            raise TypeError(f"unknown run settings {unknown}; known: {field_names()}")
        return replace(self, **settings)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for metadata, JSON and run records)."""
        return asdict(self)


#: The historic name of the options object.
PredictOptions = RunOptions


def field_names() -> list[str]:
    """The settings in declaration order."""
    return [item.name for item in fields(RunOptions)]


def option_info(name: str) -> OptionInfo:
    """The description of setting ``name``."""
    for item in fields(RunOptions):
        if item.name == name:
            return item.metadata["info"]
    raise KeyError(name)


def default_of(name: str) -> Any:
    """The default value of setting ``name``."""
    for item in fields(RunOptions):
        if item.name == name:
            return item.default
    raise KeyError(name)


def run_options(options: RunOptions | None = None, **settings: Any) -> RunOptions:
    """``options`` (or the defaults) with ``settings`` applied: the engines' one entry point."""
    return (options or RunOptions()).with_settings(**settings)


def _check(name: str, value: Any, info: OptionInfo, default: Any) -> None:
    if value is None and default is None:
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{info.label} must be true or false, got {value!r}", parameter=name)
        return
    if info.choices is not None:
        if value not in info.choices:
            allowed = ", ".join(str(c) for c in info.choices)
            raise InputError(
                f"{info.label} must be one of {allowed}, got {value!r}", parameter=name
            )
        return
    _check_number(name, value, info, integer=isinstance(default, int))


def _check_number(name: str, value: Any, info: OptionInfo, integer: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{info.label} must be a number, got {value!r}", parameter=name)
    if not math.isfinite(value):
        raise InputError(f"{info.label} must be a finite number, got {value}", parameter=name)
    if integer and value != int(value):
        raise InputError(f"{info.label} must be a whole number, got {value}", parameter=name)
    low, high = info.minimum, info.maximum
    too_low = low is not None and (value <= low if info.min_exclusive else value < low)
    if too_low or (high is not None and value > high):
        lower = f"above {low:g}" if info.min_exclusive else f"at least {low:g}"
        raise InputError(
            f"{info.label} must be {lower} and at most {high:g}, got {value:g}", parameter=name
        )
