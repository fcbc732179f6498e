"""The shared command-line inputs (area, sites, buildings) handed to the core's one set-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from radiomap_geo.cli.options import INPUT_KEYS
from radiomap_geo.inputs import Inputs, OsmDownload, load_sites, make_grid, prepare_inputs
from radiomap_geo.options import RunOptions

__all__ = ["Inputs", "inputs_from", "load_inputs"]


def load_inputs(
    *,
    bbox: str,
    bbox_crs: str,
    crs: str | None,
    resolution: float,
    allow_large: bool,
    tx_file: Path | None,
    buildings: Path | None,
    height_column: str | None,
    storey_height: float,
    default_height: float,
    osm_cache_only: bool,
    osm_cache_dir: Path | None,
    strict: bool = False,
    open_ground: bool = False,
    quiet: bool = False,
    margin_m: float = 0.0,
    download: bool = True,
) -> Inputs:
    """Build the grid, read the sites and load the buildings (file or OSM download).

    ``margin_m`` keeps buildings that far beyond the grid (reflectors for the ray tracer);
    ``download=False`` leaves the buildings None when no file is given (RadioCycle infers them);
    ``open_ground`` says there are none (the core's ``buildings=None``: no download);
    ``tx_file`` None leaves the sites None (transmitters unknown: maps from measurements alone).
    """
    settings = RunOptions(
        storey_height_m=storey_height, default_height_m=default_height, strict=strict
    )
    grid = make_grid(bbox, resolution, bbox_crs=bbox_crs, crs=crs, allow_large=allow_large)
    if not quiet:
        click.echo(f"grid: {grid}", err=True)
    if buildings is None and not download and not open_ground:
        return Inputs(grid, None if tx_file is None else load_sites(tx_file, grid), None)
    inputs = prepare_inputs(
        grid,
        tx_file,
        buildings,
        options=settings,
        height_column=height_column,
        osm=OsmDownload(cache_dir=osm_cache_dir, cache_only=osm_cache_only),
        margin_m=margin_m,
        open_ground=open_ground,
    )
    if not quiet:
        sites = "no sites" if inputs.sites is None else f"{len(inputs.sites)} sites"
        found = "open ground: no buildings" if open_ground else f"{len(inputs.buildings)} buildings"
        click.echo(f"{sites}, {found}", err=True)
    return inputs


def inputs_from(opts: dict, **extra: Any) -> Inputs:
    """:func:`load_inputs` from a command's parsed options (``area_options``, ``input_options``
    and ``--quiet``); ``extra``: further keywords such as ``margin_m``.
    """
    return load_inputs(**{key: opts[key] for key in INPUT_KEYS}, quiet=opts["quiet"], **extra)


def scene(inputs: Inputs) -> tuple:
    """``(grid, sites, buildings)``: the positional arguments every coverage engine starts with."""
    return inputs.grid, inputs.sites, inputs.buildings
