"""The resumable, parallel builder of ray-traced training data.

Work units are tiles (:class:`~radiomap_geo.dataset.sampling.TileSpec`) with deterministic
seeds. For each tile a worker builds the buildings (procedural or real), rasterises them, samples
``sites_per_tile`` transmitters, loads one Sionna scene and ray-traces every site in it, then
writes ``parts/tile-NNNNNN.npz`` atomically. The main process records each finished tile in
``manifest.json`` (atomically, after every tile) and packs finished parts of one split into
``shards/<split>-NNNNN.npz``. A rerun plans the same tiles, skips the finished ones, adopts parts
written after the last manifest update, and carries on; asking for more tiles appends units.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import math
import multiprocessing
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from radiomap_geo import __version__
from radiomap_geo.dataset import store
from radiomap_geo.dataset.sampling import (
    SiteSampling,
    TileSpec,
    overlapping_pairs,
    plan_tiles,
    sample_sites,
)
from radiomap_geo.dataset.sources import SOURCE_NAMES, open_sources
from radiomap_geo.errors import Cancelled, InputError
from radiomap_geo.progress import CancelFn, Monitor, ProgressFn, as_monitor

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


# -- one tile ---------------------------------------------------------------------------------

_SOURCES_CACHE: dict[tuple, dict] = {}


def _sources_for(config: BuildConfig) -> dict[str, Any]:
    key = (tuple(sorted(config.sources)), config.shared_data, config.helsinki)
    if key not in _SOURCES_CACHE:
        _SOURCES_CACHE[key] = open_sources(
            list(config.sources), config.shared_data, config.helsinki
        )[0]
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

    gain = solve_site(
        rts,
        solver,
        site,
        rx_height_m=config.rx_height_m,
        samples_per_tx=config.samples_per_tx,
        max_depth=config.max_depth,
        diffraction=config.diffraction,
        refraction=config.refraction,
        seed=int(seed),
    )
    return gain_to_db(gain)


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


# -- the manifest -----------------------------------------------------------------------------


def backend_versions() -> dict[str, str]:
    """Sionna RT, Mitsuba and Dr.Jit versions and the variant in use."""
    from radiomap_geo.rt.llvm import backend_info

    info = backend_info()
    info.pop("libllvm", None)
    return info


def new_manifest(config: BuildConfig, sources: dict[str, Any], skipped: dict[str, str]) -> dict:
    """A fresh manifest for ``config``."""
    return {
        "format": store.FORMAT,
        "format_version": store.FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "radiomap_geo_version": __version__,
        "backend": backend_versions(),
        "config": _compat(config),
        "n_tiles_requested": config.n_tiles,
        "sources": {
            k: (s.describe() if s is not None else {"generator": "radiomap_geo.dataset.procedural"})
            for k, s in sources.items()
        },
        "skipped_sources": skipped,
        "encoding": {
            "gain": store.GAIN_ENCODING,
            "height": store.HEIGHT_ENCODING,
            "mask": store.MASK_ENCODING,
            "site_kind": list(store.SITE_KINDS),
            "quantity": (
                "path gain (dB) from the antenna input to an isotropic receiver at rx_height_m, "
                "transmit antenna pattern included (Sionna RT RadioMapSolver path_gain)"
            ),
        },
        "split_rule": (
            "per region: procedural city -> train/val (10 % val by hash); RadioMapSeer map and "
            "Helsinki sub-area -> 15 % test, 10 % val by salted hash order; Delft -> test"
        ),
        "regions": {},
        "tiles": {},
        "shards": {},
        "runs": [],
    }


def _compat(config: BuildConfig) -> dict[str, Any]:
    data = config.to_dict()
    return {k: data[k] for k in COMPATIBLE_KEYS}


def _check_compatible(manifest: dict, config: BuildConfig, folder: Path) -> None:
    old, new = manifest["config"], json.loads(json.dumps(_compat(config)))
    diff = [k for k in COMPATIBLE_KEYS if old.get(k) != new.get(k)]
    if diff:
        details = "; ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in diff)
        raise InputError(
            f"{folder} holds a dataset built with other settings ({details}): build into a new "
            "folder, or rerun with the same settings to resume or add tiles"
        )


def _adopt_parts(folder: Path, manifest: dict, planned: dict[int, TileSpec]) -> int:
    """Record part files written after the last manifest update; drop stale ones."""
    adopted = 0
    for path in sorted((folder / store.PART_DIR).glob("tile-*.npz")):
        try:
            with np.load(path, allow_pickle=False) as data:
                record = json.loads(str(data["record_json"]))
        except Exception as exc:  # a torn file cannot exist (atomic writes), but be safe
            log.warning("removing unreadable part %s: %s", path, exc)
            path.unlink()
            continue
        tid = int(record["tile_id"])
        key = str(tid)
        if key in manifest["tiles"]:
            if manifest["tiles"][key]["file"] != record["file"]:
                path.unlink()  # already packed into a shard
            continue
        spec = planned.get(tid)
        if spec is None or not same_spec(spec, TileSpec.from_dict(record)):
            log.warning("removing part %s: it does not match the planned tile", path)
            path.unlink()
            continue
        record["bytes"] = path.stat().st_size
        manifest["tiles"][key] = record
        adopted += 1
    for tmp in list(folder.glob(f"{store.PART_DIR}/.*.tmp")) + list(
        folder.glob(f"{store.SHARD_DIR}/.*.tmp")
    ):
        tmp.unlink()
    return adopted


def _pack(folder: Path, manifest: dict, split: str, records: list[dict]) -> str:
    """Pack finished part files of one split into the next shard; update the manifest."""
    index = sum(1 for s in manifest["shards"].values() if s["split"] == split)
    name = f"{store.SHARD_DIR}/{split}-{index:05d}.npz"
    parts = []
    for record in records:
        members = store.read_npz(folder / record["file"])
        members.pop("record_json", None)
        parts.append(members)
    joined = store.concat_members(parts)
    size = store.write_npz(folder / name, joined)
    old_files = [record["file"] for record in records]
    for record in records:
        manifest["tiles"][str(record["tile_id"])]["file"] = name
    manifest["shards"][name] = {
        "split": split,
        "tiles": [int(r["tile_id"]) for r in records],
        "maps": int(len(joined["map_tile"])),
        "bytes": size,
    }
    store.write_json(folder / store.MANIFEST, manifest)
    for old in old_files:
        (folder / old).unlink(missing_ok=True)
    return name


def _pack_ready(folder: Path, manifest: dict, per_shard: int, final: bool) -> list[str]:
    pending: dict[str, list[dict]] = {}
    for record in manifest["tiles"].values():
        if record["file"].startswith(store.PART_DIR + "/"):
            pending.setdefault(record["split"], []).append(record)
    made = []
    for split, records in sorted(pending.items()):
        records.sort(key=lambda r: int(r["tile_id"]))
        while len(records) >= per_shard or (final and records):
            made.append(_pack(folder, manifest, split, records[:per_shard]))
            records = records[per_shard:]
    return made


def summarize(manifest: dict) -> dict[str, Any]:
    """Counts per split and source, bytes, and timing of a manifest."""
    splits: dict[str, dict[str, int]] = {}
    sources: dict[str, int] = {}
    rt_seconds, total_bytes = [], 0
    for record in manifest["tiles"].values():
        s = splits.setdefault(record["split"], {"tiles": 0, "maps": 0})
        s["tiles"] += 1
        s["maps"] += int(record["n_maps"])
        sources[record["source"]] = sources.get(record["source"], 0) + int(record["n_maps"])
        rt_seconds.extend(record.get("rt_seconds", []))
    files = {r["file"] for r in manifest["tiles"].values()}
    for name in files:
        if name in manifest["shards"]:
            total_bytes += int(manifest["shards"][name]["bytes"])
        else:
            total_bytes += int(
                next(r.get("bytes", 0) for r in manifest["tiles"].values() if r["file"] == name)
            )
    maps = sum(s["maps"] for s in splits.values())
    return {
        "tiles": sum(s["tiles"] for s in splits.values()),
        "maps": maps,
        "splits": splits,
        "maps_per_source": sources,
        "bytes": total_bytes,
        "mb_per_1000_maps": round(total_bytes / 1e6 / maps * 1000, 2) if maps else None,
        "mean_rt_seconds_per_map": round(float(np.mean(rt_seconds)), 3) if rt_seconds else None,
    }


# -- the build --------------------------------------------------------------------------------


def build_dataset(
    out_dir: str | os.PathLike,
    config: BuildConfig,
    *,
    workers: int = 1,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> dict[str, Any]:
    """Build (or resume, or extend) a dataset in ``out_dir``.

    Args:
        out_dir: Dataset folder (created if missing).
        config: Build settings; a folder built with other settings is refused.
        workers: Processes ray-tracing in parallel (each with ``cpu_count // workers`` threads).
        progress: ``progress(done, total, message)`` callback (tiles).
        is_cancelled: ``is_cancelled()`` callback, polled between tiles.

    Returns:
        A summary: tiles and maps done in total and in this run, maps per hour of this run,
        counts per split, bytes on disk.

    Raises:
        InputError: bad settings, incompatible folder, no source available.
        DependencyError: Sionna RT or libLLVM 19 missing.
        Cancelled: the caller asked to stop (finished tiles are kept; rerun to resume).
    """
    config.validate()
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    monitor = as_monitor(progress, is_cancelled)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    sources, skipped = open_sources(list(config.sources), config.shared_data, config.helsinki)
    for name, why in skipped.items():
        log.warning("dataset source %s skipped: %s", name, why)
    if not sources:
        raise InputError(f"none of the sources {list(config.sources)} is available: {skipped}")
    weights = {k: config.sources[k] for k in sources}
    monitor.step(0, config.n_tiles, "planning tiles")
    specs = plan_tiles(
        config.n_tiles,
        sources,
        weights,
        size=config.size,
        resolution=config.resolution_m,
        seed=config.seed,
        region_factor=config.region_factor,
    )
    overlaps = overlapping_pairs(specs, "test", "train") + overlapping_pairs(specs, "val", "train")
    if overlaps:  # cannot happen by construction; refuse rather than leak
        raise RuntimeError(f"split leak: tiles {overlaps[:5]} overlap across splits")
    planned = {s.tile_id: s for s in specs}

    manifest_path = folder / store.MANIFEST
    if manifest_path.exists():
        manifest = store.read_manifest(folder)
        _check_compatible(manifest, config, folder)
        for key, record in manifest["tiles"].items():
            spec = planned.get(int(key))
            if spec is not None and not same_spec(spec, TileSpec.from_dict(record)):
                raise InputError(
                    f"tile {key} in {folder} was planned differently (its source files or the set "
                    f"of available sources changed: skipped now {sorted(skipped)}); build into a "
                    "new folder"
                )
        manifest["n_tiles_requested"] = max(
            config.n_tiles, int(manifest.get("n_tiles_requested", 0))
        )
    else:
        manifest = new_manifest(config, sources, skipped)
    adopted = _adopt_parts(folder, manifest, planned)
    for spec in specs:
        manifest["regions"].setdefault(spec.region, spec.split)
    store.write_json(manifest_path, manifest)
    _pack_ready(folder, manifest, config.tiles_per_shard, final=False)

    todo = [s for s in specs if str(s.tile_id) not in manifest["tiles"]]
    total = len(specs)
    done = total - len(todo)
    run = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "workers": workers,
        "backend": backend_versions() if todo else manifest["backend"],
        "tiles_before": done - adopted,
        "tiles_adopted": adopted,
    }
    monitor.step(done, total, f"{done} of {total} tiles done; {len(todo)} to go")
    started = time.perf_counter()
    new_maps = 0

    def finish(record: dict) -> None:
        nonlocal done, new_maps
        manifest["tiles"][str(record["tile_id"])] = record
        store.write_json(manifest_path, manifest)
        _pack_ready(folder, manifest, config.tiles_per_shard, final=False)
        done += 1
        new_maps += int(record["n_maps"])
        hours = (time.perf_counter() - started) / 3600.0
        rate = f", {new_maps / hours:.0f} maps/h" if hours > 0 else ""
        monitor.step(done, total, f"tile {record['tile_id']} ({record['source']}){rate}")

    config_data = config.to_dict()
    failed: dict[int, str] = {}

    def settle(tile_id: int, compute) -> None:
        # One bad tile must not end an unattended run of hours: log it, carry on, and leave it
        # unfinished so the next run of the same command retries it.
        try:
            record = compute()
        except (Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:
            log.exception("tile %d failed; it will be retried by the next run", tile_id)
            failed[tile_id] = f"{type(exc).__name__}: {exc}"
            return
        finish(record)

    try:
        if workers == 1 or len(todo) <= 1:
            for spec in todo:
                monitor.check()
                settle(spec.tile_id, lambda s=spec: run_tile(s.to_dict(), config_data, str(folder)))
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=_worker_init, initargs=(threads,)
            ) as pool:
                queue = list(reversed(todo))
                running: set[cf.Future] = set()
                try:
                    while queue or running:
                        while queue and len(running) < 2 * workers:
                            monitor.check()
                            spec = queue.pop()
                            future = pool.submit(run_tile, spec.to_dict(), config_data, str(folder))
                            future.tile_id = spec.tile_id
                            running.add(future)
                        finished, running = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                        for future in finished:
                            settle(future.tile_id, future.result)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
        _pack_ready(folder, manifest, config.tiles_per_shard, final=True)
    except (Cancelled, KeyboardInterrupt):
        _record_run(manifest, run, started, new_maps, manifest_path, "cancelled")
        raise
    if failed:
        run["failed_tiles"] = {str(k): v for k, v in failed.items()}
    _record_run(
        manifest, run, started, new_maps, manifest_path, "incomplete" if failed else "complete"
    )
    summary = summarize(manifest)
    summary.update(
        {
            "new_maps": new_maps,
            "seconds": round(time.perf_counter() - started, 1),
            "maps_per_hour": run.get("maps_per_hour"),
            "skipped_sources": skipped,
            "failed_tiles": failed,
        }
    )
    return summary


def _record_run(
    manifest: dict, run: dict, started: float, new_maps: int, path: Path, status: str
) -> None:
    seconds = time.perf_counter() - started
    run.update(
        {
            "status": status,
            "seconds": round(seconds, 1),
            "new_maps": new_maps,
            "maps_per_hour": round(new_maps / seconds * 3600.0, 1)
            if new_maps and seconds > 0
            else None,
        }
    )
    if new_maps or run["tiles_adopted"]:
        manifest["runs"].append(run)
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    store.write_json(path, manifest)


def with_tiles(config: BuildConfig, n_tiles: int) -> BuildConfig:
    """The same settings with another tile count."""
    return replace(config, n_tiles=int(n_tiles))


__all__ = [
    "DEFAULT_WEIGHTS",
    "BuildConfig",
    "Monitor",
    "build_dataset",
    "compute_tile",
    "parse_sources",
    "run_tile",
    "summarize",
    "tile_buildings",
]
