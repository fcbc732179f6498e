"""The options of the commands, declared once: path types, helpers and the shared option groups.

A command declares each of its options in one call: the path types, shown defaults, output and
overwrite options and the option groups are written here, and the defaults of the core's
settings come from the core (:class:`~radiomap_geo.options.RunOptions`, or any dataclass
through :func:`field_option`). :mod:`radiomap_geo.cli.running` holds what runs around a
command's body.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from radiomap_geo.options import RunOptions, default_of, field_names, help_of, option_info

#: Path types of the commands (a click type holds no state, so one instance serves every option).
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
FILE = click.Path(dir_okay=False, path_type=Path)
EXISTING_FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)
FOLDER = click.Path(file_okay=False, path_type=Path)
EXISTING_FILE_TEXT = click.Path(exists=True, dir_okay=False)  # the value stays a str
#: The receiver settings of a coverage map (RunOptions fields), in their --help order.
RECEIVER = (
    "rx_height_m",
    "bandwidth_mhz",
    "noise_figure_db",
    "technology",
    "subcarrier_spacing_khz",
)


def stack(*options: Callable) -> Callable:
    """One decorator applying ``options`` so that --help lists them in the order given."""

    def apply(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def defaulted(
    flag: str, default: Any, help: str | None = None, *, dest: str | None = None, **attrs: Any
) -> Callable:
    """``flag`` with a default that --help shows; its type is the default's unless given."""
    attrs.setdefault("type", type(default))
    decls = (flag, dest) if dest else (flag,)
    return click.option(*decls, default=default, show_default=True, help=help, **attrs)


def field_option(
    flag: str, source: object, name: str, help: str | None = None, **attrs: Any
) -> Callable:
    """``flag`` for field ``name`` of the dataclass instance ``source``, defaulting to its value.

    The help is the field's own (:func:`~radiomap_geo.options.described`) unless given. The
    parsed value arrives under the field's name, so :func:`friendly_errors` names ``flag`` in a
    core error about that field.
    """
    text = help or help_of(source, name)
    return defaulted(flag, getattr(source, name), text, dest=name, **attrs)


def optional(flag: str, kind: Any, help: str, *, dest: str | None = None) -> Callable:
    """``flag`` taking a ``kind`` value, None when left out (``help`` says what that means)."""
    decls = (flag, dest) if dest else (flag,)
    return click.option(*decls, type=kind, help=help)


#: What each --value-kind means, for the help of every command that reads measured values.
VALUE_KIND_HELP = {
    "rsrp": "RSRP per resource element, dBm (phones, scanners)",
    "rx-power": "total received power, dBm",
    "path-gain": "path gain, dB (as the path_gain_db bands)",
    "e-field": "electric field of exposure sensors, dBuV/m or V/m",
}


def value_options(kinds: Sequence[str]) -> Callable:
    """--value-column and --value-kind (one of ``kinds``) of a measurements file."""
    meaning = "; ".join(f"{kind}: {VALUE_KIND_HELP[kind]}" for kind in kinds)
    return stack(
        defaulted("--value-column", "rsrp_dbm", "Column of the measured values."),
        defaulted(
            "--value-kind",
            "rsrp",
            f"What the values are ({meaning}).",
            type=click.Choice(list(kinds)),
        ),
    )


def output_option(help: str | None = None) -> Callable:
    """The required ``-o/--output`` file."""
    return click.option("-o", "--output", required=True, type=FILE, help=help)


def overwrite_option(help: str = "Replace the output file if it exists.") -> Callable:
    """``--overwrite``, worded for what the command writes."""
    return click.option("--overwrite", is_flag=True, help=help)


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


receiver_options = stack(*(setting_option(name) for name in RECEIVER))

