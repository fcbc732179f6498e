"""``radiomap-geo predict``: coverage from a trained network or a physics baseline."""

from __future__ import annotations

import click

from radiomap_geo.cli.inputs import load_inputs
from radiomap_geo.cli.options import (
    RichProgress,
    area_options,
    friendly_errors,
    input_options,
    model_options,
    output_options,
)


@click.command()
@area_options
@input_options
@output_options
@model_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def predict(**opts) -> None:
    """Predict coverage (RSRP, best server, SINR) over an area and write a COG."""
    from radiomap_geo.io.raster import check_writable
    from radiomap_geo.predict import predict_to_file

    check_writable(opts["output"], opts["overwrite"])
    inputs = load_inputs(**_pick(opts, INPUT_KEYS), quiet=opts["quiet"])
    with RichProgress("predict", enabled=not opts["quiet"]) as progress:
        path = predict_to_file(
            opts["output"],
            inputs.grid,
            inputs.sites,
            inputs.buildings,
            **engine_kwargs(opts),
            progress=progress,
        )
    click.echo(f"wrote {path}")
    if opts["preview"]:
        click.echo(f"wrote {write_preview_for(path, inputs, opts['overwrite'])}")


INPUT_KEYS = (
    "bbox",
    "bbox_crs",
    "crs",
    "resolution",
    "allow_large",
    "tx_file",
    "buildings",
    "height_column",
    "storey_height",
    "default_height",
    "osm_cache_only",
    "osm_cache_dir",
)


def _pick(opts: dict, keys: tuple[str, ...]) -> dict:
    return {k: opts[k] for k in keys}


#: CLI option -> keyword of the prediction engine (``predict_to_file``, ``predict_city``).
ENGINE_KEYS = {
    "model": "model",
    "ndsm": "ndsm",
    "ortho": "ortho",
    "dsm": "dsm",
    "dtm": "dtm",
    "rx_height": "rx_height_m",
    "per_site": "per_site",
    "bandwidth": "bandwidth_mhz",
    "noise_figure": "noise_figure_db",
    "max_range": "max_range_m",
    "tile_size": "tile_size",
    "overwrite": "overwrite",
    "dst_crs": "dst_crs",
}


def engine_kwargs(opts: dict) -> dict:
    """The engine's keyword arguments from the parsed options of ``predict`` / ``predict-city``."""
    return {kwarg: opts[option] for option, kwarg in ENGINE_KEYS.items()}


def write_preview_for(path, inputs, overwrite: bool):
    """Render the PNG quick-look of a written coverage file."""
    import rasterio

    from radiomap_geo.coverage import CoverageResult
    from radiomap_geo.grid import Grid, to_crs

    with rasterio.open(path) as ds:
        grid = Grid(to_crs(ds.crs.to_wkt()), ds.transform, ds.shape)
        band = ds.read(list(ds.descriptions).index("rsrp_dbm") + 1)
        model = ds.tags().get("model", "")
    result = CoverageResult(grid, {"rsrp_dbm": band}, inputs.sites, model)
    return result.preview(path.with_suffix(".png"), overwrite=overwrite, buildings=inputs.buildings)
