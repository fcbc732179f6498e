"""Options shared by several commands, and the glue from click to the core."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

import click

from radiomap_geo.errors import Cancelled, RadiomapError


def area_options(command: Callable) -> Callable:
    """--bbox, --bbox-crs, --crs, --resolution, --allow-large."""
    options = [
        click.option(
            "--bbox",
            required=True,
            help="Area as minx,miny,maxx,maxy (west,south,east,north) in --bbox-crs.",
        ),
        click.option(
            "--bbox-crs", default="EPSG:4326", show_default=True, help="CRS of the --bbox numbers."
        ),
        click.option(
            "--crs",
            default=None,
            help="Metric working CRS of the output grid [default: local UTM].",
        ),
        click.option(
            "--resolution", type=float, default=2.0, show_default=True, help="Cell size in metres."
        ),
        click.option(
            "--allow-large", is_flag=True, help="Go ahead even if the grid is unusually large."
        ),
    ]
    return _apply(command, options)


def input_options(command: Callable) -> Callable:
    """--tx-file and the buildings options."""
    options = [
        click.option(
            "--tx-file",
            "--sites",
            "tx_file",
            required=True,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Transmitter sites (GeoPackage, GeoJSON, Shapefile or CSV with lon,lat).",
        ),
        click.option(
            "--buildings",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Footprints (.osm, .osm.pbf, .gpkg, .geojson, .shp) [default: download from OSM].",
        ),
        click.option("--height-column", default=None, help="Footprint column holding heights (m)."),
        click.option(
            "--storey-height",
            type=float,
            default=3.0,
            show_default=True,
            help="Metres per storey when only building:levels is known.",
        ),
        click.option(
            "--default-height",
            type=float,
            default=10.0,
            show_default=True,
            help="Height (m) of buildings with no height information.",
        ),
        click.option("--osm-cache-only", is_flag=True, help="Use cached OSM downloads only."),
        click.option(
            "--osm-cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Folder for cached OSM responses [default: ~/.cache/radiomap-geo/osm].",
        ),
    ]
    return _apply(command, options)


def output_options(command: Callable) -> Callable:
    """-o/--output, --dst-crs, --per-site, --overwrite, --preview and receiver settings."""
    options = [
        click.option(
            "-o",
            "--output",
            required=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="Output GeoTIFF (Cloud-Optimised).",
        ),
        click.option("--dst-crs", default=None, help="Reproject the output into this CRS."),
        click.option(
            "--per-site", is_flag=True, help="Add one path_gain_db:<site_id> band per site."
        ),
        click.option("--overwrite", is_flag=True, help="Replace an existing output file."),
        click.option(
            "--preview", is_flag=True, help="Also write a PNG quick-look beside the output."
        ),
        click.option(
            "--rx-height",
            type=float,
            default=1.5,
            show_default=True,
            help="Receiver height above ground (m).",
        ),
        click.option(
            "--bandwidth",
            type=float,
            default=20.0,
            show_default=True,
            help="Receiver bandwidth (MHz) for SINR noise.",
        ),
        click.option(
            "--noise-figure",
            type=float,
            default=7.0,
            show_default=True,
            help="Receiver noise figure (dB).",
        ),
    ]
    return _apply(command, options)


def model_options(command: Callable) -> Callable:
    """--model, the raster inputs (--ndsm, --dsm, --dtm, --ortho), --max-range, --tile-size."""
    options = [
        click.option("--model", default=None, help="Model name (see 'radiomap-geo models')."),
        click.option(
            "--ndsm",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="Normalised surface model raster (any CRS).",
        ),
        click.option(
            "--dsm",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="Surface model; with --dtm it stands in for --ndsm (nDSM = DSM - DTM).",
        ),
        click.option(
            "--dtm",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="Terrain model paired with --dsm.",
        ),
        click.option(
            "--ortho",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="Orthophoto raster, RGB or RGB+IR (any CRS).",
        ),
        click.option(
            "--max-range",
            type=float,
            default=None,
            help="Metres from a site beyond which it is ignored [default: the model's reach].",
        ),
        click.option(
            "--tile-size",
            type=int,
            default=512,
            show_default=True,
            help="Tile edge in cells (memory per tile).",
        ),
    ]
    return _apply(command, options)


def _apply(command: Callable, options: list[Callable]) -> Callable:
    for option in reversed(options):
        command = option(command)
    return command


def friendly_errors(command: Callable) -> Callable:
    """Turn library errors into one-line messages and Ctrl-C into a clean exit."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (Cancelled, KeyboardInterrupt):
            click.echo("interrupted: nothing was written", err=True)
            sys.exit(130)
        except RadiomapError as err:
            raise click.ClickException(str(err)) from err

    return wrapper


class RichProgress:
    """A rich progress bar behind the core's ``progress(done, total, message)`` callable."""

    def __init__(self, description: str, enabled: bool = True) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            disable=not enabled,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=None, note="")

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def __call__(self, done: int, total: int, message: str) -> None:
        """Move the bar to ``done`` of ``total``."""
        self._progress.update(self._task, completed=done, total=total, note=message)
