"""Entry point of the ``radiomap-geo`` command."""

from __future__ import annotations

import logging

import click

from radiomap_geo import __version__
from radiomap_geo.cli.dataset import dataset
from radiomap_geo.cli.evaluate import evaluate
from radiomap_geo.cli.measurements import measurements
from radiomap_geo.cli.optimize import optimize
from radiomap_geo.cli.predict import predict
from radiomap_geo.cli.predict_city import predict_city
from radiomap_geo.cli.radiocycle import infer_buildings
from radiomap_geo.cli.simulate import simulate
from radiomap_geo.cli.sparse import (
    evaluate_measurements,
    measurement_models,
    predict_measurements,
    ship_measurement_model,
    train_measurements,
)
from radiomap_geo.cli.train import train
from radiomap_geo.models.registry import PROVENANCE_LOGGER


@click.group()
@click.version_option(__version__, prog_name="radiomap-geo")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Georeferenced radio coverage maps from GIS data."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Which model, weights hash and fallback produced a map belongs in every run's log.
    logging.getLogger(PROVENANCE_LOGGER).setLevel(min(level, logging.INFO))


@cli.command()
def models() -> None:
    """List the models 'predict --model' accepts (the default first)."""
    from radiomap_geo.models.registry import describe_models

    described = describe_models()
    width = max(map(len, described))
    for name, description in described.items():
        click.echo(f"{name:{width}s}  {description}")


cli.add_command(predict)
cli.add_command(predict_city)
cli.add_command(simulate)
cli.add_command(dataset)
cli.add_command(train)
cli.add_command(evaluate)
cli.add_command(measurements)
cli.add_command(optimize)
cli.add_command(infer_buildings)
for _command in (
    train_measurements,
    evaluate_measurements,
    measurement_models,
    ship_measurement_model,
    predict_measurements,
):
    cli.add_command(_command)
