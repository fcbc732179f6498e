"""One training run on a dataset folder (the core of ``radiomap-geo train``; no click here).

:func:`train_from_dataset` reads a dataset folder (``radiomap-geo dataset build``), trains an
architecture on its ``train`` split with geometric augmentation (and optional random crops that
keep the site inside) and early stopping on its ``val`` split, and writes into ``out_dir``:
``run.json`` (the run's settings and the exact maps it uses, fixed at its start so a resumed run
sees the same data while the dataset keeps growing), ``checkpoint.pt`` (resumed from
automatically), ``train_log.json`` (updated every epoch) and the weights ``<name>-<sha12>.pt``
(float16, with metadata: channels, metres per pixel, frequency, reach, training data and time).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiomap_geo import jsonio
from radiomap_geo.dataset.traces import maps_also_in, with_more_rays, with_second_traces
from radiomap_geo.errors import Cancelled, InputError
from radiomap_geo.nets.augment import (
    MapBatches,
    TileRenderer,
    reads_ortho,
)
from radiomap_geo.nets.registry import DEFAULT_CHANNELS, build_network
from radiomap_geo.nets.run_checks import (
    check_channels,
    check_crop,
    check_numbers,
    check_out_dir,
    removed_on_failure,
)
from radiomap_geo.nets.samples import (
    CroppedMapBatches,
    _dataset_frequency,
    _load_split,
    _map_keys,
    _select,
    dataset_samples,
)
from radiomap_geo.nets.scaling import OutputScaling
from radiomap_geo.nets.train import (
    TrainConfig,
    TrainingDiverged,
    TrainResult,
    resolve_device,
    train,
)
from radiomap_geo.nets.warm_start import initial_weights, warm_start_state
from radiomap_geo.nets.weights import make_metadata, save_weights, sha256_file
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor

RUN_FILE = "run.json"
LOG_FILE = "train_log.json"
CHECKPOINT_FILE = "checkpoint.pt"

log_ = logging.getLogger(__name__)

#: Settings of a run that must not change when it is resumed.
_RUN_KEYS = (
    "arch",
    "arch_kwargs",
    "channels",
    "name",
    "crop",
    "batch_size",
    "augment",
    "no_ray_label_db",
    "second_traces",
    "more_rays",
    "maps_from",
    "reach_m",
    "seed",
    "train_config",
    "init_weights",
    "ortho_seed",
    "ortho_augment",
)

#: Settings added after runs were recorded without them, with the value those runs had.
_LATER_KEYS = {"more_rays": None, "maps_from": None}


def _train_config_fields() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


class _Monitored:
    """Batches that report progress and check for cancellation before each batch."""

    def __init__(self, batches, monitor, epochs: int, steps: int, first_epoch: list[int]):
        self.batches, self.monitor = batches, monitor
        self.epochs, self.steps = epochs, steps
        self.epoch = first_epoch  # shared, updated by the epoch logger

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        total = self.epochs * self.steps
        for step, batch in enumerate(self.batches):
            done = self.epoch[0] * self.steps + step
            self.monitor.step(min(done, total), total, f"epoch {self.epoch[0] + 1}/{self.epochs}")
            yield batch


@dataclass
class TrainRun:
    """What :func:`train_from_dataset` wrote, and the training history."""

    weights_path: Path
    log_path: Path
    checkpoint_path: Path
    result: TrainResult
    metadata: dict[str, Any]

    @property
    def sha256(self) -> str:
        """SHA-256 of the weights file."""
        return sha256_file(self.weights_path)


# -- training ----------------------------------------------------------------------------------


def train_from_dataset(
    dataset_dir: str | os.PathLike,
    arch: str = "unet",
    out_dir: str | os.PathLike | None = None,
    *,
    name: str | None = None,
    channels: Sequence[str] | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    epochs: int = TrainConfig.epochs,
    batch_size: int = 8,
    lr: float = TrainConfig.lr,
    crop: int | None = None,
    max_train_maps: int | None = None,
    max_val_maps: int | None = None,
    device: str = TrainConfig.device,
    resume: bool = True,
    reach_m: float | None = None,
    augment: bool = True,
    no_ray_label_db: float | None = None,
    second_traces: str | os.PathLike | None = None,
    more_rays: str | os.PathLike | None = None,
    maps_from: str | os.PathLike | None = None,
    seed: int = TrainConfig.seed,
    train_config: Mapping[str, Any] | None = None,
    init_weights: str | os.PathLike | None = None,
    ortho_seed: int = 0,
    ortho_augment: float | None = None,
    command: str | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
    log: Callable[[dict[str, Any]], None] | None = None,
) -> TrainRun:
    """Train ``arch`` on a dataset folder and write checkpoints, a log and the final weights.

    Args:
        dataset_dir: output folder of ``radiomap-geo dataset build`` (finished tiles are read,
            also while a build is still running).
        arch: architecture name (:func:`radiomap_geo.nets.list_architectures`).
        out_dir: run folder (default ``runs/<name>``); a run found there is resumed.
        name: weights name stem (default ``arch``), e.g. ``unet-small``.
        channels: input channels in order (default :data:`DEFAULT_CHANNELS`).
        arch_kwargs: the architecture's keyword arguments (``{"base": 16, "depth": 4}``...).
        epochs, batch_size, lr: the schedule (AdamW; one-cycle unless ``train_config`` says).
        crop: train on random ``crop`` x ``crop`` windows holding the site (validation uses
            whole maps); a multiple of the network's size multiple.
        max_train_maps, max_val_maps: use a seeded random subset of that many maps.
        device: ``cpu``, ``cuda`` or ``auto`` (CUDA with mixed precision when present).
        resume: continue the run in ``out_dir`` if there is one (else start over).
        reach_m: recorded reach of the network (default 0.75 of the map side).
        augment: the eight symmetries of the square (geometry-consistent).
        no_ray_label_db: label for outdoor cells without a ray (default: ignored).
        second_traces: a folder holding a second ray-traced run of some training tiles
            (``scripts/retrace_split.py --split train``): their labels are the two runs' power
            mean (:mod:`radiomap_geo.dataset.traces`); validation labels are left alone so
            validation scores stay comparable between runs.
        more_rays: a folder holding a trace of some training tiles with more rays per
            transmitter (``retrace_split.py --split train --samples 1e7``): their labels are
            replaced by it (after any averaging with ``second_traces``).
        maps_from: train on just the maps this dataset folder also holds (e.g. the tiles
            traced with more rays, with or without ``more_rays``: an ablation of the labels).
        seed: seed of the subset, the augmentation and the network's initialisation.
        train_config: further :class:`TrainConfig` fields (``patience``, ``weight_decay``,
            ``schedule``, ``loss``, ``weak_weight``, ``amp``...).
        init_weights: start from this weights file (fine-tuning, e.g. a network trained on
            crops continued on whole maps); it must have the same architecture, arguments,
            channels and output scaling.
        ortho_seed: with channels that read an orthophoto or an nDSM (``ortho_*``, ``ndsm``),
            which the dataset's tiles lack: the seed of their renderings (one per tile, the same
            every epoch, see :class:`~radiomap_geo.nets.augment.TileRenderer`; validation maps
            too, so validation errors are reproducible and comparable between runs).
        ortho_augment: strength of the photometric augmentation of the training orthophotos,
            drawn afresh each epoch (default 1.0 when the channels read the orthophoto; 0 =
            none; validation maps get none).
        command: the command line, recorded in the log and the weights.
        progress, is_cancelled: callbacks (per batch); cancelling keeps the last checkpoint.
        log: called with every epoch's record.

    Raises:
        InputError: bad settings, an empty split, a run folder among the inputs, or a run in
            ``out_dir`` with other settings. Every setting is checked before anything is
            written; a run that fails leaves nothing in ``out_dir`` (an interrupted one keeps
            its checkpoint). A dataset without a val split is trained on without validation
            (a warning says so).
        TrainingDiverged: the loss or the weights became NaN or infinite.
    """
    name = name or arch
    out = Path(out_dir) if out_dir is not None else Path("runs") / name
    channels = list(channels or DEFAULT_CHANNELS)
    arch_kwargs = dict(arch_kwargs or {})
    # Every check before any work: nothing is written when one fails.
    extra = _checked_train_config(train_config)
    check_numbers(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        crop=crop,
        max_train_maps=max_train_maps,
        max_val_maps=max_val_maps,
        reach_m=reach_m,
        no_ray_label_db=no_ray_label_db,
        ortho_augment=ortho_augment,
        train_config=extra,
    )
    check_channels(channels)
    check_out_dir(
        out,
        {
            "the dataset folder (DATASET_DIR)": dataset_dir,
            "the second-traces folder": second_traces,
            "the more-rays folder": more_rays,
            "the maps-from folder": maps_from,
        },
    )
    start = initial_weights(init_weights, arch, arch_kwargs, channels)
    if start is not None:
        extra["init_output_bias"] = False  # the start weights already have their bias
    renderer = TileRenderer.for_channels(channels, ortho_seed)
    ortho_strength = _ortho_strength(channels, ortho_augment)
    config = TrainConfig(epochs=epochs, lr=lr, device=device, seed=seed, **extra)
    resolve_device(config.device)  # --device cuda without a GPU fails here, not after the data
    net = _network(arch, channels, arch_kwargs, start, seed=seed)
    monitor = as_monitor(progress, is_cancelled)

    # Data: the maps are fixed when a run starts (the dataset may keep growing).
    train_ds, averaged, replaced = _training_split(dataset_dir, second_traces, more_rays)
    pool = None if maps_from is None else maps_also_in(train_ds, maps_from, "train")
    val_ds = _load_split(dataset_dir, "val", required=False)
    res, freq = train_ds.resolution, _dataset_frequency(train_ds)
    rx_height = float(train_ds.manifest["config"].get("rx_height_m", 1.5))
    side = int(train_ds.gain_db.shape[-1])
    reach = float(reach_m) if reach_m is not None else 0.75 * side * res
    _check_map_side(net, arch, crop, side)
    if val_ds is None or len(val_ds) == 0:
        log_.warning(
            "%s has no val split: training runs all %d epochs without validation or early "
            "stopping and keeps the last epoch's weights (patience %s is unused); build the "
            "dataset with a val split to stop early and keep the best epoch",
            dataset_dir,
            epochs,
            config.patience,
        )

    settings = {
        "arch": arch,
        "arch_kwargs": arch_kwargs,
        "channels": channels,
        "name": name,
        "crop": crop,
        "batch_size": batch_size,
        "augment": augment,
        "no_ray_label_db": no_ray_label_db,
        "second_traces": None if second_traces is None else str(second_traces),
        "maps_traced_twice": averaged,
        "more_rays": None if more_rays is None else str(more_rays),
        "maps_from": None if maps_from is None else str(maps_from),
        "maps_with_more_rays": len(replaced),
        "reach_m": reach,
        "seed": seed,
        "train_config": {k: v for k, v in asdict(config).items() if k != "device"},
        "init_weights": None if start is None else f"{start.path.name} (sha256 {start.sha256})",
        "ortho_seed": None if renderer is None else renderer.seed,
        "ortho_augment": ortho_strength,
    }
    # A failed run leaves nothing behind; an interrupted one (or one that fails after finished
    # epochs for another reason than diverging) keeps its checkpoint: rerun it to resume.
    epoch_box, first_epoch = [0], [0]

    def keep(err: BaseException) -> bool:
        if isinstance(err, Cancelled | KeyboardInterrupt):
            return True
        return not isinstance(err, TrainingDiverged) and epoch_box[0] > first_epoch[0]

    with removed_on_failure(out, keep):
        ckpt_path, log_path = out / CHECKPOINT_FILE, out / LOG_FILE
        train_keys, val_keys = _run_maps(
            out,
            {"settings": settings, "dataset": str(dataset_dir), "command": command},
            train_ds,
            val_ds,
            max_train_maps=max_train_maps,
            max_val_maps=max_val_maps,
            resume=resume,
            train_pool=pool,
        )
        train_index = _select(train_ds, train_keys)
        train_samples = dataset_samples(train_ds, train_index, rx_height, renderer)
        val_samples = (
            dataset_samples(val_ds, _select(val_ds, val_keys), rx_height, renderer)
            if val_keys
            else []
        )
        if not train_samples:
            raise InputError(f"{dataset_dir} has no training maps")

        scaling = OutputScaling()
        # Both streams cache the ray-walk channels of their maps (computed in the first epoch; about
        # 80 KiB per 128 x 128 map with los and both obstruction channels).
        train_batches = CroppedMapBatches(
            train_samples,
            channels,
            batch_size,
            crop=crop,
            augment=augment,
            shuffle=True,
            seed=seed,
            no_ray_label_db=no_ray_label_db,
            ortho_augment=ortho_strength or 0.0,
        )
        val_batches = (
            MapBatches(val_samples, channels, batch_size, no_ray_label_db=no_ray_label_db)
            if val_samples
            else None
        )
        epoch_box[0] = first_epoch[0] = _first_epoch(ckpt_path)
        monitored = _Monitored(train_batches, monitor, epochs, len(train_batches), epoch_box)

        history: list[dict[str, Any]] = []
        data_info = _training_data(dataset_dir, train_ds, train_index, len(val_samples))
        # Labels of maps traced twice are the two runs' power mean (radiomap_geo.dataset.traces).
        data_info["maps_traced_twice"] = averaged
        data_info["maps_with_more_rays"] = len(replaced)  # labels from a trace with more rays
        run_log = {"settings": settings, "command": command, "data": data_info, "history": history}

        def on_epoch(record: dict[str, Any]) -> None:
            history.append(dict(record))
            epoch_box[0] = int(record["epoch"]) + 1
            _write_log(log_path, "running", run_log)
            if log is not None:
                log(dict(record))
            monitor.check()

        result = train(
            net,
            monitored,
            val_batches,
            config,
            scaling,
            checkpoint_path=ckpt_path,
            resume=resume,
            log=on_epoch,
        )
        history[:] = [dict(r) for r in result.history]
        training = _training_record(
            result, epochs, resolve_device(config.device), settings, command
        )
        metadata = make_metadata(
            net,
            channels,
            metres_per_pixel=res,
            frequency_mhz=freq,
            reach_m=reach,
            scaling=scaling,
            rx_height_m=rx_height,
            antenna_pattern="in_output",
            training_data=jsonio.plain(data_info),
            metrics=jsonio.plain(_best_val_metrics(result, len(val_samples))),
            name=name,
            training=jsonio.plain(training),
        )
        # train() has checked the weights are finite (no NaN weights are ever saved)
        weights = save_weights(net.cpu(), metadata, out, name)
        _write_log(
            log_path,
            "finished",
            run_log,
            weights=weights.name,
            sha256=sha256_file(weights),
            training=training,
        )
    return TrainRun(weights, log_path, ckpt_path, result, metadata)


def _checked_train_config(train_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The further :class:`TrainConfig` fields, refused when unknown or passed twice."""
    extra = dict(train_config or {})
    unknown = set(extra) - _train_config_fields()
    reserved = set(extra) & {"epochs", "lr", "device", "seed"}
    if unknown or reserved:
        raise InputError(
            f"train_config: unknown {sorted(unknown)} / pass {sorted(reserved)} directly"
        )
    return extra


