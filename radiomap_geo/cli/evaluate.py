"""``radiomap-geo evaluate``: accuracy of a network and the baselines on a dataset split."""

from __future__ import annotations

import math
from pathlib import Path

import click

from radiomap_geo.cli.options import EXISTING_FOLDER, FILE, FOLDER, defaulted, optional
from radiomap_geo.cli.running import RichProgress, friendly_errors, quiet_option
from radiomap_geo.cli.train import command_line
from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import is_within, same_file


@click.command()
@click.argument("dataset_dir", type=EXISTING_FOLDER)
@optional(
    "--model",
    str,
    "Network to score: a shipped name, net:PATH or a .pt file [default: baselines only].",
)
@defaulted(
    "--split",
    "test",
    "Dataset split to score on.",
    type=click.Choice(["test", "val", "train"]),
)
@defaulted(
    "--baselines",
    "3gpp-umi,3gpp-uma",
    "Comma-separated empirical models scored on the same maps ('' for none).",
)
@defaulted(
    "--rt-noise-tiles",
    0,
    "Re-trace this many tiles with another ray seed (Sionna RT; slow) to measure the tracer's "
    "own noise.",
    type=click.IntRange(min=0),
)
@defaulted("--rt-seed", 1, "Seed of that run.")
@optional("--max-maps", click.IntRange(min=1), "Score only the first maps.")
@defaulted(
    "--net-mode",
    "tile",
    "tile: the network on the whole tile as trained; engine: through the prediction engine's "
    "site-centred window (and the fallback beyond its reach).",
    type=click.Choice(["tile", "engine"]),
)
@defaulted("--threshold", -130.0, "Headline metrics over cells whose label is at least this (dB).")
@optional("--threads", click.IntRange(min=1), "CPU threads for torch.")
@optional("--json", FILE, "Write the full report as JSON here.", dest="json_path")
@optional("--markdown", FILE, "Also write the tables to this file.", dest="markdown_path")
@optional(
    "--ship-to",
    FOLDER,
    "Ship the scored network into this weights folder (file, model card, index.json).",
)
@optional(
    "--add-to-card",
    FILE,
    "Add the tables to this model card of the scored weights (a section per split and dataset "
    "folder, replaced on a rerun), e.g. scores against labels re-traced with more rays.",
)
@click.option("--name", help="Shipped model name, e.g. unet-small.")
@click.option("--description", help="One-line description for the index.")
@click.option("--default", "make_default", is_flag=True, help="Make it the default model.")
@quiet_option
@click.pass_context
@friendly_errors
def evaluate(ctx: click.Context, dataset_dir: Path, **opts) -> None:
    """Score a network, empirical baselines and the tracer's own noise on DATASET_DIR.

    Prints markdown tables: RMSE, MAE, NMSE and bias in dB over valid cells above --threshold and
    over all cells, by LOS/NLOS, path-gain bin and distance, and milliseconds per map.
    """
    from radiomap_geo.nets.pipeline import (
        add_report_to_card,
        check_model_card,
        evaluate_on_dataset,
        report_markdown,
        save_report,
        ship_weights,
    )
    from radiomap_geo.nets.weights import sha256_file

    if opts["model"] is not None and not opts["model"].strip():
        raise InputError(
            "the model name is empty: name a network or leave --model out to score the "
            "baselines only",
            parameter="model",
        )
    _check_paths(dataset_dir, opts)
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
    if opts["add_to_card"] and not opts["model"]:
        raise InputError(
            "--add-to-card needs --model (the weights the card describes)", parameter="add_to_card"
        )
    weights = _weights_file(opts["model"]) if opts["add_to_card"] or opts["ship_to"] else None
    if opts["add_to_card"]:  # a wrong card is refused before the scoring, not after
        weights_sha256 = sha256_file(weights)
        check_model_card(opts["add_to_card"], weights_sha256)
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
    if opts["add_to_card"]:
        card = add_report_to_card(opts["add_to_card"], report, weights_sha256)
        click.echo(f"added the tables to {card}", err=True)
    if opts["ship_to"]:
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


#: The files evaluate writes: option name (the key of its value) to its flag.
_OUTPUTS = {"json_path": "--json", "markdown_path": "--markdown", "add_to_card": "--add-to-card"}


def _check_paths(dataset_dir: Path, opts: dict) -> None:
    """Refuse outputs that are inputs, lie in the dataset folder or name the same file.

    The inputs are the dataset folder's files, the --model weights file and the --add-to-card
    card (which the command rewrites itself, so only the report files may not be it).
    """
    outputs = [(key, flag, opts[key]) for key, flag in _OUTPUTS.items() if opts[key] is not None]
    files = {"json_path", "markdown_path"}
    for i, (key, flag, path) in enumerate(outputs):
        for _, other_flag, other in outputs[:i]:
            if same_file(path, other):
                raise InputError(
                    f"{flag} {path} is also the {other_flag} file: one would replace the other; "
                    "give each its own path",
                    parameter=key,
                )
        if is_within(path, dataset_dir):
            raise InputError(
                f"{flag} {path} lies in the dataset folder {dataset_dir} (DATASET_DIR): it would "
                "replace or add to the dataset's files; write it outside the dataset folder",
                parameter=key,
            )
        model = _model_path(opts["model"])
        if key in files and model is not None and same_file(path, model):
            raise InputError(
                f"{flag} {path} is the --model weights file: it would replace the weights; "
                "write the report to another file",
                parameter=key,
            )
    ship_to = opts["ship_to"]
    if ship_to is None:
        return
    if is_within(ship_to, dataset_dir):
        raise InputError(
            f"--ship-to {ship_to} lies in the dataset folder {dataset_dir} (DATASET_DIR): "
            "ship the weights into a folder outside it, e.g. weights/",
            parameter="ship_to",
        )
    from radiomap_geo.models.registry import INDEX_FILE

    name = (opts["name"] or "").lower()
    shipped = {ship_to / INDEX_FILE: "index", ship_to / f"{name}.md": "model card"}
    for key, flag, path in outputs:
        hit = next((what for file, what in shipped.items() if same_file(path, file)), None)
        if key in files and hit is not None:
            raise InputError(
                f"{flag} {path} is the {hit} file --ship-to writes: one would replace the "
                "other; give the report another path",
                parameter=key,
            )


def _model_path(model: str | None) -> Path | None:
    """The file --model names when it names one (a path or net:PATH), else None."""
    if not model:
        return None
    path = Path(model[4:] if model.startswith("net:") else model)
    return path if path.is_file() else None


def _weights_file(model: str) -> Path:
    """The weights file behind ``--model`` (a path, ``net:PATH`` or a shipped name)."""
    text = model[4:] if model.startswith("net:") else model
    path = Path(text)
    if path.is_file():
        return path
    from radiomap_geo.models.registry import shipped_models

    entry = shipped_models().get(model.lower())
    if entry is None:
        raise InputError(
            f"{model!r} is not a weights file nor a shipped network: --ship-to and "
            "--add-to-card need one",
            parameter="model",
        )
    return Path(entry["path"])
