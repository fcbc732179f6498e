"""``radiomap-geo predict``: coverage from a trained network or a physics baseline."""

from __future__ import annotations

import click

from radiomap_geo.cli.inputs import load_inputs
from radiomap_geo.cli.options import (
    INPUT_KEYS,
    RichProgress,
    area_options,
    check_outputs,
    friendly_errors,
    input_options,
    model_options,
    output_options,
    run_options_from,
)
from radiomap_geo.cli.sparse import optional_measurement_options, run_predict_measurements


@click.command()
@area_options
@input_options
@output_options
@model_options
@optional_measurement_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def predict(**opts) -> None:
    """Predict coverage (RSRP, total received power, best server, SINR) and write a COG."""
    if opts["measurements"] is not None:  # corrected by measurements (radiomap_geo.sparse)
        return run_predict_measurements(opts)
    from radiomap_geo.predict import predict_to_file

    check_outputs(opts)
    engine = engine_kwargs(opts)
    inputs = load_inputs(**_pick(opts, INPUT_KEYS), quiet=opts["quiet"])
    with RichProgress("predict", enabled=not opts["quiet"]) as progress:
        path = predict_to_file(
            opts["output"], inputs.grid, inputs.sites, inputs.buildings, **engine, progress=progress
        )
    click.echo(f"wrote {path}")
    if opts["preview"]:
        click.echo(f"wrote {write_preview_for(path, inputs, opts['overwrite'])}")


def _pick(opts: dict, keys: tuple[str, ...]) -> dict:
    return {k: opts[k] for k in keys}


#: CLI options that are engine keywords of their own (not RunOptions fields).
ENGINE_KEYS = ("model", "ndsm", "ortho", "dsm", "dtm", "overwrite", "dst_crs")
#: RunOptions fields that only the input set-up reads (building heights).
INPUT_SETTINGS = ("default_height_m", "storey_height_m", "strict")


def engine_kwargs(opts: dict) -> dict:
    """The engine's keyword arguments from the parsed options of ``predict`` / ``predict-city``.

    The run settings are validated once, by :class:`~radiomap_geo.options.RunOptions`, before
    any input is read or any output is made.
    """
    settings = run_options_from(opts).to_dict()
    for name in INPUT_SETTINGS:
        settings.pop(name)
    return {**{key: opts[key] for key in ENGINE_KEYS}, **settings}


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