def _training_split(dataset_dir, second_traces, more_rays) -> tuple[Any, int, np.ndarray]:
    """The train split (labels averaged with ``second_traces``, then replaced by
    ``more_rays``, where given), how many of its maps were averaged, and the replaced maps.
    """
    train_ds = _load_split(dataset_dir, "train")
    twice = replaced = np.zeros(0, int)
    if second_traces is not None:
        train_ds, twice = with_second_traces(train_ds, second_traces, "train")
    if more_rays is not None:
        train_ds, replaced = with_more_rays(train_ds, more_rays, "train")
    return train_ds, len(twice), replaced


def _run_maps(
    out: Path,
    record: dict[str, Any],
    train_ds: Any,
    val_ds: Any,
    *,
    max_train_maps: int | None,
    max_val_maps: int | None,
    resume: bool,
    train_pool: Sequence[int] | None = None,
) -> tuple[list, list]:
    """The (train, val) map keys of the run in ``out``: those ``run.json`` recorded when a run
    with the same settings is resumed, else a seeded subset, recorded with ``record``.

    Raises:
        InputError: ``out`` holds a run with other settings.
    """
    run_path = out / RUN_FILE
    settings = record["settings"]
    if resume and run_path.is_file():
        previous = json.loads(run_path.read_text())
        old, new = jsonio.plain(previous["settings"]), jsonio.plain(settings)
        changed = [k for k in _RUN_KEYS if old.get(k, _LATER_KEYS.get(k)) != new.get(k)]
        if changed:
            raise InputError(
                f"{out} holds a run with other settings ({', '.join(changed)}): use another "
                "output folder, or start over there (resume=False / --no-resume)"
            )
        return previous["train_maps"], previous["val_maps"]
    (out / CHECKPOINT_FILE).unlink(missing_ok=True)
    rng = np.random.default_rng(settings["seed"])
    keys = _map_keys(train_ds)
    if train_pool is not None:  # e.g. only the maps with more-ray labels
        keys = [keys[i] for i in sorted(int(i) for i in train_pool)]
    train_keys = _subset(keys, max_train_maps, rng)
    val_keys = _subset(_map_keys(val_ds), max_val_maps, rng) if val_ds is not None else []
    jsonio.write_json(
        run_path,
        {
            **record,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "train_maps": train_keys,
            "val_maps": val_keys,
        },
    )
    return train_keys, val_keys


