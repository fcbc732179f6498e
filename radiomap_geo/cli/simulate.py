"""``radiomap-geo simulate``: ray-traced coverage with Sionna RT, on the same grid as predict."""

from __future__ import annotations

import click

from radiomap_geo.cli.inputs import load_inputs
from radiomap_geo.cli.options import (
    RichProgress,
    area_options,
    friendly_errors,
    input_options,
    output_options,
)
from radiomap_geo.cli.predict import INPUT_KEYS, _pick, write_preview_for

#: Buildings this far outside the grid still reflect and diffract into it.
SCENE_MARGIN_M = 100.0


@click.command()
@area_options
@input_options
@output_options
@click.option(
    "--samples", type=float, default=3e6, show_default=True, help="Rays launched per transmitter."
)
@click.option(
    "--max-depth",
    type=int,
    default=3,
    show_default=True,
    help="Maximum number of interactions per path.",
)
@click.option("--diffraction/--no-diffraction", default=True, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def simulate(**opts) -> None:
    """Ray-trace coverage with Sionna RT and write the same bands as 'predict'."""
    from radiomap_geo.io.raster import check_writable
    from radiomap_geo.rt.simulate import simulate_coverage

    check_writable(opts["output"], opts["overwrite"])
    inputs = load_inputs(**_pick(opts, INPUT_KEYS), quiet=opts["quiet"], margin_m=SCENE_MARGIN_M)
    with RichProgress("ray-trace", enabled=not opts["quiet"]) as progress:
        result = simulate_coverage(
            inputs.grid,
            inputs.sites,
            inputs.buildings,
            rx_height_m=opts["rx_height"],
            samples_per_tx=int(opts["samples"]),
            max_depth=opts["max_depth"],
            diffraction=opts["diffraction"],
            seed=opts["seed"],
            per_site=opts["per_site"],
            bandwidth_mhz=opts["bandwidth"],
            noise_figure_db=opts["noise_figure"],
            margin_m=SCENE_MARGIN_M,
            progress=progress,
        )
    path = result.write(opts["output"], overwrite=opts["overwrite"], dst_crs=opts["dst_crs"])
    click.echo(f"wrote {path}")
    if opts["preview"]:
        click.echo(f"wrote {write_preview_for(path, inputs, opts['overwrite'])}")
