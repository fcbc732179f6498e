"""The settings of a dataset build (:class:`BuildConfig`) and the source-weight parser."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from radiomap_geo.dataset.sampling import (
    SiteSampling,
)
from radiomap_geo.dataset.sources import SOURCE_NAMES
from radiomap_geo.errors import InputError

log = logging.getLogger(__name__)

#: Default share of tiles per source (renormalised over the sources in use).
DEFAULT_WEIGHTS = {"procedural": 0.5, "radiomapseer": 0.3, "helsinki": 0.17, "delft": 0.03}
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
        """Raise :class:`InputError` for unusable settings."""
        if self.n_tiles < 0:
            raise InputError(f"n_tiles must be >= 0, got {self.n_tiles}")
        if not 8 <= self.size <= 4096:
            raise InputError(f"size must be 8..4096 cells, got {self.size}")
        if not (math.isfinite(self.resolution_m) and self.resolution_m > 0):
            raise InputError(
                f"resolution must be a positive number of metres, got {self.resolution_m}"
            )
        if self.samples_per_tx < 1 or self.sites_per_tile < 1 or self.tiles_per_shard < 1:
            raise InputError("samples, sites per tile and tiles per shard must be >= 1")
        if self.max_depth < 0:
            raise InputError(f"max_depth must be >= 0, got {self.max_depth}")
        if self.seed < 0:
            raise InputError(f"seed must be >= 0, got {self.seed}")
        _check_weights(self.sources)
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


def _check_weights(weights: Mapping[str, float]) -> None:
    if not weights:
        raise InputError(f"name at least one source: {', '.join(SOURCE_NAMES)}")
    for name, weight in weights.items():
        if name not in SOURCE_NAMES:
            raise InputError(f"unknown dataset source {name!r}; known: {', '.join(SOURCE_NAMES)}")
        if not (math.isfinite(weight) and weight > 0):
            raise InputError(f"source weight of {name} must be positive, got {weight}")


def phases_json(phases: Iterable[Phase]) -> list[list]:
    """``sources_from`` as the manifest stores it (JSON has no tuples)."""
    return [[int(start), dict(weights)] for start, weights in phases]


def format_mix(weights: Mapping[str, float]) -> str:
    """``procedural 0.2, radiomapseer 0.4``: a mix for messages."""
    return ", ".join(f"{name} {weight:g}" for name, weight in weights.items())


def parse_sources(text: str) -> dict[str, float]:
    """``"procedural,radiomapseer:0.3"`` to weights (default weights where none is given)."""
    out: dict[str, float] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        name, _, weight = item.partition(":")
        name = name.strip().lower()
        if name not in SOURCE_NAMES:
            raise InputError(f"unknown dataset source {name!r}; known: {', '.join(SOURCE_NAMES)}")
        try:
            out[name] = float(weight) if weight else DEFAULT_WEIGHTS[name]
        except ValueError as exc:
            raise InputError(f"source weight {weight!r} of {name} is not a number") from exc
    if not out:
        raise InputError(f"name at least one source: {', '.join(SOURCE_NAMES)}")
    return out


def with_tiles(config: BuildConfig, n_tiles: int) -> BuildConfig:
    """The same settings with another tile count."""
    return replace(config, n_tiles=int(n_tiles))