def _network(arch: str, channels: Sequence[str], arch_kwargs: Mapping[str, Any], start, *, seed):
    """The seeded network (from ``start``'s weights when given)."""
    torch.manual_seed(seed)
    net = build_network(arch, len(channels), **arch_kwargs)
    if start is not None:
        net.load_state_dict(warm_start_state(net, start, channels))
    return net


def _check_map_side(net: Any, arch: str, crop: int | None, side: int) -> None:
    """Refuse maps the network cannot take and a crop it cannot take or they cannot give."""
    m = net.size_multiple
    check_crop(crop, side, m, arch)
    if side % m:
        raise InputError(
            f"{arch} needs map sides that are multiples of {m}; the dataset's are {side}: "
            "choose a shallower network",
            parameter="arch",
        )


def _first_epoch(checkpoint: Path) -> int:
    """The epoch a resumed run starts at (0 without a checkpoint)."""
    if not checkpoint.is_file():
        return 0
    return int(torch.load(checkpoint, map_location="cpu", weights_only=True)["epoch"]) + 1


def _write_log(path: Path, status: str, run_log: dict[str, Any], **more: Any) -> None:
    history = run_log["history"]
    jsonio.write_json(
        path,
        {
            "status": status,
            **run_log,
            "training_seconds": sum(float(r.get("seconds", 0.0)) for r in history),
            **more,
        },
    )


