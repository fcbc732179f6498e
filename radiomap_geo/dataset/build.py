"""The resumable, parallel builder of ray-traced training data: the public entry points.

Work units are tiles (:class:`~radiomap_geo.dataset.sampling.TileSpec`) with deterministic
seeds. For each tile a worker builds the buildings (procedural or real), rasterises them, samples
``sites_per_tile`` transmitters, loads one Sionna scene and ray-traces every site in it, then
writes ``parts/tile-NNNNNN.npz`` atomically. The main process records each finished tile in
``manifest.json`` (atomically, after every tile) and packs finished parts of one split into
``shards/<split>-NNNNN.npz``. A rerun plans the same tiles, skips the finished ones, adopts parts
written after the last manifest update, and carries on; asking for more tiles appends units.

The work is split by job; this module re-exports each for callers that import it from here:
:mod:`.config` (settings), :mod:`.tracing` (one tile), :mod:`.manifest` (the record and the
shards) and :mod:`.runner` (:func:`build_dataset`).
"""

from __future__ import annotations

from radiomap_geo.dataset.config import (
    COMPATIBLE_KEYS,
    DEFAULT_WEIGHTS,
    BuildConfig,
    parse_sources,
    with_tiles,
)
from radiomap_geo.dataset.manifest import new_manifest, summarize
from radiomap_geo.dataset.runner import build_dataset
from radiomap_geo.dataset.tracing import (
    _sources_for,
    backend_versions,
    compute_tile,
    load_tile_scene,
    part_path,
    run_tile,
    same_spec,
    tile_buildings,
    tile_heights,
    tile_members,
    tile_sites,
    trace_site,
)
from radiomap_geo.progress import Monitor

__all__ = [
    "COMPATIBLE_KEYS",
    "DEFAULT_WEIGHTS",
    "BuildConfig",
    "Monitor",
    "_sources_for",
    "backend_versions",
    "build_dataset",
    "compute_tile",
    "load_tile_scene",
    "new_manifest",
    "parse_sources",
    "part_path",
    "run_tile",
    "same_spec",
    "summarize",
    "tile_buildings",
    "tile_heights",
    "tile_members",
    "tile_sites",
    "trace_site",
    "with_tiles",
]
