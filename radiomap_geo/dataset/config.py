"""The settings of a dataset build (:class:`BuildConfig`) and the source-weight parser."""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from radiomap_geo.dataset.sampling import (
    SiteSampling,
)
from radiomap_geo.dataset.sources import SOURCE_NAMES
from radiomap_geo.errors import InputError
from radiomap_geo.options import option_info
from radiomap_geo.sites import FREQUENCY_RANGE_MHZ

log = logging.getLogger(__name__)

#: Default share of tiles per source (renormalised over the sources in use).
DEFAULT_WEIGHTS = {"procedural": 0.5, "radiomapseer": 0.3, "helsinki": 0.17, "delft": 0.03}
#: Tile sides a build takes, in cells (smallest, largest).
SIZE_CELLS = (8, 4096)
#: Settings that must match to add tiles to an existing dataset.
COMPATIBLE_KEYS = (
    "size",
    "resolution_m",
    "rx_height_m",
    "samples_per_tx",
    "max_depth",
    "diffraction",
    "refraction",
    "sites_per_tile",
    "seed",
    "sources",
    "margin_m",
    "region_factor",
    "materials",
    "sampling",
)
#: A source mix from a tile on: ``(first tile id, {source: weight})``.
Phase = tuple[int, dict[str, float]]
#: Keyword of :func:`~radiomap_geo.dataset.sampling.plan_tiles` -> the setting it takes.
_TILING = {
    "size": "size",
    "resolution": "resolution_m",
    "seed": "seed",
    "region_factor": "region_factor",
}
#: The settings :func:`~radiomap_geo.rt.simulate.solve_site` takes (keywords of the same name).
_RAY_SETTINGS = ("rx_height_m", "samples_per_tx", "max_depth", "diffraction", "refraction")


@dataclass(frozen=True)
class BuildConfig:
    """Settings of a dataset build (see the CLI for their meaning)."""

    n_tiles: int = 100
    size: int = 128
    resolution_m: float = 2.0
    rx_height_m: float = 1.5
    samples_per_tx: int = 3_000_000
    max_depth: int = 3
    diffraction: bool = True
    refraction: bool = False
    sites_per_tile: int = 4
    seed: int = 0
    sources: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    #: Later source mixes, each from its first tile id on (increasing, > 0); ``sources`` is the
    #: mix from tile 0. Empty for a single mix, as every dataset built before mixes could change.
    sources_from: tuple[Phase, ...] = ()
    margin_m: float = 0.0
    region_factor: float = 1.5
    materials: dict[str, Any] = field(default_factory=dict)
    sampling: SiteSampling = field(default_factory=SiteSampling)
    tiles_per_shard: int = 64
    shared_data: str | None = None
    helsinki: str | None = None

    def validate(self) -> None:
        """Raise :class:`InputError` for unusable settings, before any work.

        Each error's ``parameter`` is the field's name (``sampling.frequency_mhz``:
        ``frequency_mhz``), which ``radiomap-geo dataset build`` carries as its flag's name.
        """
        for name, value, what, limits in _number_checks(self):
            check_number(name, value, what, **limits)
        _check_weights(self.sources, "sources")
        previous = 0
        for start, weights in self.sources_from:
            if start <= previous:
                raise InputError(
                    f"source mixes must start at increasing tile ids after 0, got {start} after "
                    f"{previous}"
                )
            _check_weights(weights)
            previous = start

    def phases(self) -> tuple[Phase, ...]:
        """Every source mix as ``(first tile id, weights)``, the first from tile 0."""
        return ((0, self.sources), *self.sources_from)

    def source_names(self) -> list[str]:
        """The sources any mix names, those of the first mix first (in their order)."""
        return list(dict.fromkeys(name for _, weights in self.phases() for name in weights))

    def tiling(self) -> dict[str, Any]:
        """The keywords of :func:`~radiomap_geo.dataset.sampling.plan_tiles` for this build."""
        return {keyword: getattr(self, name) for keyword, name in _TILING.items()}

    def ray_settings(self) -> dict[str, Any]:
        """The keywords of :func:`~radiomap_geo.rt.simulate.solve_site` for this build."""
        return {name: getattr(self, name) for name in _RAY_SETTINGS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["sampling"] = self.sampling.to_dict()
        out["sources_from"] = phases_json(self.sources_from)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildConfig:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        data = dict(data)
        sampling = data.pop("sampling", {}) or {}
        sampling = {k: tuple(v) if isinstance(v, list) else v for k, v in sampling.items()}
        # JSON turns the phase tuples into lists; a manifest from before phases has none.
        phases = tuple((int(start), dict(w)) for start, w in data.pop("sources_from", None) or ())
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known, sources_from=phases, sampling=SiteSampling(**sampling))


