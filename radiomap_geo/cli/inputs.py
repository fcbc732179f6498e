"""Turning the shared command-line options into the core's grid, sites and buildings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from radiomap_geo.grid import DEFAULT_MAX_CELLS, BBox, Grid
from radiomap_geo.sites import Sites


@dataclass(frozen=True)
class Inputs:
    """The grid, sites and buildings every coverage command works on."""

    grid: Grid
    sites: Sites
    buildings: object


def load_inputs(
    *,
    bbox: str,
    bbox_crs: str,
    crs: str | None,
    resolution: float,
    allow_large: bool,
    tx_file: Path,
    buildings: Path | None,
    height_column: str | None,
    storey_height: float,
    default_height: float,
    osm_cache_only: bool,
    osm_cache_dir: Path | None,
    quiet: bool = False,
    margin_m: float = 0.0,
) -> Inputs:
    """Build the grid, read the sites and load the buildings (file or OSM download).

    ``margin_m`` keeps buildings that far beyond the grid (reflectors for the ray tracer).
    """
    from radiomap_geo.api import load_buildings, read_sites

    grid = Grid.from_bbox(
        BBox.parse(bbox, crs=bbox_crs),
        resolution,
        crs=crs,
        max_cells=None if allow_large else DEFAULT_MAX_CELLS,
    )
    if not quiet:
        click.echo(f"grid: {grid}", err=True)
    sites = read_sites(tx_file, crs=grid.crs)
    sites.require_inside(grid)
    footprints = load_buildings(
        grid,
        buildings,
        cache_dir=osm_cache_dir,
        cache_only=osm_cache_only,
        margin_m=margin_m,
        height_column=height_column,
        storey_height_m=storey_height,
        default_height_m=default_height,
    )
    if not quiet:
        click.echo(f"{len(sites)} sites, {len(footprints)} buildings", err=True)
    return Inputs(grid, sites, footprints)
