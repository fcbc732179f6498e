"""One tile of a dataset build: buildings, sites, one Sionna scene, every site ray-traced, and
the part file written atomically (the worker's job).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from radiomap_geo.dataset import store
from radiomap_geo.dataset.config import BuildConfig
from radiomap_geo.dataset.sampling import (
    TileSpec,
    sample_sites,
)
from radiomap_geo.dataset.sources import open_sources
from radiomap_geo.errors import InputError

log = logging.getLogger(__name__)

# -- one tile ---------------------------------------------------------------------------------

_SOURCES_CACHE: dict[tuple, dict] = {}


def _sources_for(config: BuildConfig) -> dict[str, Any]:
    names = config.source_names()  # a later source mix may name a source the first does not
    key = (tuple(sorted(names)), config.shared_data, config.helsinki)
    if key not in _SOURCES_CACHE:
        _SOURCES_CACHE[key] = open_sources(names, config.shared_data, config.helsinki)[0]
    return _SOURCES_CACHE[key]


def tile_buildings(spec: TileSpec, config: BuildConfig) -> Any:
    """The footprints with ``height_m`` of a tile (tile CRS, cut to the tile + margin)."""
    from radiomap_geo.dataset.procedural import procedural_city
    from radiomap_geo.dataset.sources import Region

    minx, miny, maxx, maxy = spec.bounds
    m = float(config.margin_m)
    area = (minx - m, miny - m, maxx + m, maxy + m)
    if spec.source == "procedural":
        return procedural_city(int(spec.params["city_seed"]), area, crs=spec.crs)
    source = _sources_for(config).get(spec.source)
    if source is None:
        raise InputError(
            f"tile {spec.tile_id} needs source {spec.source!r}, whose files are missing"
        )
    region = Region(
        spec.region,
        spec.source,
        spec.crs,
        tuple(spec.params.get("region_bounds", spec.bounds)),
        spec.params,
    )
    return source.buildings(region, area)


def tile_heights(spec: TileSpec, config: BuildConfig, grid) -> tuple[Any, np.ndarray]:
    """The tile's buildings (heights rounded to the stored decimetres) and their raster."""
    from radiomap_geo.rasterize import rasterize_buildings

    buildings = tile_buildings(spec, config)
    if len(buildings):
        buildings = buildings.assign(height_m=np.round(buildings["height_m"].to_numpy(float), 1))
    return buildings, rasterize_buildings(buildings, grid)


def load_tile_scene(grid, buildings, config: BuildConfig) -> tuple[Any, Any]:
    """The loaded Sionna scene of a tile and a radio-map solver for it."""
    from radiomap_geo.rt.llvm import import_sionna_rt
    from radiomap_geo.rt.scene import build_scene

    rt = import_sionna_rt()
    rts = build_scene(
        grid,
        buildings if len(buildings) else None,
        margin_m=config.margin_m,
        materials=config.materials or None,
        frequency_hz=config.sampling.frequency_mhz * 1e6,
    )
    return rts, rt.RadioMapSolver()


def trace_site(rts, solver, site, config: BuildConfig, seed: int) -> np.ndarray:
    """Path gain (dB, NaN = no ray) of one site with the dataset's ray settings."""
    from radiomap_geo.rt.simulate import gain_to_db, solve_site

    return gain_to_db(solve_site(rts, solver, site, seed=int(seed), **config.ray_settings()))


def tile_members(
    spec: TileSpec,
    grid,
    heights: np.ndarray,
    sites: list,
    codes: list[np.ndarray],
    masks: list[np.ndarray],
    ray_seeds: np.ndarray,
    seconds: list[float],
) -> dict[str, np.ndarray]:
    """Pack one tile and its maps into the shard members (see :mod:`radiomap_geo.dataset.store`)."""
    n = len(sites)
    t = grid.transform
    return {
        "tile_id": np.array([spec.tile_id], np.int32),
        "tile_crs": np.array([spec.crs]),
        "tile_transform": np.array([[t.a, t.b, t.c, t.d, t.e, t.f]], np.float64),
        "height_dm": store.encode_heights(heights)[None],
        "map_tile": np.zeros(n, np.int32),
        "map_site": np.arange(n, dtype=np.int16),
        "gain_q": np.stack(codes),
        "mask_bits": store.pack_mask(np.stack(masks)),
        "site_row": np.array([s.row for s in sites], np.int16),
        "site_col": np.array([s.col for s in sites], np.int16),
        "site_x": np.array([s.x for s in sites], np.float64),
        "site_y": np.array([s.y for s in sites], np.float64),
        "site_height_m": np.array([s.height_m for s in sites], np.float32),
        "site_roof_m": np.array([s.roof_m for s in sites], np.float32),
        "site_kind": np.array([store.SITE_KINDS.index(s.kind) for s in sites], np.uint8),
        "site_antenna": np.array([s.antenna for s in sites]),
        "site_azimuth_deg": np.array([s.azimuth_deg for s in sites], np.float32),
        "site_tilt_deg": np.array([s.tilt_deg for s in sites], np.float32),
        "site_frequency_mhz": np.array([s.frequency_mhz for s in sites], np.float32),
        "ray_seed": np.asarray(ray_seeds).astype(np.uint32),
        "rt_seconds": np.array(seconds, np.float32),
    }


