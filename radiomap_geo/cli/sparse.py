"""``radiomap-geo train-measurements`` / ``evaluate-measurements`` / ``measurement-models``:
maps from sparse measurements (issue #10), thin adapters over :mod:`radiomap_geo.sparse`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from radiomap_geo.cli.options import (
    RichProgress,
    area_options,
    check_outputs,
    friendly_errors,
    input_options,
    model_options,
    output_options,
    run_options_from,
)
from radiomap_geo.errors import InputError, OutputExistsError


@click.command("measurement-models")
@friendly_errors
def measurement_models() -> None:
    """List the shipped measurement models ('predict --measurement-model'), the default first."""
    from radiomap_geo.sparse.model import default_measurement_model, read_measurement_index

    default = default_measurement_model()
    index = read_measurement_index()
    for name in sorted(index, key=lambda n: n != default):
        mark = " (default)" if name == default else ""
        click.echo(f"{name:18s} {index[name].get('description', '')}{mark}")


@click.command("train-measurements")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--network", "name", required=True, help="emgan, emgan-sites, emgan-geo, ...")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("runs/sparse"))
@click.option("--steps", type=click.IntRange(1), default=1500, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option(
    "--max-minutes",
    type=click.FloatRange(0.1),
    default=None,
    help="Stop (resumably) after this long; run again to continue.",
)
@click.option("--max-maps", type=click.IntRange(1), default=1024, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def train_measurements(
    dataset, name, out, steps, batch_size, max_minutes, max_maps, seed, threads, quiet
) -> None:
    """Train a measurement network on DATASET with measurement sets sampled on the fly."""
    from radiomap_geo.sparse.train import SparseTrainConfig, train_measurement_model

    config = SparseTrainConfig(
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        threads=threads,
        max_seconds=None if max_minutes is None else 60.0 * max_minutes,
    )
    with RichProgress(f"train {name}", enabled=not quiet) as bar:
        result, path = train_measurement_model(
            dataset, name, out, config, max_maps=max_maps, progress=bar
        )
    tail = result.history[-50:]
    l1 = sum(h["l1_db"] for h in tail) / max(len(tail), 1)
    if path is None:
        click.echo(f"{name}: step {result.step}/{steps} (L1 {l1:.2f} dB); run again to continue")
    else:
        click.echo(f"{name}: finished {result.step} steps (L1 {l1:.2f} dB): {path}")


@click.command("evaluate-measurements")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--methods",
    default=None,
    help="Comma-separated (default: all baselines and "
    "networks: geometry, idw, knn, random-forest, kriging, regression-kriging, "
    "interpolation-net, eme-net, emgan, emgan-sites, emgan-geo).",
)
@click.option(
    "--patterns",
    default=None,
    help="Comma-separated, e.g. uniform:1%,count:50,trajectory:1% (default: all).",
)
@click.option("--split", default="test", show_default=True)
@click.option("--max-maps", type=click.IntRange(1), default=32, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--work-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where per-map results accumulate (a killed run resumes from it).",
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(0),
    default=None,
    help="Start no new map after this long; report the finished maps (run again to continue).",
)
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=None,
    help="Write REPORT.md, REPORT.json and REPORT.png (the error-ratio CDF).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing report files.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def evaluate_measurements(
    dataset,
    methods,
    patterns,
    split,
    max_maps,
    seed,
    work_dir,
    max_minutes,
    report,
    overwrite,
    quiet,
) -> None:
    """Score measurement methods x sampling patterns on DATASET's test split; print tables."""
    from radiomap_geo.sparse.evaluate import DEFAULT_METHODS, evaluate_measurements
    from radiomap_geo.sparse.report import report_markdown, write_report
    from radiomap_geo.sparse.sampling import EVALUATION_PATTERNS

    names = _split_list(methods) or list(DEFAULT_METHODS)
    pats = _split_list(patterns) or list(EVALUATION_PATTERNS)
    if report is not None and not overwrite:
        for suffix in (".md", ".json", ".png"):
            if report.with_suffix(suffix).exists():
                raise OutputExistsError(
                    f"{report.with_suffix(suffix)} exists: pass --overwrite to replace it"
                )
    with RichProgress("evaluate", enabled=not quiet) as bar:
        result = evaluate_measurements(
            dataset,
            split=split,
            methods=names,
            patterns=pats,
            max_maps=max_maps,
            seed=seed,
            work_dir=work_dir,
            max_minutes=max_minutes,
            progress=bar,
        )
    result["command"] = " ".join(["radiomap-geo", *sys.argv[1:]])
    click.echo(report_markdown(result))
    if report is not None:
        for path in write_report(result, report):
            click.echo(f"wrote {path}")


