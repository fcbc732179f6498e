"""``radiomap-geo measurements``: import drive tests, locate towers, fit and cross-validate models."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from radiomap_geo.cli.options import RichProgress, friendly_errors
from radiomap_geo.errors import RadiomapError

#: Core parameter names of the measurement workflows -> this command's flags.
FLAGS = {
    "files": "FILES",
    "bin_size": "--bin-size",
    "measurements": "MEASUREMENTS",
    "towers": "--towers",
    "method": "--method",
    "folds": "--folds",
    "latent_dim": "--latent-dim",
    "buildings": "--buildings",
}
METHOD_CHOICES = ("vae-likelihood", "vae-likelihood-geo", "mlp", "ldpl")


def _named_errors(command):
    """Prefix errors with this command's flag for their parameter, then the usual handling."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RadiomapError as err:
            flag = FLAGS.get(err.parameter or "")
            if flag and not str(err).startswith(flag):
                raise type(err)(f"{flag}: {err}") from err
            raise

    return friendly_errors(wrapper)


overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace the output file if it exists."
)


@click.group()
def measurements() -> None:
    """Real drive-test measurements: import, locate towers, fit and cross-validate models."""


@measurements.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--bin-size",
    type=float,
    default=10.0,
    show_default=True,
    help="Bin side in metres (local UTM zone): count, mean and variance per cell and bin.",
)
@click.option("--no-filters", is_flag=True, help="Skip the Hampel outlier filters.")
@overwrite_option
@_named_errors
def import_(files, output, bin_size, no_filters, overwrite) -> None:
    """Import OpenCellID / MLS CSVs or point files (lon, lat, rsrp_dbm) into a GeoPackage."""
    from radiomap_geo.measurements.service import run_import

    report = run_import(files, output, bin_size, overwrite=overwrite, filters=not no_filters)
    for line in report.lines():
        click.echo(line)
    click.echo(f"wrote {output}")


@measurements.command()
@click.argument("measurements_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--height", type=float, default=25.0, show_default=True, help="Assumed antenna height, m."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@overwrite_option
@_named_errors
def locate(measurements_file, output, height, quiet, overwrite) -> None:
    """Locate each cell's tower from timing advance and signal strength (one row per cell)."""
    from radiomap_geo.measurements.service import run_locate

    with RichProgress("locate", enabled=not quiet) as progress:
        towers = run_locate(measurements_file, output, height, overwrite, progress=progress)
    sites = towers.drop_duplicates("site")
    finite = sites.uncertainty_m[sites.uncertainty_m < float("inf")]
    click.echo(
        f"{len(towers)} cells on {len(sites)} sites; uncertainty radius (95 %) median "
        f"{finite.median():.0f} m; {len(sites) - len(finite)} sites undetermined (too few samples)"
    )
    click.echo(f"wrote {output}")


@measurements.command()
@click.argument("measurements_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--towers", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--buildings", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--method",
    type=click.Choice(METHOD_CHOICES),
    default="vae-likelihood-geo",
    show_default=True,
)
@click.option("--latent-dim", type=int, default=2, show_default=True)
@click.option("--vae-epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@overwrite_option
@_named_errors
def fit(measurements_file, towers, buildings, method, latent_dim, vae_epochs, output, overwrite):
    """Fit a coverage model to an imported drive test (use with predict --model fitted:FILE)."""
    from radiomap_geo.measurements.service import run_fit

    info = run_fit(
        measurements_file,
        towers,
        output,
        method=method,
        buildings=buildings,
        latent_dim=latent_dim,
        vae_epochs=vae_epochs,
        overwrite=overwrite,
    )
    click.echo(
        f"{info['method']}: {info['cells']} cells, {info['bins']} bins, neural models for "
        f"{len(info['neural_sites'])} sites; sha256 {info['sha256'][:12]}"
    )
    click.echo(f"wrote {output}")


@measurements.command()
@click.argument("measurements_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--towers", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--buildings", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--methods", default="ldpl,mlp,vae-likelihood", show_default=True, help="Comma-separated."
)
@click.option("--folds", type=int, default=20, show_default=True)
@click.option("--blocked", is_flag=True, help="Spatially blocked folds (100 m squares).")
@click.option("--min-samples", type=int, default=30, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_named_errors
def crossval(measurements_file, towers, buildings, methods, folds, blocked, min_samples, quiet):
    """Cross-validated MAE and interval coverage per method (cells with enough samples)."""
    from radiomap_geo.measurements.crossval import cells_with_samples, markdown_table, summarise
    from radiomap_geo.measurements.service import run_crossval

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    with RichProgress("crossval", enabled=not quiet) as progress:
        scores, table = run_crossval(
            measurements_file,
            towers,
            chosen,
            folds=folds,
            blocked=blocked,
            buildings=buildings,
            progress=progress,
        )
    pooled, per_cell, _ = summarise(scores, cells_with_samples(table, min_samples))
    click.echo(markdown_table(pooled, "{:.3f}"))
    click.echo()
    click.echo(markdown_table(per_cell))
