"""``radiomap-geo predict-city``: ``predict`` for a whole city, as Dask tasks, resumable."""

from __future__ import annotations

from pathlib import Path

import click

from radiomap_geo.cli.inputs import inputs_from, scene
from radiomap_geo.cli.options import FOLDER, map_options, optional
from radiomap_geo.cli.predict import engine_kwargs
from radiomap_geo.cli.running import RichProgress, friendly_errors, on_interrupt, quiet_option
from radiomap_geo.cli.written import echo_written


def _scheduler(ctx, param, value: str) -> str:
    if value in ("threads", "processes") or "://" in value:
        return value
    raise click.BadParameter("use threads, processes or a scheduler address (tcp://host:8786)")


@click.command("predict-city")
@map_options
@optional(
    "--work-dir",
    FOLDER,
    "Folder for finished tiles; rerun with it to resume [default: OUTPUT.work, removed after "
    "success].",
)
@click.option(
    "--scheduler",
    default="threads",
    show_default=True,
    callback=_scheduler,
    help="threads, processes, or a dask.distributed scheduler address (tcp://host:8786).",
)
@optional(
    "--workers",
    click.IntRange(min=1),
    "Threads or processes of a local scheduler [default: the CPU count].",
)
@quiet_option
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
    inputs = inputs_from(opts)
    work_dir = opts["work_dir"] or Path(f"{opts['output']}.work")
    on_interrupt(f"finished tiles are kept in {work_dir}; rerun to resume")
    with RichProgress("tiles", enabled=not opts["quiet"]) as progress:
        path = run(
            opts["output"],
            *scene(inputs),
            **engine_kwargs(opts),
            work_dir=opts["work_dir"],
            scheduler=opts["scheduler"],
            workers=opts["workers"],
            progress=progress,
        )
    echo_written(path, inputs, opts)
