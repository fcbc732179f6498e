"""The one options object of a coverage run: every setting, its default and its limits, once.

:class:`RunOptions` is what the prediction engine, the ray tracer and every front end share. Each
setting is described once (:func:`option_info`): its field holds the default, the command-line
flag, the QGIS name and the limits, ``_WORDS`` its label and help; the front ends generate their
options from that, so a default or a limit is written in exactly one place. The object
validates itself on construction; a bad value raises :class:`~radiomap_geo.errors.InputError`
whose ``parameter`` is the field name, which each front end translates to its own name
(``--rx-height`` on the command line, "Receiver height above ground (m)" in QGIS) instead of
rewriting the message.

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

#: The arithmetic a network can predict in (:mod:`radiomap_geo.nets.inference`).
PRECISIONS = ("auto", "float32", "bfloat16")

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


#: The words of each setting: its label (messages, the QGIS label) and its one-sentence help
#: (--help, the QGIS help). Its field in :class:`RunOptions` holds the rest.
_WORDS: dict[str, tuple[str, str]] = {
    "rx_height_m": ("Receiver height above ground (m)", "Receiver height above ground (m)."),
    "bandwidth_mhz": (
        "Channel bandwidth (MHz)",
        "Channel bandwidth (MHz): thermal noise for SINR and the resource blocks for RSRP.",
    ),
    "noise_figure_db": ("Receiver noise figure (dB)", "Receiver noise figure (dB), for SINR."),
    "per_site": ("Per-site path gain", "Add one path_gain_db:<site_id> band per site."),
    "tile_size": ("Tile size (cells)", "Tile edge in cells (memory per tile)."),
    "subcarrier_spacing_khz": (
        "Subcarrier spacing (kHz)",
        "OFDM subcarrier spacing (kHz) for RSRP: 15, 30 or 60 for NR, 15 for LTE "
        "[default: 30 for NR, 15 for LTE].",
    ),
    "technology": (
        "Radio technology",
        "nr or lte: which 3GPP resource-block table turns the bandwidth into subcarriers for RSRP.",
    ),
    "max_range_m": (
        "Maximum range (m)",
        "Metres from a site beyond which it is ignored [default: the model's reach].",
    ),
    "default_height_m": (
        "Height of buildings without height information (m)",
        "Height (m) of buildings with no usable height information.",
    ),
    "storey_height_m": (
        "Storey height (m)",
        "Metres per storey when only building:levels is known.",
    ),
    "tta": (
        "Test-time augmentation (symmetries)",
        "Average a network over 1, 4 or 8 rotations/mirrors of the scene (in linear power): "
        "about 0.1 dB lower RMSE for 4x the network time (benchmarks/results/tta.md).",
    ),
    "precision": (
        "Network arithmetic",
        "auto, float32 or bfloat16: bfloat16 (auto: where the processor has it) takes 39 % "
        "less network time and moves maps by 0.07 dB RMS (benchmarks/results/precision.md).",
    ),
    "strict": (
        "Refuse invalid building heights",
        "Refuse building heights that are not usable numbers (text, zero or negative, NaN, "
        "above 1000 m) "
        "instead of replacing them by the default height with a warning.",
    ),
}


def described(default: Any, help: str) -> Any:
    """A dataclass field whose default and one-sentence help are written together.

    For the smaller settings objects (optimisation, search limits): front ends read the help
    with :func:`help_of`, so a flag's help text lives beside its default in the core.
    """
    return field(default=default, metadata={"help": help})


def help_of(settings: Any, name: str) -> str | None:
    """The help sentence of field ``name`` of a dataclass declared with :func:`described`."""
    for item in fields(settings):
        if item.name == name:
            return item.metadata.get("help")
    raise KeyError(name)


def _option(
    default: Any,
    cli: str | None = None,
    qgis: str | None = None,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A field with its front-end names and the values it takes (``above``: a refused minimum).

    The metadata holds the :class:`OptionInfo` arguments other than the words (``_WORDS``).
    """
    low = {"minimum": at_least} if above is None else {"minimum": above, "min_exclusive": True}
    info = {"cli": cli, "qgis": qgis, "maximum": at_most, "choices": choices, **low}
    return field(default=default, metadata={"option": info})


@dataclass(frozen=True)
class RunOptions:
    """Settings shared by every tile of a run (the first five keep their historic order)."""

    rx_height_m: float = _option(1.5, "--rx-height", "RX_HEIGHT", above=0.0, at_most=500.0)
    bandwidth_mhz: float = _option(20.0, "--bandwidth", "BANDWIDTH", above=0.0, at_most=400.0)
    noise_figure_db: float = _option(
        7.0, "--noise-figure", "NOISE_FIGURE", at_least=0.0, at_most=30.0
    )
    per_site: bool = _option(False, "--per-site", "PER_SITE")
    tile_size: int = _option(512, "--tile-size", at_least=16, at_most=16384)
    subcarrier_spacing_khz: int | None = _option(
        None, "--subcarrier-spacing", "SUBCARRIER_SPACING", choices=tuple(NR_RESOURCE_BLOCKS)
    )
    technology: str = _option("nr", "--technology", "TECHNOLOGY", choices=TECHNOLOGIES)
    max_range_m: float | None = _option(None, "--max-range", above=0.0, at_most=100_000.0)
    default_height_m: float = _option(
        10.0, "--default-height", "DEFAULT_HEIGHT", above=0.0, at_most=1000.0
    )
    storey_height_m: float = _option(3.0, "--storey-height", above=0.0, at_most=20.0)
    strict: bool = _option(False, "--strict", "STRICT")
    tta: int = _option(1, "--tta", "TTA", choices=(1, 4, 8))
    precision: str = _option("auto", "--precision", "PRECISION", choices=PRECISIONS)

    def __post_init__(self) -> None:
        for item in fields(self):
            _check(item.name, getattr(self, item.name), _INFO[item.name], item.default)
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


#: Every setting's description: its words and what its field says.
_INFO = {
    item.name: OptionInfo(*_WORDS[item.name], **item.metadata["option"])
    for item in fields(RunOptions)
}


def field_names() -> list[str]:
    """The settings in declaration order."""
    return [item.name for item in fields(RunOptions)]


def option_info(name: str) -> OptionInfo:
    """The description of setting ``name`` (KeyError for an unknown name)."""
    return _INFO[name]


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
