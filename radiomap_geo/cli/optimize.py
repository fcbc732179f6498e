"""``radiomap-geo optimize``: point the antennas for coverage through the frozen network."""

from __future__ import annotations

from pathlib import Path

import click

from radiomap_geo.cli.inputs import load_inputs
from radiomap_geo.cli.options import (
    INPUT_KEYS,
    RichProgress,
    area_options,
    friendly_errors,
    input_options,
    setting_option,
)
from radiomap_geo.optimize.domain import Limits
from radiomap_geo.optimize.objectives import OBJECTIVES
from radiomap_geo.optimize.options import METHODS, OptimizeOptions

DEFAULTS = OptimizeOptions()
LIMITS = Limits()
RECEIVER = (
    "rx_height_m",
    "bandwidth_mhz",
    "noise_figure_db",
    "technology",
    "subcarrier_spacing_khz",
)
#: Core parameter names of this command, as its flags (for error messages).
FLAGS = {
    "objective": "--objective",
    "percentile": "--percentile",
    "params": "--params",
    "fixed": "--fixed",
    "method": "--method",
    "budget": "--budget",
    "starts": "--starts",
    "target_area": "--target-area",
    "azimuth_span_deg": "--azimuth-span",
    "tilt_max_deg": "--tilt-max",
    "power_span_db": "--power-span",
    "temperature_db": "--temperature",
    "slope_db": "--slope",
    "learning_rate": "--learning-rate",
}


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (text or "").split(",") if v.strip())


@click.command()
@area_options
@input_options
@click.option("--model", default=None, help="Model name (see 'radiomap-geo models').")
@click.option(
    "--objective",
    type=click.Choice(OBJECTIVES),
    default=DEFAULTS.objective,
    show_default=True,
    help="percentile: the p-th percentile of RSRP; sinr-coverage / rsrp-coverage: cells at or "
    "above the threshold.",
)
@click.option("--percentile", type=float, default=DEFAULTS.percentile, show_default=True)
@click.option(
    "--threshold-dbm",
    type=float,
    default=DEFAULTS.threshold_dbm,
    show_default=True,
    help="RSRP threshold (per resource element) of rsrp-coverage.",
)
@click.option(
    "--threshold-db",
    type=float,
    default=DEFAULTS.threshold_db,
    show_default=True,
    help="SINR threshold of sinr-coverage.",
)
@click.option(
    "--params",
    default=",".join(DEFAULTS.params),
    show_default=True,
    help="What to optimise: azimuth,tilt[,power].",
)
@click.option("--fixed", default="", help="Site ids to keep as they are (comma-separated).")
@click.option("--method", type=click.Choice(METHODS), default=DEFAULTS.method, show_default=True)
@click.option(
    "--budget",
    type=int,
    default=DEFAULTS.budget,
    show_default=True,
    help="Evaluations of all sites' maps per method (gradient steps / random draws).",
)
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True)
@click.option(
    "--starts", type=int, default=DEFAULTS.starts, show_default=True, help="Gradient multi-start."
)
@click.option(
    "--temperature",
    type=float,
    default=DEFAULTS.temperature_db,
    show_default=True,
    help="Boltzmann temperature (dB) of the soft percentile.",
)
@click.option(
    "--slope",
    type=float,
    default=DEFAULTS.slope_db,
    show_default=True,
    help="Sigmoid slope (dB) of the soft coverage count.",
)
@click.option("--learning-rate", type=float, default=DEFAULTS.learning_rate, show_default=True)
@click.option(
    "--azimuth-span",
    type=float,
    default=LIMITS.azimuth_span_deg,
    show_default=True,
    help="Azimuth may move this many degrees either way from the start.",
)
@click.option("--tilt-min", type=float, default=LIMITS.tilt_min_deg, show_default=True)
@click.option("--tilt-max", type=float, default=LIMITS.tilt_max_deg, show_default=True)
@click.option(
    "--power-span",
    type=float,
    default=LIMITS.power_span_db,
    show_default=True,
    help="With power in --params: at most this many dB below the given power.",
)
@click.option(
    "--no-roof-rule", is_flag=True, help="Allow tilts whose boresight hits the antenna's own roof."
)
@click.option(
    "--target-area",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Polygons (any vector file, any CRS) the objective is restricted to.",
)
@click.option("--verify", is_flag=True, help="Judge the configurations with Sionna RT.")
@click.option(
    "--samples", type=float, default=1e6, show_default=True, help="Rays per sector with --verify."
)
@setting_option("rx_height_m")
@setting_option("bandwidth_mhz")
@setting_option("noise_figure_db")
@setting_option("technology")
@setting_option("subcarrier_spacing_khz")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Optimised sites (.gpkg, .geojson): every input column, orientation replaced.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON report: objective before/after per method, curves, verification.",
)
@click.option("--preview", is_flag=True, help="Also write a before/after PNG beside the output.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def optimize(**opts) -> None:
    """Optimise antenna azimuth/tilt (and power) for coverage through the frozen network."""
    try:
        _run(opts)
    except Exception as err:
        parameter = getattr(err, "parameter", None)
        if parameter in FLAGS and not str(err).startswith(FLAGS[parameter]):
            raise click.ClickException(f"{FLAGS[parameter]}: {err}") from err
        raise


def _run(opts: dict) -> None:
    import geopandas as gpd

    from radiomap_geo.cli.options import run_options_from
    from radiomap_geo.optimize import optimize_sites, verify_result
    from radiomap_geo.optimize.outputs import (
        check_sites_output,
        optimised_table,
        write_preview,
        write_report,
        write_sites,
    )

    options = _options(opts, run_options_from({k: opts[k] for k in opts if k in _receiver_dests()}))
    options.validate()
    outputs = _check_outputs(opts, check_sites_output)
    inputs = load_inputs(**{k: opts[k] for k in INPUT_KEYS}, quiet=opts["quiet"])
    with RichProgress("optimize", enabled=not opts["quiet"]) as progress:
        result = optimize_sites(
            inputs.grid,
            inputs.sites,
            inputs.buildings,
            model=opts["model"],
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


def _receiver_dests() -> set[str]:
    from radiomap_geo.cli.options import option_dest

    return {option_dest(name) for name in RECEIVER}


def _options(opts: dict, run) -> OptimizeOptions:
    return OptimizeOptions(
        objective=opts["objective"],
        percentile=opts["percentile"],
        threshold_dbm=opts["threshold_dbm"],
        threshold_db=opts["threshold_db"],
        params=_names(opts["params"]),
        fixed=_names(opts["fixed"]),
        method=opts["method"],
        budget=opts["budget"],
        seed=opts["seed"],
        starts=opts["starts"],
        learning_rate=opts["learning_rate"],
        temperature_db=opts["temperature"],
        slope_db=opts["slope"],
        limits=Limits(
            azimuth_span_deg=opts["azimuth_span"],
            tilt_min_deg=opts["tilt_min"],
            tilt_max_deg=opts["tilt_max"],
            power_span_db=opts["power_span"],
            roof_rule=not opts["no_roof_rule"],
        ),
        run=run,
    )


def _check_outputs(opts: dict, check_sites_output) -> dict[str, Path]:
    """Refuse existing or unusable outputs before any work."""
    from radiomap_geo.io.atomic import check_target

    out = {"output": check_sites_output(opts["output"], opts["overwrite"])}
    if opts["report"] is not None:
        out["report"] = check_target(opts["report"], opts["overwrite"])
    if opts["preview"]:
        out["preview"] = check_target(out["output"].with_suffix(".png"), opts["overwrite"])
    return out


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