def _split_list(text: str | None) -> list[str]:
    if not text:
        return []
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InputError(f"empty list {text!r}", parameter="methods")
    return items


@click.command("ship-measurement-model")
@click.argument("weights", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--to",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("weights"),
    show_default=True,
)
@click.option("--val-maps", type=click.IntRange(2), default=128, show_default=True)
@click.option("--test-maps", type=click.IntRange(1), default=32, show_default=True)
@click.option("--default", "make_default", is_flag=True, help="Mark it the default model.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def ship_measurement_model(
    weights, dataset, folder, val_maps, test_maps, make_default, quiet
) -> None:
    """Calibrate WEIGHTS' uncertainty on DATASET and ship it (file, model card, index)."""
    from radiomap_geo.sparse.ship import calibrate_and_ship

    with RichProgress("ship", enabled=not quiet) as bar:
        path, coverage = calibrate_and_ship(
            weights,
            dataset,
            folder,
            val_maps=val_maps,
            test_maps=test_maps,
            default=make_default,
            command=" ".join(["radiomap-geo", *sys.argv[1:]]),
            progress=bar,
        )
    c = coverage["all"]
    click.echo(
        f"{path}: 68 % interval covers {100 * c['within_1_std']:.1f} %, 95 % interval "
        f"{100 * c['within_z95_std']:.1f} % of unmeasured test cells"
    )


def measurement_options(command, required: bool = True):
    """--measurements and how to read them, --measurement-model."""
    options = [
        click.option(
            "--measurements",
            "measurements",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            required=required,
            default=None,
            help="Measured points (GeoPackage, GeoJSON, Shapefile, CSV with lon,lat; any CRS): "
            "the map is corrected by them (adds rsrp_std_db and e_field_vpm).",
        ),
        click.option("--value-column", default="rsrp_dbm", show_default=True),
        click.option(
            "--value-kind",
            type=click.Choice(["rsrp", "rx-power", "path-gain", "e-field"]),
            default="rsrp",
            show_default=True,
        ),
        click.option(
            "--value-unit",
            type=click.Choice(["dbm", "db", "dbuv/m", "v/m"]),
            default=None,
            help="Unit of the values (default: the kind's usual one).",
        ),
        click.option(
            "--measurement-model",
            default=None,
            help="A shipped measurement model (see 'radiomap-geo measurement-models') or "
            "net:PATH.pt, or a baseline: regression-kriging, kriging, idw, knn, random-forest.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("predict-measurements")
@area_options
@input_options
@output_options
@model_options
@measurement_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def predict_measurements(**opts) -> None:
    """Predict coverage and exposure corrected by measured values; adds rsrp_std_db and
    e_field_vpm.
    """
    run_predict_measurements(opts)


def optional_measurement_options(command):
    """The measurement options with --measurements optional (for ``predict``)."""
    return measurement_options(command, required=False)


def run_predict_measurements(opts: dict) -> None:
    """``predict --measurements ...`` / ``predict-measurements``: read, correct, write."""
    from radiomap_geo.cli.inputs import load_inputs
    from radiomap_geo.cli.options import INPUT_KEYS
    from radiomap_geo.sparse.data import DEFAULT_GEOMETRY_MODEL
    from radiomap_geo.sparse.predict import predict_with_measurements

    check_outputs(opts)
    options = run_options_from(opts)
    inputs = load_inputs(**{k: opts[k] for k in INPUT_KEYS}, quiet=opts["quiet"])
    with RichProgress("predict", enabled=not opts["quiet"]) as bar:
        result = predict_with_measurements(
            inputs.grid,
            inputs.sites,
            inputs.buildings,
            opts["measurements"],
            options,
            value_column=opts["value_column"],
            value_kind=opts["value_kind"],
            value_unit=opts["value_unit"],
            measurement_model=opts["measurement_model"],
            geometry_model=opts["model"] or DEFAULT_GEOMETRY_MODEL,
            progress=bar,
        )
    path = result.write(opts["output"], overwrite=opts["overwrite"], dst_crs=opts["dst_crs"])
    click.echo(f"wrote {path}")