def _training_record(
    result: TrainResult, epochs: int, device: torch.device, settings: dict, command: str | None
) -> dict[str, Any]:
    """What the weights' metadata and the log say of the training itself."""
    seconds = sum(float(r.get("seconds", 0.0)) for r in result.history)
    return {
        "epochs_run": len(result.history),
        "epochs": epochs,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "seconds": round(seconds, 1),
        "device": str(device),
        "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "settings": settings,
        "command": command,
    }


def _best_val_metrics(result: TrainResult, val_maps: int) -> dict[str, Any]:
    """The validation scores of the best epoch (none without validation)."""
    best = next((r for r in result.history if r["epoch"] == result.best_epoch), None)
    if best is None:
        return {}
    return {
        "val": {"maps": val_maps, "rmse_db": best.get("val_rmse_db"), "loss": best.get("val_loss")}
    }


def _ortho_strength(channels: Sequence[str], strength: float | None) -> float | None:
    """The photometric augmentation strength of a run: None without orthophoto channels."""
    if not reads_ortho(channels):
        if strength:
            raise InputError(
                "ortho_augment needs orthophoto channels (ortho_r, ortho_g, ortho_b, ortho_ir)"
            )
        return None
    strength = 1.0 if strength is None else float(strength)
    if not (math.isfinite(strength) and strength >= 0):
        raise InputError(f"ortho_augment must be >= 0, got {strength}")
    return strength


