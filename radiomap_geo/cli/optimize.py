"""``radiomap-geo optimize``: point the antennas for coverage through the frozen network."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import click

from radiomap_geo.cli.inputs import inputs_from, scene
from radiomap_geo.cli.options import (
    EXISTING_FILE,
    FILE,
    RECEIVER,
    area_options,
    defaulted,
    field_option,
    input_options,
    option_dest,
    output_option,
    overwrite_option,
    receiver_options,
    run_options_from,
)
from radiomap_geo.cli.running import (
    RichProgress,
    flag_for,
    friendly_errors,
    given_on_command_line,
    quiet_option,
)
from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import same_file
from radiomap_geo.optimize.domain import Limits
from radiomap_geo.optimize.options import (
    METHODS,
    OBJECTIVES,
    RESOLUTION_M,
    SEED_READ_WHEN,
    OptimizeOptions,
)
from radiomap_geo.options import field_names

#: The defaults of the search settings: the core's own (each option is named after its field).
D, L = OptimizeOptions(), Limits()


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (text or "").split(",") if v.strip())


def _default(name: str, value: object) -> Callable[[click.Command], click.Command]:
    """Give the shared option ``name`` of a command another default (shown by --help)."""

    def apply(command: click.Command) -> click.Command:
        next(p for p in command.params if p.name == name).default = value
        return command

    return apply


@_default("resolution", RESOLUTION_M)  # the networks' cell size, as the QGIS algorithm's
@click.command()
@area_options
@input_options
@click.option("--model", help="Model name (see 'radiomap-geo models').")
@field_option("--objective", D, "objective", type=click.Choice(OBJECTIVES))
@field_option("--percentile", D, "percentile")
@field_option("--threshold-dbm", D, "threshold_dbm")
@field_option("--threshold-db", D, "threshold_db")
@defaulted("--params", ",".join(D.params), "What to optimise: azimuth,tilt[,power].")
@click.option("--fixed", default="", help="Site ids to keep as they are (comma-separated).")
@field_option("--method", D, "method", type=click.Choice(METHODS))
@field_option("--budget", D, "budget")
@field_option("--seed", D, "seed")
@field_option("--starts", D, "starts")
@field_option("--temperature", D, "temperature_db")
@field_option("--slope", D, "slope_db")
@field_option("--learning-rate", D, "learning_rate")
@field_option("--azimuth-span", L, "azimuth_span_deg")
@field_option("--tilt-min", L, "tilt_min_deg")
@field_option("--tilt-max", L, "tilt_max_deg")
@field_option("--power-span", L, "power_span_db")
@click.option(
    "--no-roof-rule", is_flag=True, help="Allow tilts whose boresight hits the antenna's own roof."
)
@click.option(
    "--target-area",
    type=EXISTING_FILE,
    help="Polygons (any vector file, any CRS) the objective is restricted to.",
)
@click.option("--verify", is_flag=True, help="Judge the configurations with Sionna RT.")
@defaulted("--samples", 1e6, "Rays per sector with --verify.")
@receiver_options
@output_option("Optimised sites (.gpkg, .geojson): every input column, orientation replaced.")
@click.option(
    "--report",
    type=FILE,
    help="JSON report: objective before/after per method, curves, verification.",
)
@click.option("--preview", is_flag=True, help="Also write a before/after PNG beside the output.")
@overwrite_option("Replace existing output files.")
@quiet_option
@friendly_errors
def optimize(**opts) -> None:
    """Optimise antenna azimuth/tilt (and power) for coverage through the frozen network."""
    import geopandas as gpd

    from radiomap_geo.optimize import optimize_sites, resolve_model, verify_result
    from radiomap_geo.optimize.outputs import (
        check_sites_output,
        optimised_table,
        write_preview,
        write_report,
        write_sites,
    )

    options = _options(opts)
    options.validate()
    _refuse_unread(options, opts)
    outputs = _check_outputs(opts, check_sites_output)
    model = resolve_model(opts["model"])  # a model that needs rasters fails before any input
    inputs = inputs_from(opts)
    with RichProgress("optimize", enabled=not opts["quiet"]) as progress:
        result = optimize_sites(
            *scene(inputs),
            model=model,
            options=options,
            target_area=opts["target_area"],
            progress=progress,
        )
        if opts["verify"]:
            verify_result(result, inputs.buildings, samples_per_tx=int(opts["samples"]))
    chosen = _chosen(result)
    table = gpd.read_file(opts["tx_file"]) if opts["tx_file"].suffix.lower() != ".csv" else None
    if table is None:
        table = _csv_table(opts["tx_file"])
    path = write_sites(
        outputs["output"],
        optimised_table(table, result.optimised[chosen], options.params),
        overwrite=opts["overwrite"],
    )
    click.echo(f"wrote {path} ({chosen})")
    _echo_summary(result)
    if outputs.get("report"):
        report = {**result.report(), "written": chosen}
        click.echo(f"wrote {write_report(outputs['report'], report, overwrite=opts['overwrite'])}")
    if outputs.get("preview"):
        click.echo(
            f"wrote {write_preview(outputs['preview'], result, overwrite=opts['overwrite'])}"
        )


def _options(opts: dict) -> OptimizeOptions:
    """The core's settings from the parsed options (each search option is named after its field)."""
    settings = {name: opts[name] for name in _fields(OptimizeOptions) if name in opts}
    settings.update(params=_names(opts["params"]), fixed=_names(opts["fixed"]))
    limits = {name: opts[name] for name in _fields(Limits) if name in opts}
    receiver = {option_dest(name) for name in RECEIVER}
    return OptimizeOptions(
        **settings,
        limits=Limits(**limits, roof_rule=not opts["no_roof_rule"]),
        run=run_options_from({key: opts[key] for key in receiver}),
    )


