"""``radiomap-geo train``: train a coverage network on a ray-traced dataset."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from radiomap_geo.cli.options import (
    EXISTING_FILE_TEXT,
    EXISTING_FOLDER,
    FOLDER,
    defaulted,
    field_option,
    optional,
)
from radiomap_geo.cli.running import RichProgress, friendly_errors, on_interrupt, quiet_option
from radiomap_geo.errors import InputError
from radiomap_geo.train_options import AMP_DTYPES, LOSSES, SCHEDULES, TrainConfig

TRAINING = TrainConfig()  # the defaults the flags show


def command_line(ctx: click.Context) -> str:
    """The command as the user could retype it: every argument and every non-default option."""
    words = [ctx.command_path if ctx.command_path.startswith("radiomap-geo") else "radiomap-geo"]
    if not ctx.command_path.startswith("radiomap-geo"):
        words.append(ctx.info_name or ctx.command.name or "")
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            words.append(shlex.quote(str(value)))
            continue
        if not isinstance(param, click.Option) or value == param.default or value is None:
            continue
        if param.is_flag:
            if param.secondary_opts and not value:
                words.append(param.secondary_opts[0])
            elif value:
                words.append(param.opts[0])
            continue
        words += [param.opts[0], shlex.quote(str(value))]
    return " ".join(words)


def _json_object(text: str | None, what: str, parameter: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InputError(
            f"{what} must be a JSON object, e.g. '{{\"base\": 16}}', got {text!r}: {exc}",
            parameter=parameter,
        ) from exc
    if not isinstance(value, dict):
        raise InputError(
            f"{what} must be a JSON object, e.g. '{{\"base\": 16}}', got {text!r}",
            parameter=parameter,
        )
    return value


def _list_archs(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from radiomap_geo.nets import describe_architectures

    for arch, text in describe_architectures().items():
        click.echo(f"{arch:16s} {text}")
    ctx.exit()


@click.command()
@click.argument("dataset_dir", type=EXISTING_FOLDER)
@defaulted("--arch", "unet", "Architecture (see --list-archs).")
@click.option(
    "--arch-kwargs",
    help='Architecture keyword arguments as JSON, e.g. \'{"base": 16, "depth": 4}\'.',
)
@click.option(
    "--channels",
    help="Comma-separated input channels in order [default: building_height,tx_height,"
    "anchor_x,anchor_y,distance,azimuth_cos,azimuth_sin,antenna_gain].",
)
@click.option("--name", help="Weights name, e.g. unet-small [default: --arch].")
@click.option(
    "-o",
    "--out-dir",
    type=FOLDER,
    help="Run folder: checkpoint, log, weights [default: runs/<name>].",
)
@field_option("--epochs", TRAINING, "epochs", type=click.IntRange(min=1))
@defaulted(
    "--batch-size",
    8,
    "Maps (or crops) per optimisation step.",
    type=click.IntRange(min=1),
)
@field_option("--lr", TRAINING, "lr")
@field_option("--schedule", TRAINING, "schedule", type=click.Choice(SCHEDULES))
@field_option("--weight-decay", TRAINING, "weight_decay")
@field_option("--patience", TRAINING, "patience", type=click.IntRange(min=1))
@field_option("--loss", TRAINING, "loss", type=click.Choice(LOSSES))
@field_option("--weak-weight", TRAINING, "weak_weight")
@optional(
    "--crop",
    click.IntRange(min=1),
    "Train on random CROP x CROP windows holding the site (at most the map side) "
    "[default: whole maps].",
)
@optional(
    "--init-weights",
    EXISTING_FILE_TEXT,
    "Start from these weights (fine-tuning; same architecture and channels).",
)
@optional(
    "--max-train-maps", click.IntRange(min=1), "Use a random subset of this many training maps."
)
@optional(
    "--max-val-maps", click.IntRange(min=1), "Use a random subset of this many validation maps."
)
@optional(
    "--reach",
    float,
    "Metres from the site the network is used for [default: 0.75 map side].",
    dest="reach_m",
)
@optional(
    "--no-ray-label",
    float,
    "Label (dB) for outdoor cells no ray reached, e.g. -160 [default: ignore them].",
    dest="no_ray_label_db",
)
@optional(
    "--second-traces",
    click.Path(exists=True, file_okay=False),
    "Folder with a second ray-traced run of some training tiles (scripts/retrace_split.py "
    "--split train): their labels become the two runs' power mean.",
)
@optional(
    "--more-rays",
    click.Path(exists=True, file_okay=False),
    "Folder with a trace of some training tiles with more rays (scripts/retrace_split.py "
    "--split train --samples 1e7): their labels are replaced by it.",
)
@optional(
    "--maps-from",
    click.Path(exists=True, file_okay=False),
    "Train on just the maps this dataset folder also holds (e.g. the --more-rays folder).",
)
@click.option("--no-augment", is_flag=True, help="No rotations/mirrors.")
@optional(
    "--ortho-augment",
    click.FloatRange(min=0.0),
    "Strength of the photometric augmentation of the rendered orthophotos, 0 for none "
    "[default: 1 when --channels read the orthophoto].",
)
@defaulted(
    "--ortho-seed",
    0,
    "Seed of the orthophoto/nDSM renderings of the tiles (for ortho_* and ndsm channels; "
    "the dataset holds building heights only).",
)
@field_option("--device", TRAINING, "device")
@field_option("--amp-dtype", TRAINING, "amp_dtype", type=click.Choice(AMP_DTYPES))
@optional("--threads", click.IntRange(min=1), "CPU threads for torch.")
@field_option("--seed", TRAINING, "seed")
@defaulted("--resume/--no-resume", True, "Continue the run found in the run folder, or start over.")
@click.option(
    "--list-archs",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_list_archs,
    help="List the architectures and exit.",
)
@quiet_option
@click.pass_context
@friendly_errors(also=(RuntimeError,))  # e.g. --device cuda without a GPU
def train(ctx: click.Context, dataset_dir: Path, **opts) -> None:
    """Train a coverage network on DATASET_DIR (from 'radiomap-geo dataset build').

    Early stopping on the dataset's validation split (without one: all epochs, the last kept,
    and a warning); checkpoints every epoch in the run folder (rerun the same command to resume).
    Writes <out-dir>/<name>-<sha12>.pt and train_log.json; every setting is checked first and a
    failed run leaves nothing behind.
    """
    import torch

    from radiomap_geo.nets.pipeline import train_from_dataset

    arch_kwargs = _json_object(opts["arch_kwargs"], "--arch-kwargs", "arch_kwargs")
    if opts["threads"]:
        torch.set_num_threads(opts["threads"])
    channels = [c.strip() for c in opts["channels"].split(",")] if opts["channels"] else None
    command = command_line(ctx)

    def echo(record: dict) -> None:
        if opts["quiet"]:
            return
        parts = [f"epoch {record['epoch'] + 1}", f"train loss {record['train_loss']:.5f}"]
        if "val_rmse_db" in record:
            parts += [
                f"val loss {record['val_loss']:.5f}",
                f"val RMSE {record['val_rmse_db']:.2f} dB",
            ]
        parts += [f"lr {record['lr']:.2e}", f"{record['seconds']:.0f} s"]
        click.echo(", ".join(parts), err=True)

    on_interrupt(
        "the last finished epoch is kept in the checkpoint; rerun the same command to resume"
    )
    with RichProgress("train", enabled=not opts["quiet"]) as progress:
        run = train_from_dataset(
            dataset_dir,
            opts["arch"],
            opts["out_dir"],
            name=opts["name"],
            channels=channels,
            arch_kwargs=arch_kwargs,
            epochs=opts["epochs"],
            batch_size=opts["batch_size"],
            lr=opts["lr"],
            crop=opts["crop"],
            max_train_maps=opts["max_train_maps"],
            max_val_maps=opts["max_val_maps"],
            device=opts["device"],
            resume=opts["resume"],
            reach_m=opts["reach_m"],
            augment=not opts["no_augment"],
            no_ray_label_db=opts["no_ray_label_db"],
            second_traces=opts["second_traces"],
            more_rays=opts["more_rays"],
            maps_from=opts["maps_from"],
            seed=opts["seed"],
            train_config={
                "schedule": opts["schedule"],
                "weight_decay": opts["weight_decay"],
                "patience": opts["patience"],
                "loss": opts["loss"],
                "weak_weight": opts["weak_weight"],
                "amp_dtype": opts["amp_dtype"],
            },
            init_weights=opts["init_weights"],
            ortho_seed=opts["ortho_seed"],
            ortho_augment=opts["ortho_augment"],
            command=command,
            progress=progress,
            log=echo,
        )
    result = run.result
    best = f"best epoch {result.best_epoch + 1}, " if result.best_epoch is not None else ""
    click.echo(
        f"{len(result.history)} epochs ({best}"
        f"{'stopped early, ' if result.stopped_early else ''}"
        f"{sum(r['seconds'] for r in result.history):.0f} s): wrote {run.weights_path} "
        f"(sha256 {run.sha256[:12]}...) and {run.log_path}"
    )