def _subset(keys: list[tuple[int, int]], limit: int | None, rng: np.random.Generator):
    if limit is None or limit >= len(keys):
        return [list(k) for k in keys]
    if limit < 1:
        raise InputError(f"max maps must be >= 1, got {limit}")
    chosen = sorted(rng.choice(len(keys), size=limit, replace=False).tolist())
    return [list(keys[i]) for i in chosen]


def _training_data(dataset_dir, dataset: Any, train_index: Sequence[int], n_val: int) -> dict:
    manifest = dataset.manifest
    cfg = manifest["config"]
    sources: dict[str, int] = {}
    for index in train_index:
        src = dataset.tile_info(int(dataset.map_tile[index])).get("source", "?")
        sources[src] = sources.get(src, 0) + 1
    return {
        "dataset": Path(dataset_dir).name,
        "generator": "radiomap-geo dataset build (Sionna RT RadioMapSolver)",
        "train_maps": len(train_index),
        "train_tiles": len({int(dataset.map_tile[i]) for i in train_index}),
        "val_maps": n_val,
        "train_maps_per_source": sources,
        "map_cells": list(dataset.gain_db.shape[1:]),
        "resolution_m": dataset.resolution,
        "rx_height_m": cfg.get("rx_height_m"),
        "samples_per_tx": cfg.get("samples_per_tx"),
        "max_depth": cfg.get("max_depth"),
        "diffraction": cfg.get("diffraction"),
        "sites_per_tile": cfg.get("sites_per_tile"),
        "backend": manifest.get("backend", {}),
        "label": manifest.get("encoding", {}).get("quantity"),
    }
