"""``radiomap-geo infer-buildings``: building map (and radio map) from measurements alone
(paper 001's RadioCycle; core in :mod:`radiomap_geo.radiocycle`).
"""

from __future__ import annotations

import click

from radiomap_geo.cli.options import (
    EXISTING_FILE,
    FILE,
    area_options,
    defaulted,
    optional,
    output_option,
    overwrite_option,
    run_options_from,
    setting_option,
    value_options,
)
from radiomap_geo.cli.running import RichProgress, friendly_errors, quiet_option


@click.command("infer-buildings")
@click.option(
    "--measurements",
    required=True,
    type=EXISTING_FILE,
    help="Measured points (GeoPackage, GeoJSON, Shapefile in any CRS, or CSV with lon,lat in "
    "degrees).",
)
@value_options(["rsrp", "rx-power", "path-gain"])
@click.option(
    "--tx-file",
    "tx_file",
    required=True,
    type=EXISTING_FILE,
    help="Transmitter sites (their power turns the values into path gain).",
)
@area_options
@setting_option("bandwidth_mhz")
@setting_option("technology")
@setting_option("subcarrier_spacing_khz")
@defaulted("--model", "radiocycle", "Shipped RadioCycle model.")
@defaulted("--threshold", 0.5, "Building probability of the mask band and the polygons.")
@output_option("GeoTIFF: building_probability, building_mask, path_gain_db bands.")
@optional("--polygons", FILE, "Also write simplified footprint polygons (GeoPackage, output CRS).")
@overwrite_option("Replace existing outputs.")
@quiet_option
@friendly_errors
def infer_buildings(**opts) -> None:
    """Infer building footprints (and the radio map) from measured RSRP alone (RadioCycle)."""
    from radiomap_geo.errors import InputError, RadiomapError
    from radiomap_geo.inputs import make_grid
    from radiomap_geo.io.atomic import check_target, same_file
    from radiomap_geo.measurements.points import read_measurements
    from radiomap_geo.radiocycle.infer import infer_buildings as infer
    from radiomap_geo.radiocycle.outputs import (
        building_polygons,
        write_building_raster,
        write_polygons,
    )

    check_target(opts["output"], opts["overwrite"])
    if opts["polygons"] is not None:
        if same_file(opts["polygons"], opts["output"]):
            raise InputError("--polygons must differ from --output", parameter="polygons")
        try:
            check_target(opts["polygons"], opts["overwrite"])
        except RadiomapError as exc:
            exc.parameter = "polygons"  # check_target speaks of "output": name --polygons
            raise
    options = run_options_from(opts)
    grid = make_grid(
        opts["bbox"],
        opts["resolution"],
        bbox_crs=opts["bbox_crs"],
        crs=opts["crs"],
        allow_large=opts["allow_large"],
    )
    points = read_measurements(
        opts["measurements"], value_column=opts["value_column"], value_kind=opts["value_kind"]
    )
    with RichProgress("infer buildings", enabled=not opts["quiet"]) as bar:
        result = infer(
            points,
            opts["tx_file"],
            grid,
            model=opts["model"],
            threshold=opts["threshold"],
            options=options,
            progress=bar,
        )
    frame = None
    if opts["polygons"] is not None:
        frame = building_polygons(result.mask, result.probability, grid)
    path = write_building_raster(result, opts["output"], overwrite=opts["overwrite"])
    click.echo(f"wrote {path} ({result.measured_cells} measured cells)")
    if frame is not None:
        write_polygons(frame, opts["polygons"], overwrite=opts["overwrite"])
        click.echo(f"wrote {opts['polygons']} ({len(frame)} footprints)")
