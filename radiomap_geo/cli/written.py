"""What a coverage command wrote: the map's path and, with ``--preview``, its PNG quick-look.

Shared by ``predict``, ``predict --measurements``, ``predict-city`` and ``simulate`` (kept apart
from the commands so that they import it without importing each other).
"""

from __future__ import annotations

import click


def write_preview_for(path, inputs, overwrite: bool):
    """Render the PNG quick-look of a written coverage file."""
    import rasterio

    from radiomap_geo.coverage import CoverageResult
    from radiomap_geo.grid import Grid, to_crs

    with rasterio.open(path) as ds:
        grid = Grid(to_crs(ds.crs.to_wkt()), ds.transform, ds.shape)
        band = ds.read(list(ds.descriptions).index("rsrp_dbm") + 1)
        tags = ds.tags()
    model = tags.get("model", "")
    title = None
    if tags.get("measurement_model"):  # predict --measurements: the corrected map
        title = f"RSRP corrected by measurements ({model})"
    result = CoverageResult(grid, {"rsrp_dbm": band}, inputs.sites, model)
    png = path.with_suffix(".png")
    return result.preview(png, overwrite=overwrite, buildings=inputs.buildings, title=title)


def echo_written(path, inputs, opts: dict) -> None:
    """Say what a coverage command wrote: the map and, with --preview, its PNG quick-look."""
    click.echo(f"wrote {path}")
    if opts["preview"]:
        click.echo(f"wrote {write_preview_for(path, inputs, opts['overwrite'])}")
