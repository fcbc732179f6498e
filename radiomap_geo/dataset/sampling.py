"""Tile plans, geographic splits and transmitter-site sampling.

A build is a list of :class:`TileSpec` work units, fixed by the build settings alone: tile ``i``
gets its source from a weighted round robin over the sources (restarted with other weights where
a later source mix begins, see :func:`phased_schedule`), its region from a seeded
permutation of that source's regions, and everything random inside it (placement, city, sites,
ray seeds) from ``SeedSequence([seed, i])``. Asking for more tiles later only appends units.

Splits are assigned per *region* (see :mod:`radiomap_geo.dataset.sources`): whole RadioMapSeer
maps and whole OSM sub-areas go to one split, sorted by a salted hash so the assignment does not
depend on the build seed or tile count. Tiles lie inside their region, so no test tile overlaps a
training tile. Procedural cities are train or val only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from affine import Affine

from radiomap_geo.dataset.procedural import PROCEDURAL_CRS, nominal_origin
from radiomap_geo.dataset.sources import Region, Source, stable_int, stable_uniform
from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid, to_crs
from radiomap_geo.sites import Site

SPLITS = ("train", "val", "test")
#: Salt of the split hash: changing it reshuffles every split, so it is versioned.
SPLIT_SALT = "radiomap-geo-split-v1"
PROCEDURAL_VAL_FRACTION = 0.1
SITE_KINDS = ("street", "rooftop")


@dataclass(frozen=True)
class TileSpec:
    """One work unit: a tile of ``size`` x ``size`` cells, its source, region, split and seed."""

    tile_id: int
    source: str
    region: str
    split: str
    seed: int
    crs: str
    bounds: tuple[float, float, float, float]
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def grid(self, resolution: float) -> Grid:
        """The tile's north-up grid."""
        minx, miny, maxx, maxy = self.bounds
        cols = int(round((maxx - minx) / resolution))
        rows = int(round((maxy - miny) / resolution))
        return Grid(
            to_crs(self.crs), Affine(resolution, 0.0, minx, 0.0, -resolution, maxy), (rows, cols)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["bounds"] = [float(v) for v in self.bounds]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TileSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tile_id=int(data["tile_id"]),
            source=str(data["source"]),
            region=str(data["region"]),
            split=str(data["split"]),
            seed=int(data["seed"]),
            crs=str(data["crs"]),
            bounds=tuple(float(v) for v in data["bounds"]),  # type: ignore[arg-type]
            params=dict(data.get("params", {})),
        )


