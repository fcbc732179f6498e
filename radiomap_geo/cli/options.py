"""Options shared by several commands, and the glue from click to the core."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

import click

from radiomap_geo.errors import Cancelled, RadiomapError
from radiomap_geo.options import RunOptions, default_of, field_names, option_info


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


def setting_option(name: str) -> Callable:
    """The click option of a :class:`RunOptions` field: flag, default and help from the field."""
    info = option_info(name)
    default = default_of(name)
    dest = option_dest(name)
    if isinstance(default, bool):
        return click.option(info.cli, dest, is_flag=True, help=info.help)
    kind = {int: int, float: float, str: str}.get(type(default))
    if name == "subcarrier_spacing_khz":
        kind = int
    elif kind is None:  # optional numbers (default None)
        kind = float
    return click.option(
        info.cli, dest, type=kind, default=default, show_default=default is not None, help=info.help
    )


def option_dest(name: str) -> str:
    """The keyword click passes for the flag of field ``name`` (``--rx-height`` -> rx_height)."""
    return option_info(name).cli.lstrip("-").replace("-", "_")


def run_options_from(opts: dict) -> RunOptions:
    """The core's options object from parsed command-line options (validated there)."""
    settings = {
        name: opts[option_dest(name)]
        for name in field_names()
        if option_info(name).cli and option_dest(name) in opts
    }
    return RunOptions(**settings)


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
        setting_option("storey_height_m"),
        setting_option("default_height_m"),
        setting_option("strict"),
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
        setting_option("per_site"),
        click.option("--overwrite", is_flag=True, help="Replace an existing output file."),
        click.option(
            "--preview", is_flag=True, help="Also write a PNG quick-look beside the output."
        ),
        setting_option("rx_height_m"),
        setting_option("bandwidth_mhz"),
        setting_option("noise_figure_db"),
        setting_option("technology"),
        setting_option("subcarrier_spacing_khz"),
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
        setting_option("max_range_m"),
        setting_option("tile_size"),
    ]
    return _apply(command, options)


def check_outputs(opts: dict) -> None:
    """Refuse existing outputs (the GeoTIFF and, with --preview, its PNG) before any work."""
    from radiomap_geo.errors import OutputError, OutputExistsError
    from radiomap_geo.io.raster import check_writable

    blocking = next((p for p in Path(opts["output"]).parents if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise OutputError(
            f"cannot write {opts['output']}: {blocking} is a file, not a folder; choose another "
            "output path",
            parameter="output",
        )
    path = check_writable(opts["output"], opts["overwrite"])
    preview = path.with_suffix(".png")
    if opts.get("preview") and preview.exists() and not opts["overwrite"]:
        raise OutputExistsError(
            f"the preview {preview} exists: pass --overwrite to replace it", parameter="output"
        )


#: Core parameter names that are not RunOptions fields, as the command line spells them.
INPUT_FLAGS = {
    "bbox": "--bbox",
    "bbox_crs": "--bbox-crs",
    "crs": "--crs",
    "resolution": "--resolution",
    "allow_large": "--allow-large",
    "sites": "--tx-file",
    "buildings": "--buildings",
    "height_column": "--height-column",
    "model": "--model",
    "output": "--output",
    "samples": "--samples",
    "max_depth": "--max-depth",
    "max_maps": "--max-maps",
    "seed": "--seed",
    "threshold": "--threshold",
    "ship_to": "--ship-to",
}


def flag_for(parameter: str | None) -> str | None:
    """The command-line flag of a core parameter name, or None."""
    if parameter is None:
        return None
    if parameter in field_names():
        return option_info(parameter).cli
    return INPUT_FLAGS.get(parameter)


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
            flag = flag_for(err.parameter)
            text = str(err) if flag is None or str(err).startswith(flag) else f"{flag}: {err}"
            raise click.ClickException(text) from err

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


#: CLI options that set up the grid, the sites and the buildings (``inputs.load_inputs``).
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
    "strict",
)
