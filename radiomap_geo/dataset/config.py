"""The settings of a dataset build (:class:`BuildConfig`) and the source-weight parser."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
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
        if not self.sources:
            raise InputError(f"name at least one source: {', '.join(SOURCE_NAMES)}")
        for name, weight in self.sources.items():
            if name not in SOURCE_NAMES:
                raise InputError(
                    f"unknown dataset source {name!r}; known: {', '.join(SOURCE_NAMES)}"
                )
            if not (math.isfinite(weight) and weight > 0):
                raise InputError(f"source weight of {name} must be positive, got {weight}")

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
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildConfig:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        data = dict(data)
        sampling = data.pop("sampling", {}) or {}
        sampling = {k: tuple(v) if isinstance(v, list) else v for k, v in sampling.items()}
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known, sampling=SiteSampling(**sampling))


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