def tile_seed(seed: int, tile_id: int) -> int:
    """The 32-bit seed of tile ``tile_id`` in a build seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(tile_id)]).generate_state(1)[0])


def assign_splits(
    region_ids: list[str], test_fraction: float, val_fraction: float, salt: str = SPLIT_SALT
) -> dict[str, str]:
    """Split regions into train/val/test by a salted hash order.

    ``round(fraction * n)`` regions go to test, then val, the rest to train; with three or more
    regions each non-zero fraction gets at least one region.
    """
    order = sorted(region_ids, key=lambda r: stable_int(salt, r))
    n = len(order)
    n_test = round(test_fraction * n)
    n_val = round(val_fraction * n)
    if n >= 3:
        n_test = max(n_test, 1 if test_fraction > 0 else 0)
        n_val = max(n_val, 1 if val_fraction > 0 else 0)
    n_test = min(n_test, n)
    n_val = min(n_val, n - n_test)
    out = {}
    for i, region in enumerate(order):
        out[region] = "test" if i < n_test else ("val" if i < n_test + n_val else "train")
    return out


def source_schedule(weights: Mapping[str, float], n: int) -> list[str]:
    """The source of each of the first ``n`` tiles: a weighted round robin (prefix-stable)."""
    names = [k for k, w in weights.items() if w > 0]
    if not names:
        raise InputError("no dataset source has a positive weight")
    total = sum(weights[k] for k in names)
    share = {k: weights[k] / total for k in names}
    counts = dict.fromkeys(names, 0)
    out = []
    for i in range(n):
        pick = max(names, key=lambda k: (share[k] * (i + 1) - counts[k], -names.index(k)))
        counts[pick] += 1
        out.append(pick)
    return out


def phased_schedule(phases: Sequence[tuple[int, Mapping[str, float]]], n: int) -> list[str]:
    """The source of each of the first ``n`` tiles when the mix changes at given tiles.

    ``phases`` are ``(first tile id, weights)``, the first from tile 0. Each phase runs its own
    round robin, counting from its first tile: the tiles before a phase get exactly the sources
    they had without it, so a mix can change for the tiles still to come of a built dataset.
    """
    starts = [int(start) for start, _ in phases]
    if not starts or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])):
        raise InputError(f"source mixes must start at tile 0 and then increase, got {starts}")
    out: list[str] = []
    for (start, weights), end in zip(phases, [*starts[1:], n]):
        count = min(n, end) - start
        if start == 0:  # the first mix as it always was (its error for no weights too)
            out += source_schedule(weights, count)
        elif count > 0:
            try:
                out += source_schedule(weights, count)
            except InputError as exc:
                raise InputError(f"the source mix from tile {start} on: {exc}") from exc
    return out


def place_tile(
    region_bounds: tuple[float, float, float, float],
    tile_m: float,
    resolution: float,
    rng: np.random.Generator,
) -> tuple[float, float, float, float]:
    """Random tile bounds inside the region (or around it, when the region is smaller)."""
    minx, miny, maxx, maxy = region_bounds
    out = []
    for lo_edge, hi_edge in ((minx, maxx), (miny, maxy)):
        lo, hi = sorted((lo_edge, hi_edge - tile_m))
        steps = math.floor((hi - lo) / resolution + 1e-9)
        out.append(lo + resolution * int(rng.integers(0, steps + 1)))
    x0, y0 = out
    return (x0, y0, x0 + tile_m, y0 + tile_m)


def region_cycle(regions: list[Region], seed: int, source: str, k: int) -> Region:
    """The region of the ``k``-th tile of a source: each cycle visits every region once."""
    cycle, pos = divmod(k, len(regions))
    order = np.random.default_rng(stable_int("regions", seed, source, cycle)).permutation(
        len(regions)
    )
    return regions[int(order[pos])]


def plan_tiles(
    n_tiles: int,
    sources: Mapping[str, Source | None],
    weights: Mapping[str, float],
    *,
    size: int,
    resolution: float,
    seed: int,
    region_factor: float = 1.5,
    placement_tries: int = 8,
    min_cover: float = 0.05,
    weights_from: Sequence[tuple[int, Mapping[str, float]]] = (),
) -> list[TileSpec]:
    """The first ``n_tiles`` work units of a build.

    Args:
        n_tiles: How many tiles.
        sources: ``{name: source}`` as from :func:`~radiomap_geo.dataset.sources.open_sources`.
        weights: Relative share of tiles per source (only sources in ``sources`` count).
        size: Tile side in cells.
        resolution: Cell size in metres.
        seed: Build seed.
        region_factor: Side of the OSM sub-areas in tile sides (>= 1).
        placement_tries: Random placements tried per tile to find one with buildings.
        min_cover: Building cover a placement should reach (else the best try is kept).
        weights_from: Later mixes ``(first tile id, weights)``, increasing; ``weights`` is the
            mix from tile 0. Only the sources a mix names (and ``sources`` holds) count in it.
    """
    if region_factor < 1:
        raise InputError(
            f"region_factor must be >= 1 (regions hold whole tiles), got {region_factor}"
        )
    tile_m = size * resolution
    active = {k: float(weights.get(k, 1.0)) for k in sources}
    later = [
        (int(start), {k: float(w) for k, w in mix.items() if k in sources})
        for start, mix in weights_from
    ]
    schedule = phased_schedule([(0, active), *later], n_tiles)
    regions: dict[str, list[Region]] = {}
    splits: dict[str, dict[str, str]] = {}
    for name, source in sources.items():
        if source is None:
            continue
        regions[name] = source.regions(tile_m, region_factor)
        if not regions[name]:
            raise InputError(f"dataset source {name!r} has no usable region for {tile_m:g} m tiles")
        splits[name] = assign_splits(
            [r.id for r in regions[name]], source.test_fraction, source.val_fraction
        )
    # The k-th tile of a source counts across mixes, so a later mix continues its region cycle.
    counts: dict[str, int] = {}
    out = []
    for tile_id, name in enumerate(schedule):
        k = counts.get(name, 0)
        counts[name] = k + 1
        tseed = tile_seed(seed, tile_id)
        rng = np.random.default_rng(np.random.SeedSequence([tseed, 1]))
        source = sources[name]
        if source is None:
            x0, y0 = nominal_origin(tile_id)
            region_id = f"procedural:{tile_id}"
            split = (
                "val"
                if stable_uniform(SPLIT_SALT, region_id) < PROCEDURAL_VAL_FRACTION
                else "train"
            )
            spec = TileSpec(
                tile_id=tile_id,
                source=name,
                region=region_id,
                split=split,
                seed=tseed,
                crs=PROCEDURAL_CRS,
                bounds=(x0, y0, x0 + tile_m, y0 + tile_m),
                params={"city_seed": tseed},
            )
        else:
            region = region_cycle(regions[name], seed, name, k)
            rb = region.bounds
            fixed = rb[2] - rb[0] <= tile_m + resolution and rb[3] - rb[1] <= tile_m + resolution
            best, best_cover = None, -1.0
            for _ in range(1 if fixed else max(1, placement_tries)):
                bounds = place_tile(region.bounds, tile_m, resolution, rng)
                cover = 1.0 if fixed else source.cover(region, bounds)
                if cover > best_cover:
                    best, best_cover = bounds, cover
                if cover >= min_cover:
                    break
            assert best is not None
            params = {**region.params, "region_bounds": [float(v) for v in region.bounds]}
            spec = TileSpec(
                tile_id, name, region.id, splits[name][region.id], tseed, region.crs, best, params
            )
        out.append(spec)
    return out


def overlapping_pairs(specs: list[TileSpec], a: str = "test", b: str = "train") -> list[tuple]:
    """Pairs ``(tile_id, tile_id)`` of split ``a`` and split ``b`` tiles whose areas overlap."""
    out = []
    by_crs: dict[str, list[TileSpec]] = {}
    for spec in specs:
        by_crs.setdefault(spec.crs, []).append(spec)
    for group in by_crs.values():
        left = [s for s in group if s.split == a]
        right = [s for s in group if s.split == b]
        for s in left:
            for t in right:
                if (
                    s.bounds[0] < t.bounds[2]
                    and t.bounds[0] < s.bounds[2]
                    and s.bounds[1] < t.bounds[3]
                    and t.bounds[1] < s.bounds[3]
                ):
                    out.append((s.tile_id, t.tile_id))
    return out


# -- sites ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteSpec:
    """A sampled transmitter on a tile: its cell, position and antenna."""

    kind: str  # "street" or "rooftop"
    row: int
    col: int
    x: float
    y: float
    height_m: float  # antenna height above ground
    roof_m: float  # building height under a rooftop site (0 for street sites)
    antenna: str  # "iso" or "tr38901"
    azimuth_deg: float
    tilt_deg: float
    frequency_mhz: float

    def to_site(self, site_id: str = "tx") -> Site:
        """The :class:`~radiomap_geo.sites.Site` handed to the ray tracer."""
        return Site(
            site_id=site_id,
            x=self.x,
            y=self.y,
            height_m=self.height_m,
            frequency_mhz=self.frequency_mhz,
            antenna=self.antenna,
            azimuth_deg=self.azimuth_deg,
            tilt_deg=self.tilt_deg,
        )


@dataclass(frozen=True)
class SiteSampling:
    """How sites are drawn (heights in metres, angles in degrees)."""

    rooftop_fraction: float = 0.5
    directional_fraction: float = 0.5
    street_height_m: tuple[float, float] = (3.0, 10.0)
    rooftop_above_m: tuple[float, float] = (1.0, 5.0)
    tilt_deg: tuple[float, float] = (0.0, 12.0)
    frequency_mhz: float = 3500.0
    clearance_cells: int = 1
    edge_cells: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _dilate(mask: np.ndarray, cells: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(cells):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        grown[1:, 1:] |= out[:-1, :-1]
        grown[:-1, :-1] |= out[1:, 1:]
        grown[1:, :-1] |= out[:-1, 1:]
        grown[:-1, 1:] |= out[1:, :-1]
        out = grown
    return out


def _pick(rng: np.random.Generator, allowed: np.ndarray) -> tuple[int, int] | None:
    cells = np.flatnonzero(allowed)
    if len(cells) == 0:
        return None
    row, col = divmod(int(cells[rng.integers(0, len(cells))]), allowed.shape[1])
    return row, col


def sample_sites(
    heights: np.ndarray,
    grid: Grid,
    n: int,
    rng: np.random.Generator,
    sampling: SiteSampling | None = None,
) -> list[SiteSpec]:
    """Draw ``n`` transmitters on a tile, at cell centres.

    Street sites stand on cells whose centre is at least ``clearance_cells`` cells from any
    building cell, ``street_height_m`` above ground. Rooftop sites stand on building cells whose
    neighbours (within ``clearance_cells``) are all building, ``rooftop_above_m`` above that roof;
    when a tile has no such roof they become street sites (and vice versa). Each site is
    isotropic or, with ``directional_fraction``, a ``tr38901`` sector of random azimuth and tilt.

    Args:
        heights: Building height raster of the tile (metres, 0 outside buildings).
        grid: The tile's grid.
        n: Number of sites.
        rng: Random generator (seeded by the tile).
        sampling: Parameters (defaults: :class:`SiteSampling`).
    """
    cfg = sampling or SiteSampling()
    building = heights > 0
    inner = np.zeros_like(building)
    e = cfg.edge_cells
    inner[e : heights.shape[0] - e, e : heights.shape[1] - e] = True
    street_ok = inner & ~_dilate(building, cfg.clearance_cells)
    roof_ok = inner & ~_dilate(~building, cfg.clearance_cells)
    if not street_ok.any():
        street_ok = inner & ~building
    out = []
    for _ in range(n):
        kind = "rooftop" if rng.random() < cfg.rooftop_fraction else "street"
        cell = _pick(rng, roof_ok if kind == "rooftop" else street_ok)
        if cell is None:
            kind = "street" if kind == "rooftop" else "rooftop"
            cell = _pick(rng, roof_ok if kind == "rooftop" else street_ok)
        if cell is None:
            raise InputError("no cell on this tile can hold a transmitter")
        row, col = cell
        x, y = grid.xy(row, col)
        if kind == "rooftop":
            roof = float(heights[row, col])
            height = roof + float(rng.uniform(*cfg.rooftop_above_m))
        else:
            roof = 0.0
            height = float(rng.uniform(*cfg.street_height_m))
        if rng.random() < cfg.directional_fraction:
            antenna = "tr38901"
            azimuth = float(rng.uniform(0.0, 360.0))
            tilt = float(rng.uniform(*cfg.tilt_deg))
        else:
            antenna, azimuth, tilt = "iso", 0.0, 0.0
        out.append(
            SiteSpec(
                kind=kind,
                row=int(row),
                col=int(col),
                x=float(x),
                y=float(y),
                height_m=round(height, 2),
                roof_m=roof,
                antenna=antenna,
                azimuth_deg=round(azimuth, 2),
                tilt_deg=round(tilt, 2),
                frequency_mhz=float(cfg.frequency_mhz),
            )
        )
    return out
