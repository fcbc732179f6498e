"""``radiomap-geo predict-city``: ``predict`` for a whole city, as Dask tasks, resumable."""

from __future__ import annotations

import sys
from pathlib import Path

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
from radiomap_geo.cli.predict import INPUT_KEYS, _pick, engine_kwargs, write_preview_for
from radiomap_geo.errors import Cancelled


def _scheduler(ctx, param, value: str) -> str:
    if value in ("threads", "processes") or "://" in value:
        return value
    raise click.BadParameter("use threads, processes or a scheduler address (tcp://host:8786)")


@click.command("predict-city")
@area_options
@input_options
@output_options
@model_options
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for finished tiles; rerun with it to resume [default: OUTPUT.work, "
    "removed after success].",
)
@click.option(
    "--scheduler",
    default="threads",
    show_default=True,
    callback=_scheduler,
    help="threads, processes, or a dask.distributed scheduler address (tcp://host:8786).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Threads or processes of a local scheduler [default: the CPU count].",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def predict_city(**opts) -> None:
    """Predict coverage over a large area tile by tile on Dask, resumably, into one COG.

    Each tile is a task whose result is kept in the work directory: an interrupted run
    continues where it stopped when rerun with the same options.
    """
    from radiomap_geo.citywide import predict_city as run
    from radiomap_geo.citywide import require_dask
    from radiomap_geo.io.raster import check_writable

    require_dask()
    check_writable(opts["output"], opts["overwrite"])
    inputs = load_inputs(**_pick(opts, INPUT_KEYS), quiet=opts["quiet"])
    work_dir = opts["work_dir"] or Path(f"{opts['output']}.work")
    try:
        with RichProgress("tiles", enabled=not opts["quiet"]) as progress:
            path = run(
                opts["output"],
                inputs.grid,
                inputs.sites,
                inputs.buildings,
                **engine_kwargs(opts),
                work_dir=opts["work_dir"],
                scheduler=opts["scheduler"],
                workers=opts["workers"],
                progress=progress,
            )
    except (Cancelled, KeyboardInterrupt):
        click.echo(f"interrupted: finished tiles are kept in {work_dir}; rerun to resume", err=True)
        sys.exit(130)
    click.echo(f"wrote {path}")
    if opts["preview"]:
        click.echo(f"wrote {write_preview_for(path, inputs, opts['overwrite'])}")
