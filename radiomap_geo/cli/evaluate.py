"""``radiomap-geo evaluate``: accuracy of a network and the baselines on a dataset split."""

from __future__ import annotations

import math
from pathlib import Path

import click

from radiomap_geo.cli.options import RichProgress, friendly_errors
from radiomap_geo.cli.train import command_line
from radiomap_geo.errors import InputError


@click.command()
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--model",
    default=None,
    help="Network to score: a shipped name, net:PATH or a .pt file [default: baselines only].",
)
@click.option(
    "--split",
    type=click.Choice(["test", "val", "train"]),
    default="test",
    show_default=True,
)
@click.option(
    "--baselines",
    default="3gpp-umi,3gpp-uma",
    show_default=True,
    help="Comma-separated empirical models scored on the same maps ('' for none).",
)
@click.option(
    "--rt-noise-tiles",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Re-trace this many tiles with another ray seed (Sionna RT; slow) to measure the "
    "tracer's own noise.",
)
@click.option("--rt-seed", type=int, default=1, show_default=True, help="Seed of that run.")
@click.option(
    "--max-maps", type=click.IntRange(min=1), default=None, help="Score only the first maps."
)
@click.option(
    "--net-mode",
    type=click.Choice(["tile", "engine"]),
    default="tile",
    show_default=True,
    help="tile: the network on the whole tile as trained; engine: through the prediction "
    "engine's site-centred window (and the fallback beyond its reach).",
)
@click.option(
    "--threshold",
    type=float,
    default=-130.0,
    show_default=True,
    help="Headline metrics over cells whose label is at least this (dB).",
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the full report as JSON here.",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the tables to this file.",
)
@click.option(
    "--ship-to",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Ship the scored network into this weights folder (file, model card, index.json).",
)
@click.option("--name", default=None, help="Shipped model name, e.g. unet-small.")
@click.option("--description", default=None, help="One-line description for the index.")
@click.option("--default", "make_default", is_flag=True, help="Make it the default model.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
@friendly_errors
def evaluate(ctx: click.Context, dataset_dir: Path, **opts) -> None:
    """Score a network, empirical baselines and the tracer's own noise on DATASET_DIR.

    Prints markdown tables: RMSE, MAE, NMSE and bias in dB over valid cells above --threshold and
    over all cells, by LOS/NLOS, path-gain bin and distance, and milliseconds per map.
    """
    from radiomap_geo.nets.pipeline import (
        evaluate_on_dataset,
        report_markdown,
        save_report,
        ship_weights,
    )

    if opts["model"] is not None and not opts["model"].strip():
        raise InputError(
            "the model name is empty: name a network or leave --model out to score the "
            "baselines only",
            parameter="model",
        )
    if not math.isfinite(opts["threshold"]):
        raise InputError(
            f"the threshold must be a number of dB, got {opts['threshold']}", parameter="threshold"
        )
    if opts["threads"]:
        import torch

        torch.set_num_threads(opts["threads"])
    if opts["ship_to"] and not (opts["model"] and opts["name"]):
        raise InputError(
            "--ship-to needs --model (the weights to ship) and --name", parameter="ship_to"
        )
    baselines = [b.strip() for b in opts["baselines"].split(",") if b.strip()]
    command = command_line(ctx)
    with RichProgress("evaluate", enabled=not opts["quiet"]) as progress:
        report = evaluate_on_dataset(
            opts["model"],
            dataset_dir,
            opts["split"],
            baselines=baselines,
            rt_noise_tiles=opts["rt_noise_tiles"],
            rt_seed=opts["rt_seed"],
            max_maps=opts["max_maps"],
            net_mode=opts["net_mode"],
            threshold_db=opts["threshold"],
            command=command,
            progress=progress,
        )
    text = report_markdown(report)
    click.echo(text)
    if opts["json_path"]:
        click.echo(f"wrote {save_report(report, opts['json_path'])}", err=True)
    if opts["markdown_path"]:
        opts["markdown_path"].parent.mkdir(parents=True, exist_ok=True)
        opts["markdown_path"].write_text(text)
        click.echo(f"wrote {opts['markdown_path']}", err=True)
    if opts["ship_to"]:
        weights = _weights_file(opts["model"])
        entry = ship_weights(
            weights,
            opts["ship_to"],
            opts["name"],
            description=opts["description"],
            report=report,
            default=opts["make_default"],
        )
        click.echo(
            f"shipped {opts['name']}: {opts['ship_to'] / entry['file']}, "
            f"{opts['ship_to'] / (opts['name'].lower() + '.md')}, index.json updated",
            err=True,
        )


def _weights_file(model: str) -> Path:
    """The weights file behind ``--model`` (a path, ``net:PATH`` or a shipped name)."""
    text = model[4:] if model.startswith("net:") else model
    path = Path(text)
    if path.is_file():
        return path
    from radiomap_geo.models.registry import shipped_models

    entry = shipped_models().get(model.lower())
    if entry is None:
        raise InputError(f"--ship-to needs a weights file; {model!r} is none")
    return Path(entry["path"])