#: --bbox, --bbox-crs, --crs, --resolution, --allow-large.
area_options = stack(
    click.option(
        "--bbox",
        required=True,
        help="Area as minx,miny,maxx,maxy (west,south,east,north) in --bbox-crs.",
    ),
    defaulted("--bbox-crs", "EPSG:4326", "CRS of the --bbox numbers."),
    click.option("--crs", help="Metric working CRS of the output grid [default: local UTM]."),
    defaulted("--resolution", 2.0, "Cell size in metres."),
    click.option(
        "--allow-large", is_flag=True, help="Go ahead even if the grid is unusually large."
    ),
)

SITES_HELP = (
    "Transmitter sites (GeoPackage, GeoJSON, Shapefile in any CRS, or CSV with lon,lat in degrees)."
)


def sites_option(required: bool = True) -> Callable:
    """``--tx-file`` (alias ``--sites``); optional only where measurements can stand in for it."""
    text = SITES_HELP if required else f"{SITES_HELP} Only with --measurements it may be left out."
    return click.option(
        "--tx-file", "--sites", "tx_file", required=required, type=EXISTING_FILE, help=text
    )


def input_options_with(sites_required: bool = True) -> Callable:
    """--tx-file and the buildings options."""
    return stack(sites_option(sites_required), buildings_options)


#: The buildings options: --buildings, --height-column, the height settings, the OSM cache.
buildings_options = stack(
    optional(
        "--buildings",
        EXISTING_FILE,
        "Footprints (.osm, .osm.pbf, .gpkg, .geojson, .shp) [default: download from OSM].",
    ),
    click.option(
        "--open-ground",
        is_flag=True,
        help="No buildings at all (rural or unmapped areas): nothing is read or downloaded.",
    ),
    click.option("--height-column", help="Footprint column holding heights (m)."),
    setting_option("storey_height_m"),
    setting_option("default_height_m"),
    setting_option("strict"),
    click.option("--osm-cache-only", is_flag=True, help="Use cached OSM downloads only."),
    optional(
        "--osm-cache-dir",
        FOLDER,
        "Folder for cached OSM responses [default: ~/.cache/radiomap-geo/osm].",
    ),
)

#: --tx-file and the buildings options.
input_options = input_options_with()

#: -o/--output, --dst-crs, --per-site, --overwrite, --preview and the receiver settings.
output_options = stack(
    output_option("Output GeoTIFF (Cloud-Optimised)."),
    click.option("--dst-crs", help="Reproject the output into this CRS."),
    setting_option("per_site"),
    overwrite_option("Replace an existing output file."),
    click.option("--preview", is_flag=True, help="Also write a PNG quick-look beside the output."),
    receiver_options,
)

#: --model, the raster inputs (--ndsm, --dsm, --dtm, --ortho), --max-range, --tile-size.
model_options = stack(
    click.option(
        "--model",
        help="Model name (see 'radiomap-geo models'; NET+BASELINE picks a network.s fallback), "
        "net:PATH.pt (your own trained weights) or fitted:FILE (a model fitted to drive tests).",
    ),
    optional("--ndsm", EXISTING_FILE_TEXT, "Normalised surface model raster (any CRS)."),
    optional(
        "--dsm",
        EXISTING_FILE_TEXT,
        "Surface model; with --dtm it stands in for --ndsm (nDSM = DSM - DTM).",
    ),
    optional("--dtm", EXISTING_FILE_TEXT, "Terrain model paired with --dsm."),
    optional("--ortho", EXISTING_FILE_TEXT, "Orthophoto raster, RGB or RGB+IR (any CRS)."),
    setting_option("max_range_m"),
    setting_option("tile_size"),
    setting_option("tta"),
    setting_option("precision"),
)


def map_options_with(sites_required: bool = True) -> Callable:
    """What a coverage map is predicted from and written to; ``sites_required=False`` for the
    commands that map measurements alone (``predict --measurements`` without ``--tx-file``).
    """
    return stack(area_options, input_options_with(sites_required), output_options, model_options)


#: What a coverage map is predicted from and written to (predict-city, ...).
map_options = map_options_with()


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
    "open_ground",
)
