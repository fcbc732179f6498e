"""``radiomap-geo predict``: coverage from a trained network or a physics baseline."""

from __future__ import annotations

import click

from radiomap_geo.cli.inputs import inputs_from, scene
from radiomap_geo.cli.options import map_options_with, run_options_from
from radiomap_geo.cli.running import (
    RichProgress,
    check_outputs,
    friendly_errors,
    given_on_command_line,
    quiet_option,
)
from radiomap_geo.cli.sparse import optional_measurement_options, run_predict_measurements
from radiomap_geo.cli.written import echo_written


@click.command()
@map_options_with(sites_required=False)
@optional_measurement_options
@quiet_option
@friendly_errors
def predict(**opts) -> None:
    """Predict coverage (RSRP, total received power, best server, SINR) and write a COG.

    With --measurements the map is corrected by them; then --tx-file may be left out
    (transmitters unknown: the total received power and exposure from the values alone).
    """
    if opts["measurements"] is not None:  # corrected by measurements (radiomap_geo.sparse)
        return run_predict_measurements(opts)
    _refuse_measurement_options()
    if opts["tx_file"] is None:
        raise click.UsageError(
            "Missing option '--tx-file' / '--sites': the transmitter sites (it may be left out "
            "only with --measurements, which then map the total received power alone)"
        )
    from radiomap_geo.predict import predict_to_file

    check_outputs(opts)
    engine = engine_kwargs(opts)
    inputs = inputs_from(opts)
    with RichProgress("predict", enabled=not opts["quiet"]) as progress:
        path = predict_to_file(opts["output"], *scene(inputs), **engine, progress=progress)
    echo_written(path, inputs, opts)


#: Options that only say how to read and use --measurements.
MEASUREMENT_ONLY = ("value_column", "value_kind", "value_unit", "measurement_model")


def _refuse_measurement_options() -> None:
    """A measurement option given without --measurements would be ignored: say so instead."""
    given = [name for name in MEASUREMENT_ONLY if given_on_command_line(name)]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise click.UsageError(
            f"{flags} only apply to --measurements FILE: add the measurements, or drop "
            f"{'it' if len(given) == 1 else 'them'}"
        )


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