def tile_sites(spec: TileSpec, config: BuildConfig, heights: np.ndarray, grid):
    """The tile's sampled sites and their ray seeds (both deterministic from the tile seed)."""
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 2]))
    sites = sample_sites(heights, grid, config.sites_per_tile, rng, config.sampling)
    ray_seeds = np.random.SeedSequence([spec.seed, 3]).generate_state(len(sites)) & 0x7FFFFFFF
    return sites, ray_seeds


def compute_tile(
    spec: TileSpec, config: BuildConfig
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Ray-trace every site of one tile: the part-file members and the tile's manifest record."""
    t0 = time.perf_counter()
    grid = spec.grid(config.resolution_m)
    buildings, heights = tile_heights(spec, config, grid)
    sites, ray_seeds = tile_sites(spec, config, heights, grid)
    rts, solver = load_tile_scene(grid, buildings, config)
    outside = heights <= 0
    t1 = time.perf_counter()
    codes, masks, seconds, low, high = [], [], [], 0, 0
    for k, site in enumerate(sites):
        start = time.perf_counter()
        gain_db = trace_site(rts, solver, site.to_site(f"site{k}"), config, ray_seeds[k])
        seconds.append(time.perf_counter() - start)
        valid = np.isfinite(gain_db) & outside
        lo, hi = store.clipped_counts(gain_db, valid)
        low, high = low + lo, high + hi
        codes.append(store.encode_gain(gain_db, valid))
        masks.append(valid)
    members = tile_members(spec, grid, heights, sites, codes, masks, ray_seeds, seconds)
    valid_fraction = [float(m.mean()) for m in masks]
    record = {
        **spec.to_dict(),
        "n_maps": len(sites),
        "n_buildings": int(len(buildings)),
        "scene_buildings": len(rts.footprints),
        "building_cover": round(float((heights > 0).mean()), 4),
        "valid_fraction": [round(v, 4) for v in valid_fraction],
        "clipped_cells": {"below": low, "above": high},
        "site_kinds": [s.kind for s in sites],
        "scene_seconds": round(t1 - t0, 3),
        "rt_seconds": [round(s, 3) for s in seconds],
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if spec.source == "procedural":
        record["params"] = {**record["params"], "style": buildings.attrs.get("style")}
    return members, record


def part_path(out_dir: Path, tile_id: int) -> Path:
    """Where a finished, unpacked tile is written."""
    return Path(out_dir) / store.PART_DIR / f"tile-{tile_id:06d}.npz"


def run_tile(spec_data: dict, config_data: dict, out_dir: str) -> dict[str, Any]:
    """Compute one tile and write its part file atomically (the worker's job); return its record."""
    spec = TileSpec.from_dict(spec_data)
    config = BuildConfig.from_dict(config_data)
    members, record = compute_tile(spec, config)
    path = part_path(Path(out_dir), spec.tile_id)
    record["file"] = path.relative_to(out_dir).as_posix()
    members["record_json"] = np.array(json.dumps(record))
    record["bytes"] = store.write_npz(path, members)
    return record


def same_spec(a: TileSpec, b: TileSpec) -> bool:
    """Whether two work units describe the same tile (ignoring recorded extras)."""
    keys = ("tile_id", "source", "region", "split", "seed", "crs")
    return all(getattr(a, k) == getattr(b, k) for k in keys) and np.allclose(
        a.bounds, b.bounds, rtol=0, atol=1e-6
    )


def _worker_init(threads: int) -> None:
    from radiomap_geo.rt.llvm import import_sionna_rt

    import_sionna_rt()
    import drjit as dr

    if threads > 0:
        dr.set_thread_count(threads)


def backend_versions() -> dict[str, str]:
    """Sionna RT, Mitsuba and Dr.Jit versions and the variant in use."""
    from radiomap_geo.rt.llvm import backend_info

    info = backend_info()
    info.pop("libllvm", None)
    return info
