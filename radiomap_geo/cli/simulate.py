"""``radiomap-geo simulate``: ray-traced coverage with Sionna RT, on the same grid as predict."""

from __future__ import annotations

import click

from radiomap_geo.cli.inputs import inputs_from, scene
from radiomap_geo.cli.options import (
    area_options,
    defaulted,
    input_options,
    output_options,
    run_options_from,
)
from radiomap_geo.cli.running import RichProgress, check_outputs, friendly_errors, quiet_option
from radiomap_geo.cli.written import echo_written
from radiomap_geo.rt.simulate import MAX_DEPTH, RESOLUTION_M

#: Buildings this far outside the grid still reflect and diffract into it.
SCENE_MARGIN_M = 100.0


def _resolution_default(command: click.Command) -> click.Command:
    """The shared --resolution with the ray tracer's default cell size (as the QGIS algorithm)."""
    next(p for p in command.params if p.name == "resolution").default = RESOLUTION_M
    return command


@_resolution_default
@click.command()
@area_options
@input_options
@output_options
@defaulted("--samples", 3e6, "Rays launched per transmitter.")
@defaulted("--max-depth", 3, f"Maximum number of interactions per path (0 to {MAX_DEPTH}).")
@click.option("--diffraction/--no-diffraction", default=True, show_default=True)
@defaulted(
    "--seed",
    0,
    "Ray-sampling seed. On the CPU (LLVM, several threads) the same seed does not give "
    "bit-identical maps unless --reproducible: measured on the Helsinki sample, two runs differ "
    "by a median 0.001 dB, 95 % of cells within 0.8 dB, 4 % of cells by more than 1 dB (one up "
    "to 18 dB), 0.1 % of cells reached in one run only (benchmarks/results/rt_edges.md).",
)
@click.option(
    "--reproducible",
    is_flag=True,
    help="Trace on one CPU thread: the same --seed gives bit-identical maps (slower).",
)
@quiet_option
@friendly_errors
def simulate(**opts) -> None:
    """Ray-trace coverage with Sionna RT and write the same bands as 'predict'."""
    from radiomap_geo.rt.simulate import simulate_coverage

    check_outputs(opts)
    options = run_options_from(opts)
    inputs = inputs_from(opts, margin_m=SCENE_MARGIN_M)
    with RichProgress("ray-trace", enabled=not opts["quiet"]) as progress:
        result = simulate_coverage(
            *scene(inputs),
            samples_per_tx=opts["samples"],
            max_depth=opts["max_depth"],
            diffraction=opts["diffraction"],
            seed=opts["seed"],
            margin_m=SCENE_MARGIN_M,
            reproducible=opts["reproducible"],
            options=options,
            progress=progress,
        )
    path = result.write(opts["output"], overwrite=opts["overwrite"], dst_crs=opts["dst_crs"])
    echo_written(path, inputs, opts)
