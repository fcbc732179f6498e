"""``radiomap-geo measurements``: import drive tests, locate towers, fit and cross-validate models."""

from __future__ import annotations

from pathlib import Path

import click

from radiomap_geo.cli.options import FILE, defaulted, output_option, overwrite_option, stack
from radiomap_geo.cli.running import RichProgress, flag_for, friendly_errors, quiet_option

METHOD_CHOICES = ("vae-likelihood", "vae-likelihood-geo", "mlp", "ldpl")

#: An imported drive test and its towers (the keywords are the service functions' own names).
drive_test_options = stack(
    click.argument("measurements", metavar="MEASUREMENTS_FILE", type=FILE),
    click.option("--towers", required=True, type=FILE),
    click.option("--buildings", type=FILE),
)


def refuse_input_as_output(output: Path, **inputs: object) -> None:
    """Refuse an output that is one of the running command's inputs, naming both flags."""
    from radiomap_geo.measurements.service import refuse_input_as_output as refuse

    command = click.get_current_context().command
    refuse(output, inputs, name=lambda parameter: flag_for(parameter, command) or parameter)


@click.group()
def measurements() -> None:
    """Real drive-test measurements: import, locate towers, fit and cross-validate models."""


@measurements.command("import")
@click.argument("files", nargs=-1, required=True, type=FILE)
@output_option("Output GeoPackage (.gpkg): layers samples and bins.")
@defaulted(
    "--bin-size",
    10.0,
    "Bin side in metres (local UTM zone): count, mean and variance per cell and bin.",
)
@click.option("--no-filters", is_flag=True, help="Skip the Hampel outlier filters.")
@overwrite_option()
@friendly_errors
def import_(files, output, bin_size, no_filters, overwrite) -> None:
    """Import OpenCellID / MLS CSVs or point files (lon, lat, rsrp_dbm) into a GeoPackage."""
    from radiomap_geo.measurements.service import run_import

    refuse_input_as_output(output, files=files)
    report = run_import(files, output, bin_size, overwrite=overwrite, filters=not no_filters)
    for line in report.lines():
        click.echo(line)
    click.echo(f"wrote {output}")


@measurements.command()
@click.argument("measurements", metavar="MEASUREMENTS_FILE", type=FILE)
@output_option("Towers table (.gpkg, .geojson, .json, .fgb or .csv): a valid --tx-file.")
@defaulted(
    "--height", 25.0, "Assumed antenna height above ground, m, in (0, 500].", dest="height_m"
)
@quiet_option
@overwrite_option()
@friendly_errors
def locate(measurements, output, height_m, quiet, overwrite) -> None:
    """Locate each cell's tower from timing advance and signal strength (one row per cell)."""
    from radiomap_geo.measurements.service import check_locate, run_locate

    refuse_input_as_output(output, measurements=measurements)
    check_locate(measurements, output, height_m)  # before the progress bar shows
    with RichProgress("locate", enabled=not quiet) as progress:
        towers = run_locate(measurements, output, height_m, overwrite, progress=progress)
    sites = towers.drop_duplicates("site")
    finite = sites.uncertainty_m[sites.uncertainty_m < float("inf")]
    click.echo(
        f"{len(towers)} cells on {len(sites)} sites; uncertainty radius (95 %) median "
        f"{finite.median():.0f} m; {len(sites) - len(finite)} sites undetermined (too few samples)"
    )
    click.echo(f"wrote {output}")


@measurements.command()
@drive_test_options
@defaulted("--method", "vae-likelihood-geo", type=click.Choice(METHOD_CHOICES))
@defaulted("--latent-dim", 2)
@defaulted("--vae-epochs", 20, type=click.IntRange(min=1))
@output_option("Fitted model file (.pt).")
@overwrite_option()
@friendly_errors
def fit(**opts) -> None:
    """Fit a coverage model to an imported drive test (use with predict --model fitted:FILE)."""
    from radiomap_geo.measurements.service import run_fit

    refuse_input_as_output(
        opts["output"],
        measurements=opts["measurements"],
        towers=opts["towers"],
        buildings=opts["buildings"],
    )
    info = run_fit(**opts)
    click.echo(
        f"{info['method']}: {info['cells']} cells, {info['bins']} bins, neural models for "
        f"{len(info['neural_sites'])} sites; sha256 {info['sha256'][:12]}"
    )
    click.echo(f"wrote {opts['output']}")


@measurements.command()
@drive_test_options
@defaulted(
    "--methods",
    "ldpl,mlp,vae-likelihood,vae-likelihood-geo",
    "Comma-separated: methods of 'fit --method', or the ablation mlp-physics-x5.",
)
@defaulted("--folds", 20)
@click.option("--blocked", is_flag=True, help="Spatially blocked folds (100 m squares).")
@defaulted("--min-samples", 30, type=click.IntRange(min=0))
@quiet_option
@friendly_errors
def crossval(methods: str, min_samples: int, quiet: bool, **drive_test) -> None:
    """Cross-validated MAE and interval coverage per method (cells with enough samples)."""
    from radiomap_geo.measurements.crossval import cells_with_samples, markdown_table, summarise
    from radiomap_geo.measurements.service import run_crossval

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    with RichProgress("crossval", enabled=not quiet) as progress:
        scores, table = run_crossval(methods=chosen, progress=progress, **drive_test)
    pooled, per_cell, _ = summarise(scores, cells_with_samples(table, min_samples))
    click.echo(markdown_table(pooled, "{:.3f}"))
    click.echo()
    click.echo(markdown_table(per_cell))