def _number_checks(config: BuildConfig) -> list[tuple[str, Any, str, dict[str, Any]]]:
    """``(parameter, value, words, limits)`` of every number of ``config``.

    The limits the rest of the package uses where there is one: the receiver height of
    :class:`~radiomap_geo.options.RunOptions`, the carrier of a site, the rays of the ray tracer.
    """
    from radiomap_geo.rt.simulate import MAX_SAMPLES  # no Sionna import, but not for readers

    rx = option_info("rx_height_m")
    low_mhz, high_mhz = FREQUENCY_RANGE_MHZ
    return [
        ("n_tiles", config.n_tiles, "the number of tiles", {"low": 1, "whole": True}),
        (
            "size",
            config.size,
            "the tile side (cells)",
            {"low": SIZE_CELLS[0], "high": SIZE_CELLS[1], "whole": True},
        ),
        ("resolution_m", config.resolution_m, "the cell size (m)", {"low": 0, "above": True}),
        (
            "rx_height_m",
            config.rx_height_m,
            rx.label.lower(),
            {"low": rx.minimum, "above": rx.min_exclusive, "high": rx.maximum},
        ),
        (
            "samples_per_tx",
            config.samples_per_tx,
            "the rays per transmitter",
            {"low": 1, "high": MAX_SAMPLES, "whole": True},
        ),
        ("max_depth", config.max_depth, "the interactions per path", {"low": 0, "whole": True}),
        (
            "sites_per_tile",
            config.sites_per_tile,
            "the transmitters per tile",
            {"low": 1, "whole": True},
        ),
        ("seed", config.seed, "the seed", {"low": 0, "whole": True}),
        ("margin_m", config.margin_m, "the building margin (m)", {"low": 0}),
        (
            "region_factor",
            config.region_factor,
            "the region side (in tile sides; regions hold whole tiles)",
            {"low": 1},
        ),
        (
            "tiles_per_shard",
            config.tiles_per_shard,
            "the tiles per shard",
            {"low": 1, "whole": True},
        ),
        (
            "frequency_mhz",
            config.sampling.frequency_mhz,
            "the carrier frequency (MHz)",
            {"low": low_mhz, "high": high_mhz},
        ),
    ]


def check_number(
    name: str,
    value: Any,
    what: str,
    *,
    low: float,
    high: float | None = None,
    above: bool = False,
    whole: bool = False,
) -> None:
    """Raise :class:`InputError` (``parameter=name``) unless ``value`` is a finite number from
    ``low`` (excluded when ``above``) to ``high``, and whole when ``whole``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a number, got {value!r}", parameter=name)
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, got {value}", parameter=name)
    if whole and value != int(value):
        raise InputError(
            f"{what} must be a whole number, got {value:g}: give one without a fraction",
            parameter=name,
        )
    if (value <= low if above else value < low) or (high is not None and value > high):
        allowed = f"above {low:g}" if above else f"at least {low:g}"
        if high is not None:
            allowed += f" and at most {high:g}"
        raise InputError(f"{what} must be {allowed}, got {value:g}", parameter=name)


def _check_weights(weights: Mapping[str, float], parameter: str | None = None) -> None:
    if not weights:
        raise InputError(
            f"name at least one source: {', '.join(SOURCE_NAMES)}", parameter=parameter
        )
    for name, weight in weights.items():
        if name not in SOURCE_NAMES:
            raise InputError(
                f"unknown dataset source {name!r}; known: {', '.join(SOURCE_NAMES)}",
                parameter=parameter,
            )
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise InputError(
                f"source weight of {name} must be a number, got {weight!r}", parameter=parameter
            )
        if not (math.isfinite(weight) and weight > 0):
            raise InputError(
                f"source weight of {name} must be a positive number, got {weight}",
                parameter=parameter,
            )


def phases_json(phases: Iterable[Phase]) -> list[list]:
    """``sources_from`` as the manifest stores it (JSON has no tuples)."""
    return [[int(start), dict(weights)] for start, weights in phases]


def mix_shares(phases: Iterable[Phase], available: Iterable[str]) -> tuple[Phase, ...]:
    """The share of tiles each source gets in each mix, as the tile planner follows it.

    A mix's weights count only for the ``available`` sources (those a build could open) and are
    renormalised over them: ``--sources procedural`` is "procedural 1", whatever its default
    weight.
    """
    names = set(available)
    out = []
    for start, weights in phases:
        used = {k: float(w) for k, w in weights.items() if k in names and w > 0}
        total = sum(used.values())
        out.append((int(start), {k: round(w / total, 6) for k, w in used.items()}))
    return tuple(out)


def format_mix(weights: Mapping[str, float]) -> str:
    """``procedural 0.2, radiomapseer 0.4``: a mix for messages."""
    return ", ".join(f"{name} {weight:g}" for name, weight in weights.items())


def parse_sources(text: str, parameter: str | None = "sources") -> dict[str, float]:
    """``"procedural,radiomapseer:0.3"`` to weights (default weights where none is given).

    ``parameter``: the option the text came from, named by the errors.
    """
    out: dict[str, float] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        name, _, weight = item.partition(":")
        name = name.strip().lower()
        if name not in SOURCE_NAMES:
            raise InputError(
                f"unknown dataset source {name!r}; known: {', '.join(SOURCE_NAMES)}",
                parameter=parameter,
            )
        try:
            out[name] = float(weight) if weight else DEFAULT_WEIGHTS[name]
        except ValueError as exc:
            raise InputError(
                f"source weight {weight!r} of {name} is not a number", parameter=parameter
            ) from exc
    _check_weights(out, parameter)
    return out


def with_tiles(config: BuildConfig, n_tiles: int) -> BuildConfig:
    """The same settings with another tile count."""
    return replace(config, n_tiles=int(n_tiles))