def _fields(kind: type) -> list[str]:
    return [item.name for item in fields(kind)]


def _refuse_unread(options: OptimizeOptions, opts: dict) -> None:
    """Refuse a setting given on the command line that this run would not read.

    Which objective and method read which setting: :meth:`OptimizeOptions.unread`; --samples
    only counts with --verify.
    """
    ctx = click.get_current_context()
    flag = lambda name: flag_for(name, ctx.command) or name  # noqa: E731
    problems = []
    for setting, needs in options.unread().items():
        name = option_dest(setting) if setting in field_names() else setting
        if not given_on_command_line(name):
            continue
        now = " and ".join(f"{flag(f)} {_value(options, f)}" for f in needs)
        wanted = " and ".join(
            f"{flag(f)} {'including ' if f == 'params' else ''}{' or '.join(v)}"
            for f, v in needs.items()
        )
        if setting == "seed" and needs == SEED_READ_WHEN:
            wanted += f", or {flag('starts')} 2 or more (the gradient's further starts)"
        problems.append(
            f"{flag(name)} does not apply to {now}: it is read only with {wanted}; drop "
            f"{flag(name)} or change {' and '.join(flag(f) for f in needs)}"
        )
    if given_on_command_line("samples") and not opts["verify"]:
        problems.append(
            "--samples does not apply without --verify (it sets the rays of the ray-traced "
            "check): add --verify or drop --samples"
        )
    if problems:
        raise click.UsageError("\n".join(problems))


def _value(options: OptimizeOptions, name: str) -> str:
    value = getattr(options, name)
    return ",".join(value) if isinstance(value, tuple) else str(value)


def _check_outputs(opts: dict, check_sites_output) -> dict[str, Path]:
    """Refuse existing or unusable outputs before any work."""
    from radiomap_geo.io.atomic import check_target

    _refuse_clashes(opts)
    out = {"output": check_sites_output(opts["output"], opts["overwrite"])}
    if opts["report"] is not None:
        out["report"] = check_target(opts["report"], opts["overwrite"])
    if opts["preview"]:
        out["preview"] = check_target(out["output"].with_suffix(".png"), opts["overwrite"])
    return out


#: The files a run reads, by option.
INPUT_FILES = ("tx_file", "buildings", "target_area")


def _refuse_clashes(opts: dict) -> None:
    """Refuse an output path that is another output's or an input's (same resolved file)."""
    outputs = {"output": opts["output"], "report": opts["report"]}
    if opts["preview"]:
        outputs["preview"] = Path(opts["output"]).with_suffix(".png")
    outputs = {name: Path(path) for name, path in outputs.items() if path is not None}
    inputs = {name: Path(opts[name]) for name in INPUT_FILES if opts.get(name) is not None}
    names = list(outputs)
    for i, name in enumerate(names):
        path, what = outputs[name], "the preview PNG " if name == "preview" else ""
        for other in names[:i]:
            if same_file(path, outputs[other]):
                raise InputError(
                    f"{what}{path} is also the --{other} file: give each output its own path",
                    parameter=name,
                )
        for other, source in inputs.items():
            if same_file(path, source):
                flag = "--" + other.replace("_", "-")
                raise InputError(
                    f"{what}{path} is the {flag} input: writing there would replace it; "
                    "choose another path",
                    parameter=name,
                )


def _chosen(result) -> str:
    """The configuration written: the tracer's best with --verify, else the surrogate's."""
    if result.verification is None:
        return result.best_method
    verified = result.verification["verified"]
    return max(result.optimised, key=lambda m: (verified[m], m == "gradient"))


def _csv_table(path: Path):
    import geopandas as gpd
    import pandas as pd

    from radiomap_geo.sites import LAT_NAMES, LON_NAMES

    frame = pd.read_csv(path)
    lower = {c.lower(): c for c in frame.columns}
    lon = next(lower[n] for n in LON_NAMES if n in lower)
    lat = next(lower[n] for n in LAT_NAMES if n in lower)
    return gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame[lon], frame[lat]), crs="EPSG:4326"
    )


def _echo_summary(result) -> None:
    unit = result.objective.unit
    for name, search in result.searches.items():
        line = (
            f"{name}: {result.objective.name} {search.start_value:.2f} -> {search.best_value:.2f} "
            f"{unit} (surrogate, {search.evaluations} network evaluations, {search.seconds:.1f} s)"
        )
        if result.verification is not None:
            v = result.verification
            line += (
                f"; Sionna RT {v['verified']['initial']:.2f} -> {v['verified'][name]:.2f} "
                f"(seed gap {v['noise_gap']:.2f})"
            )
        click.echo(line)
