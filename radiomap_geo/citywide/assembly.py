"""Assembling the finished tiles into the output COG (atomically, like the in-memory runner)."""

from __future__ import annotations

import logging
from pathlib import Path

from radiomap_geo.citywide.tasks import TileJob
from radiomap_geo.citywide.workdir import load_tile
from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid

log = logging.getLogger(__name__)


def _assemble(
    path: Path,
    grid: Grid,
    jobs: list[TileJob],
    names: list[str],
    tags: dict[str, str],
    overwrite: bool,
    dst_crs,
) -> None:
    """Write the tile files into the output COG, in the order the in-memory runner does.

    A tile file damaged after it was checked (another process, a failing disk) is named,
    recomputed here and used; the run does not stop on it.
    """
    from radiomap_geo.io.raster import TiledBandWriter

    with TiledBandWriter(path, grid, names, tags, overwrite, dst_crs) as writer:
        for job in jobs:
            try:
                bands = load_tile(job.target)
            except InputError as exc:
                log.warning("%s: recomputing the tile", exc)
                job()
                bands = load_tile(job.target)
            writer.write_tile(job.plan.tile, bands)
