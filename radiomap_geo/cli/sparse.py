"""``radiomap-geo train-measurements`` / ``evaluate-measurements`` / ``measurement-models``:
maps from sparse measurements (issue #10), thin adapters over :mod:`radiomap_geo.sparse`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from radiomap_geo.cli.inputs import inputs_from, scene
from radiomap_geo.cli.options import (
    EXISTING_FILE,
    EXISTING_FOLDER,
    FOLDER,
    defaulted,
    map_options_with,
    optional,
    overwrite_option,
    run_options_from,
    stack,
    value_options,
)
from radiomap_geo.cli.running import RichProgress, check_outputs, friendly_errors, quiet_option
from radiomap_geo.errors import InputError, OutputExistsError
from radiomap_geo.train_options import LR_SCHEDULES, TRAINING_MAPS, SparseTrainConfig

#: A file or folder path, existing or not.
ANY_PATH = click.Path(path_type=Path)


@click.command("measurement-models")
@friendly_errors
def measurement_models() -> None:
    """List the shipped measurement models ('predict --measurement-model'), the default first."""
    from radiomap_geo.sparse.model import measurement_model_catalogue

    catalogue = measurement_model_catalogue()
    width = max(len(name) for name, _, _ in catalogue)
    for name, description, default in catalogue:
        click.echo(f"{name:{width}s}  {description}{' (default)' if default else ''}")


@click.command("train-measurements")
@click.argument("dataset", type=EXISTING_FOLDER)
@click.option(
    "--network", "name", required=True, help="emgan, emgan-sites, emgan-geo, geo-residual, ..."
)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    default=Path("runs/sparse"),
    show_default=True,
    help="Folder of the run: OUT/NETWORK/checkpoint.pt while training, then the weights file "
    "OUT/NETWORK/NETWORK-<sha12>.pt.",
)
@defaulted(
    "--steps",
    SparseTrainConfig.steps,
    "Training steps (batches); a stopped run continues from its checkpoint.",
    type=click.IntRange(1),
)
@defaulted(
    "--batch-size",
    SparseTrainConfig.batch_size,
    f"Maps per step, each a random {SparseTrainConfig.crop} x {SparseTrainConfig.crop}-cell crop "
    "with its own measurement set.",
    type=click.IntRange(1),
)
@optional(
    "--max-minutes",
    click.FloatRange(0.1),
    "Stop (resumably) after this long; run again to continue.",
)
@defaulted(
    "--max-maps",
    TRAINING_MAPS,
    "Train on at most this many maps of the train split, spread over its tiles.",
    type=click.IntRange(1),
)
@defaulted(
    "--lr",
    SparseTrainConfig.lr,
    "Learning rate (Adam); with --lr-schedule cosine the rate of the first step.",
    type=click.FloatRange(0, min_open=True),
)
@defaulted("--lr-schedule", SparseTrainConfig.lr_schedule, type=click.Choice(LR_SCHEDULES))
@optional(
    "--init-weights",
    EXISTING_FILE,
    "Start from this measurement model file (same network) instead of from scratch.",
)
@optional(
    "--second-traces",
    EXISTING_FOLDER,
    "Train on the maps also traced in this folder, their two runs' labels averaged.",
)
@defaulted(
    "--seed",
    SparseTrainConfig.seed,
    "Seed of the initial weights and of the maps, crops and measurement sets each step draws.",
)
@defaulted("--threads", SparseTrainConfig.threads, type=click.IntRange(1))
@quiet_option
@friendly_errors
def train_measurements(
    dataset, name, out, max_minutes, max_maps, init_weights, second_traces, quiet, **settings
) -> None:
    """Train a measurement network on DATASET with measurement sets sampled on the fly."""
    from radiomap_geo.sparse.train import train_measurement_model

    config = SparseTrainConfig(
        **settings,
        init_weights=None if init_weights is None else str(init_weights),
        max_seconds=None if max_minutes is None else 60.0 * max_minutes,
    )
    with RichProgress(f"train {name}", enabled=not quiet) as bar:
        result, path = train_measurement_model(
            dataset,
            name,
            out,
            config,
            max_maps=max_maps,
            second_traces=second_traces,
            progress=bar,
        )
    tail = result.history[-50:]
    l1 = sum(h["l1_db"] for h in tail) / max(len(tail), 1)
    if path is None:
        click.echo(
            f"{name}: step {result.step}/{config.steps} (L1 {l1:.2f} dB); run again to continue"
        )
    else:
        click.echo(f"{name}: finished {result.step} steps (L1 {l1:.2f} dB): {path}")


@click.command("evaluate-measurements")
@click.argument("dataset", type=EXISTING_FOLDER)
@click.option(
    "--methods",
    help="Comma-separated (default: all baselines and networks: geometry, idw, knn, "
    "random-forest, kriging, regression-kriging, interpolation-net, eme-net, emgan, emgan-sites, "
    "emgan-geo, geo-residual).",
)
@optional(
    "--patterns",
    str,
    "Comma-separated, e.g. uniform:1%,count:50,trajectory:1% (default: all).",
)
@defaulted("--split", "test", "Dataset split to score on (train, val or test).")
@defaulted(
    "--max-maps",
    32,
    "Score at most this many maps of the split, spread over its tiles.",
    type=click.IntRange(1),
)
@defaulted(
    "--seed", 0, "Seed of the measurement sets drawn on each map (the same for every method)."
)
@optional(
    "--work-dir", ANY_PATH, "Where per-map results accumulate (a killed run resumes from it)."
)
@optional(
    "--max-minutes",
    click.FloatRange(0),
    "Start no new map after this long; report the finished maps (run again to continue).",
)
@optional(
    "--report", ANY_PATH, "Write REPORT.md, REPORT.json and REPORT.png (the error-ratio CDF)."
)
@overwrite_option("Replace existing report files.")
@quiet_option
@friendly_errors
def evaluate_measurements(dataset, methods, patterns, report, overwrite, quiet, **settings) -> None:
    """Score measurement methods x sampling patterns on a split of DATASET (--split, the test
    split by default); print tables.
    """
    from radiomap_geo.sparse.evaluate import DEFAULT_METHODS, evaluate_measurements
    from radiomap_geo.sparse.report import report_markdown, write_report
    from radiomap_geo.sparse.sampling import EVALUATION_PATTERNS

    names = _split_list(methods, "methods") or list(DEFAULT_METHODS)
    pats = _split_list(patterns, "patterns") or list(EVALUATION_PATTERNS)
    if report is not None and not overwrite:
        for suffix in (".md", ".json", ".png"):
            if report.with_suffix(suffix).exists():
                raise OutputExistsError(
                    f"{report.with_suffix(suffix)} exists: pass --overwrite to replace it"
                )
    with RichProgress("evaluate", enabled=not quiet) as bar:
        result = evaluate_measurements(
            dataset, methods=names, patterns=pats, progress=bar, **settings
        )
    result["command"] = " ".join(["radiomap-geo", *sys.argv[1:]])
    click.echo(report_markdown(result))
    if report is not None:
        for path in write_report(result, report):
            click.echo(f"wrote {path}")


def _split_list(text: str | None, parameter: str) -> list[str]:
    if not text:
        return []
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InputError(f"empty list {text!r}", parameter=parameter)
    return items


@click.command("ship-measurement-model")
@click.argument("weights", type=EXISTING_FILE)
@click.argument("dataset", type=EXISTING_FOLDER)
@defaulted(
    "--to",
    Path("weights"),
    "Folder to ship into: the weights file, its model card NAME.md and the index "
    "measurement-models.json.",
    dest="folder",
    type=FOLDER,
)
@defaulted(
    "--val-maps",
    128,
    "Maps of DATASET's val split that calibrate the uncertainty.",
    type=click.IntRange(2),
)
@defaulted(
    "--test-maps",
    32,
    "Maps of the test split (of --test-data, else DATASET) that measure the interval coverage.",
    type=click.IntRange(1),
)
@optional(
    "--test-data",
    EXISTING_FOLDER,
    "Dataset folder whose test split measures the interval coverage (default: DATASET), "
    "e.g. the test split re-traced at 1e7 rays.",
)
@click.option("--default", "make_default", is_flag=True, help="Mark it the default model.")
@quiet_option
@friendly_errors
def ship_measurement_model(
    weights, dataset, folder, val_maps, test_maps, test_data, make_default, quiet
) -> None:
    """Calibrate WEIGHTS' uncertainty on DATASET's val split and ship it (file, model card,
    index).
    """
    from radiomap_geo.sparse.ship import calibrate_and_ship

    with RichProgress("ship", enabled=not quiet) as bar:
        path, coverage = calibrate_and_ship(
            weights,
            dataset,
            folder,
            val_maps=val_maps,
            test_maps=test_maps,
            test_dataset_dir=test_data,
            default=make_default,
            command=" ".join(["radiomap-geo", *sys.argv[1:]]),
            progress=bar,
        )
    c = coverage["all"]
    click.echo(
        f"{path}: 68 % interval covers {100 * c['within_1_std']:.1f} %, 95 % interval "
        f"{100 * c['within_z95_std']:.1f} % of unmeasured test cells"
    )


def measurement_options(required: bool = True) -> Callable:
    """--measurements and how to read them, --measurement-model."""
    return stack(
        click.option(
            "--measurements",
            type=EXISTING_FILE,
            required=required,
            help="Measured points (GeoPackage, GeoJSON, Shapefile in any CRS, or CSV with lon,lat in "
            "degrees): "
            "the map is corrected by them (adds rsrp_std_db and e_field_vpm).",
        ),
        value_options(["rsrp", "rx-power", "path-gain", "e-field"]),
        optional(
            "--value-unit",
            click.Choice(["dbm", "db", "dbuv/m", "v/m"]),
            "Unit of the values (default: the kind's usual one).",
        ),
        optional(
            "--measurement-model",
            str,
            "A shipped measurement model (see 'radiomap-geo measurement-models') or net:PATH.pt, "
            "or a baseline: regression-kriging, kriging, idw, knn, random-forest. radiocycle "
            "needs no buildings (without --buildings none is downloaded). Without --tx-file: "
            "emgan (the default then; transmitters unknown).",
        ),
    )


@click.command("predict-measurements")
@map_options_with(sites_required=False)
@measurement_options()
@quiet_option
@friendly_errors
def predict_measurements(**opts) -> None:
    """Predict coverage and exposure corrected by measured values; adds rsrp_std_db and
    e_field_vpm. Without --tx-file (transmitters unknown) the values are the total received
    power, mapped by the site-free model: rx_power_dbm, rsrp_dbm, rsrp_std_db, e_field_vpm.
    """
    run_predict_measurements(opts)


#: The measurement options with --measurements optional (for ``predict``).
optional_measurement_options = measurement_options(required=False)


def run_predict_measurements(opts: dict) -> None:
    """``predict --measurements ...`` / ``predict-measurements``: read, correct, write (and,
    with --preview, the PNG quick-look of the corrected RSRP).
    """
    from radiomap_geo.cli.written import echo_written
    from radiomap_geo.radiocycle.weights import is_radiocycle
    from radiomap_geo.sparse.data import DEFAULT_GEOMETRY_MODEL
    from radiomap_geo.sparse.predict import predict_with_measurements, site_free_model

    check_outputs(opts)
    options = run_options_from(opts)
    model = opts["measurement_model"]
    if opts["tx_file"] is None:  # transmitters unknown: refused before any download
        model = site_free_model(model)
    # radiocycle infers the buildings from the measurements: no OSM download without --buildings
    inputs = inputs_from(opts, download=not is_radiocycle(model))
    with RichProgress("predict", enabled=not opts["quiet"]) as bar:
        result = predict_with_measurements(
            *scene(inputs),
            opts["measurements"],
            options,
            value_column=opts["value_column"],
            value_kind=opts["value_kind"],
            value_unit=opts["value_unit"],
            measurement_model=model,
            geometry_model=opts["model"] or DEFAULT_GEOMETRY_MODEL,
            progress=bar,
        )
    path = result.write(opts["output"], overwrite=opts["overwrite"], dst_crs=opts["dst_crs"])
    echo_written(path, inputs, opts)
