"""Training and evaluation on the dataset builder's output, end to end (the core of the
``train`` and ``evaluate`` commands; no click here).

* :func:`train_from_dataset` reads a dataset folder (``radiomap-geo dataset build``), trains an
  architecture on its ``train`` split with geometric augmentation (and optional random crops
  that keep the site inside) and early stopping on its ``val`` split, and writes into
  ``out_dir``: ``run.json`` (the run's settings and the exact maps it uses, fixed at its start so
  a resumed run sees the same data while the dataset keeps growing), ``checkpoint.pt`` (resumed
  from automatically), ``train_log.json`` (updated every epoch) and the weights
  ``<name>-<sha12>.pt`` (float16, with metadata: channels, metres per pixel, frequency, reach,
  training data and time).
* :func:`evaluate_on_dataset` scores a network, the empirical baselines and, optionally, a
  second Sionna RT run of some tiles (the tracer's own noise) on a split: RMSE, MAE, NMSE, bias
  over valid cells, overall and for cells above ``threshold_db`` (the acceptance criterion),
  split by LOS/NLOS, distance and path-gain bins, plus milliseconds per map.
  :func:`report_markdown` renders the tables.
* :func:`ship_weights` copies trained weights into the shipped ``weights/`` folder (with the
  measured metrics inside the file), writes the model card (:func:`write_model_card`) and
  updates ``index.json`` for :mod:`radiomap_geo.models.registry`.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiomap_geo.errors import InputError
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.nets.augment import (
    IDENTITY,
    MapBatches,
    MapSample,
    TileRenderer,
    reads_ortho,
    tile_scene,
)
from radiomap_geo.nets.evaluate import DEFAULT_DISTANCE_BINS_M, MetricAccumulator
from radiomap_geo.nets.registry import DEFAULT_CHANNELS, build_network
from radiomap_geo.nets.scaling import OutputScaling
from radiomap_geo.nets.train import TrainConfig, TrainResult, resolve_device, train
from radiomap_geo.nets.weights import make_metadata, save_weights, sha256_file
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor
from radiomap_geo.rasterize import CHANNEL_DESCRIPTIONS

RUN_FILE = "run.json"
LOG_FILE = "train_log.json"
CHECKPOINT_FILE = "checkpoint.pt"
REPORT_FORMAT = "radiomap-geo-evaluation/1"
#: The acceptance criterion of issue 4 is measured on cells with path gain above this.
DEFAULT_THRESHOLD_DB = -130.0
DEFAULT_GAIN_BINS_DB = (-math.inf, -150.0, -140.0, -130.0, -120.0, -110.0, -100.0, -80.0, math.inf)
DEFAULT_BASELINES = ("3gpp-umi", "3gpp-uma")
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
    "reach_m",
    "seed",
    "train_config",
    "init_weights",
    "ortho_seed",
    "ortho_augment",
)


# -- small helpers -----------------------------------------------------------------------------


def _write_json(path: Path, data: Any) -> None:
    from radiomap_geo.dataset.store import write_json

    write_json(path, _plain_json(data))


def _plain_json(value: Any) -> Any:
    """JSON-safe copy: NaN -> None, infinities -> "inf"/"-inf", numpy scalars -> builtins."""
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def _train_config_fields() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


def _dataset_frequency(dataset: Any) -> float:
    freqs = np.unique(np.round(np.asarray(dataset.sites["site_frequency_mhz"], np.float64), 3))
    if len(freqs) != 1:
        raise InputError(
            f"the dataset mixes carrier frequencies {freqs.tolist()} MHz; a network is trained "
            "for one frequency"
        )
    return float(freqs[0])


def _load_split(dataset_dir: str | os.PathLike, split: str, required: bool = True):
    from radiomap_geo.dataset import load_dataset

    try:
        return load_dataset(dataset_dir, split)
    except InputError:
        if required:
            raise
        return None


def _map_keys(dataset: Any) -> list[tuple[int, int]]:
    """``(tile_id, site number)`` of every map: stable across dataset growth."""
    tiles = np.asarray(dataset.tile_id)[np.asarray(dataset.map_tile)]
    return [(int(t), int(s)) for t, s in zip(tiles, np.asarray(dataset.sites["map_site"]))]


def _select(dataset: Any, keys: Sequence[Sequence[int]] | None) -> list[int]:
    """Indices of the maps with ``keys`` (all maps when None); missing keys raise."""
    all_keys = _map_keys(dataset)
    if keys is None:
        return list(range(len(all_keys)))
    where = {k: i for i, k in enumerate(all_keys)}
    wanted = [tuple(int(v) for v in k) for k in keys]
    missing = [k for k in wanted if k not in where]
    if missing:
        raise InputError(
            f"{len(missing)} map(s) this run was started with are no longer in the dataset "
            f"(first: tile {missing[0][0]} site {missing[0][1]}): start a new run"
        )
    return [where[k] for k in wanted]


def dataset_samples(
    dataset: Any,
    indices: Iterable[int],
    rx_height_m: float | None = None,
    renderer: TileRenderer | None = None,
) -> list[MapSample]:
    """:class:`MapSample` objects of the maps ``indices`` of a loaded split.

    The maps of a tile share one scene; with ``renderer`` it carries the tile's rendered
    orthophoto / nDSM (rendered once per tile, see :class:`TileRenderer`). Each sample's
    ``key`` is its map's ``(tile_id, site number)`` (stable across dataset growth), which lets
    :class:`MapBatches` cache its ray-walk channels.
    """
    if rx_height_m is None:
        rx_height_m = float(dataset.manifest["config"].get("rx_height_m", 1.5))
    keys = _map_keys(dataset)
    scenes: dict[int, SceneInputs] = {}
    out = []
    for index in indices:
        tile = int(dataset.map_tile[index])
        if tile not in scenes:
            scenes[tile] = tile_scene(dataset, tile, rx_height_m, renderer)
        site, gain, valid = dataset.site(index), dataset.gain_db[index], dataset.mask[index]
        out.append(MapSample(scenes[tile], site, gain, valid, key=keys[index]))
    return out


def crop_sample(sample: MapSample, size: int, rng: np.random.Generator) -> MapSample:
    """A random ``size`` x ``size`` window of a sample that keeps the site inside when it can.

    The crop keeps the sample's ``key`` and records where it lies in the keyed whole map
    (``window``), so cached channels can be cut to it; a crop of a transformed sample drops the
    key (its channels are then computed afresh).
    """
    grid = sample.scene.grid
    rows, cols = grid.shape
    if size >= rows and size >= cols:
        return sample
    h, w = min(size, rows), min(size, cols)
    row, col = (int(v) for v in grid.rowcol(sample.site.x, sample.site.y))

    def start(pos: int, n: int, k: int) -> int:
        lo, hi = max(0, pos - k + 1), min(n - k, pos)
        if lo > hi:  # the site is outside the map: any window
            lo, hi = 0, n - k
        return int(rng.integers(lo, hi + 1))

    r0, c0 = start(row, rows, h), start(col, cols, w)
    sl = (slice(r0, r0 + h), slice(c0, c0 + w))
    return MapSample(
        scene=sample.scene.crop(r0, c0, h, w),
        site=sample.site,
        path_gain_db=sample.path_gain_db[sl],
        valid=sample.valid[sl],
        los=None if sample.los is None else sample.los[sl],
        **_crop_provenance(sample, r0, c0, h, w),
    )


def _crop_provenance(sample: MapSample, r0: int, c0: int, h: int, w: int) -> dict[str, Any]:
    """``key`` and ``window`` of a crop at ``(r0, c0)`` of ``sample`` (no key if transformed)."""
    if sample.key is None or sample.symmetry != IDENTITY:
        return {}
    r_prev, c_prev = sample.window[:2] if sample.window is not None else (0, 0)
    return {"key": sample.key, "window": (r_prev + r0, c_prev + c0, h, w)}


class CroppedMapBatches(MapBatches):
    """:class:`MapBatches` whose samples are randomly cropped (see :func:`crop_sample`) first.

    The whole maps still go through the channel cache first, so cropped samples get their
    ray-walk channels cut from the whole map's (see
    :class:`~radiomap_geo.nets.augment.RayChannelCache`).
    """

    def __init__(
        self,
        samples: Sequence[MapSample] | Callable[[], Iterable[MapSample]],
        channels: Sequence[str],
        batch_size: int,
        *,
        crop: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(samples, channels, batch_size, **kwargs)
        self.crop = crop

    def _window(self, sample: MapSample) -> MapSample:
        return crop_sample(sample, self.crop, self.rng) if self.crop else sample


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
    epochs: int = 50,
    batch_size: int = 8,
    lr: float = 1e-3,
    crop: int | None = None,
    max_train_maps: int | None = None,
    max_val_maps: int | None = None,
    device: str = "cpu",
    resume: bool = True,
    reach_m: float | None = None,
    augment: bool = True,
    no_ray_label_db: float | None = None,
    seed: int = 0,
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
        InputError: bad settings, an empty split, or a run in ``out_dir`` with other settings.
    """
    name = name or arch
    out = Path(out_dir) if out_dir is not None else Path("runs") / name
    channels = list(channels or DEFAULT_CHANNELS)
    arch_kwargs = dict(arch_kwargs or {})
    extra = dict(train_config or {})
    unknown = set(extra) - _train_config_fields()
    reserved = set(extra) & {"epochs", "lr", "device", "seed"}
    if unknown or reserved:
        raise InputError(
            f"train_config: unknown {sorted(unknown)} / pass {sorted(reserved)} directly"
        )
    if batch_size < 1 or epochs < 1:
        raise InputError("epochs and batch_size must be >= 1")
    start = _initial_weights(init_weights, arch, arch_kwargs, channels)
    if start is not None:
        extra["init_output_bias"] = False  # the start weights already have their bias
    renderer = TileRenderer.for_channels(channels, ortho_seed)
    ortho_strength = _ortho_strength(channels, ortho_augment)
    config = TrainConfig(epochs=epochs, lr=lr, device=device, seed=seed, **extra)
    monitor = as_monitor(progress, is_cancelled)

    # Data: the maps are fixed when a run starts (the dataset may keep growing).
    train_ds = _load_split(dataset_dir, "train")
    val_ds = _load_split(dataset_dir, "val", required=False)
    res, freq = train_ds.resolution, _dataset_frequency(train_ds)
    rx_height = float(train_ds.manifest["config"].get("rx_height_m", 1.5))
    side = int(train_ds.gain_db.shape[-1])
    reach = float(reach_m) if reach_m is not None else 0.75 * side * res

    settings = {
        "arch": arch,
        "arch_kwargs": arch_kwargs,
        "channels": channels,
        "name": name,
        "crop": crop,
        "batch_size": batch_size,
        "augment": augment,
        "no_ray_label_db": no_ray_label_db,
        "reach_m": reach,
        "seed": seed,
        "train_config": {k: v for k, v in asdict(config).items() if k != "device"},
        "init_weights": None if start is None else f"{start.path.name} (sha256 {start.sha256})",
        "ortho_seed": None if renderer is None else renderer.seed,
        "ortho_augment": ortho_strength,
    }
    out.mkdir(parents=True, exist_ok=True)
    run_path, ckpt_path, log_path = out / RUN_FILE, out / CHECKPOINT_FILE, out / LOG_FILE
    previous = json.loads(run_path.read_text()) if (resume and run_path.is_file()) else None
    if previous is not None:
        old = _plain_json(previous["settings"])
        new = _plain_json(settings)
        changed = [k for k in _RUN_KEYS if old.get(k) != new.get(k)]
        if changed:
            raise InputError(
                f"{out} holds a run with other settings ({', '.join(changed)}): use another "
                "output folder, or start over there (resume=False / --no-resume)"
            )
        train_keys, val_keys = previous["train_maps"], previous["val_maps"]
    else:
        ckpt_path.unlink(missing_ok=True)
        rng = np.random.default_rng(seed)
        train_keys = _subset(_map_keys(train_ds), max_train_maps, rng)
        val_keys = _subset(_map_keys(val_ds), max_val_maps, rng) if val_ds is not None else []
        _write_json(
            run_path,
            {
                "settings": settings,
                "dataset": str(dataset_dir),
                "command": command,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "train_maps": train_keys,
                "val_maps": val_keys,
            },
        )
    train_index = _select(train_ds, train_keys)
    train_samples = dataset_samples(train_ds, train_index, rx_height, renderer)
    val_samples = (
        dataset_samples(val_ds, _select(val_ds, val_keys), rx_height, renderer) if val_keys else []
    )
    if not train_samples:
        raise InputError(f"{dataset_dir} has no training maps")

    torch.manual_seed(seed)
    net = build_network(arch, len(channels), **arch_kwargs)
    if start is not None:
        net.load_state_dict(warm_start_state(net, start, channels))
    m = net.size_multiple
    if crop is not None and (crop < m or crop % m):
        raise InputError(f"crop must be a positive multiple of {m} for {arch}, got {crop}")
    if side % m:
        raise InputError(
            f"{arch} needs map sides that are multiples of {m}; the dataset's are {side}: "
            "choose a shallower network"
        )
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
    epoch_box = [0]
    if ckpt_path.is_file():
        epoch_box[0] = (
            int(torch.load(ckpt_path, map_location="cpu", weights_only=True)["epoch"]) + 1
        )
    monitored = _Monitored(train_batches, monitor, epochs, len(train_batches), epoch_box)

    history: list[dict[str, Any]] = []
    data_info = _training_data(dataset_dir, train_ds, train_index, len(val_samples))

    def write_log(status: str, **more: Any) -> None:
        _write_json(
            log_path,
            {
                "status": status,
                "settings": settings,
                "command": command,
                "data": data_info,
                "history": history,
                "training_seconds": sum(float(r.get("seconds", 0.0)) for r in history),
                **more,
            },
        )

    def on_epoch(record: dict[str, Any]) -> None:
        history.append(dict(record))
        epoch_box[0] = int(record["epoch"]) + 1
        write_log("running")
        if log is not None:
            log(dict(record))
        monitor.check()

    device = resolve_device(config.device)
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
    seconds = sum(float(r.get("seconds", 0.0)) for r in result.history)
    best = (
        next((r for r in result.history if r["epoch"] == result.best_epoch), None)
        if result.best_epoch is not None
        else None
    )
    training = {
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
    metrics = {}
    if best is not None:
        metrics["val"] = {
            "maps": len(val_samples),
            "rmse_db": best.get("val_rmse_db"),
            "loss": best.get("val_loss"),
        }
    metadata = make_metadata(
        net,
        channels,
        metres_per_pixel=res,
        frequency_mhz=freq,
        reach_m=reach,
        scaling=scaling,
        rx_height_m=rx_height,
        antenna_pattern="in_output",
        training_data=_plain_json(data_info),
        metrics=_plain_json(metrics),
        name=name,
        training=_plain_json(training),
    )
    weights = save_weights(net.cpu(), metadata, out, name)
    write_log("finished", weights=weights.name, sha256=sha256_file(weights), training=training)
    return TrainRun(weights, log_path, ckpt_path, result, metadata)


def _initial_weights(path, arch: str, arch_kwargs: Mapping[str, Any], channels: Sequence[str]):
    """The verified weights to fine-tune from, or None; refuses weights of another network.

    The start's channels must be among this run's (new channels start with zero weights).
    """
    if path is None:
        return None
    from radiomap_geo.nets.weights import load_weights

    start = load_weights(path)
    meta = start.metadata
    built = build_network(arch, len(channels), **arch_kwargs).config
    theirs = build_network(meta["arch"], len(meta["channels"]), **meta["arch_kwargs"]).config
    mismatch = [
        what
        for what, ok in (
            ("architecture", meta["arch"] == arch and built == theirs),
            ("channels", set(meta["channels"]) <= set(channels)),
            ("output scaling", start.scaling == OutputScaling()),
        )
        if not ok
    ]
    if mismatch:
        raise InputError(
            f"cannot start from {path}: its {', '.join(mismatch)} differ from this run's "
            f"({meta['arch']} {meta['arch_kwargs']}, channels {meta['channels']}; a run may add "
            "channels, not drop them)"
        )
    return start


def warm_start_state(net: Any, start: Any, channels: Sequence[str]) -> dict[str, torch.Tensor]:
    """``start``'s tensors for ``net`` with input ``channels`` (a superset of the start's).

    The first convolution's weights are re-ordered to ``channels``; channels the start did not
    have get zero weights, so the network begins exactly as the start and learns to use them.
    """
    old = list(start.metadata["channels"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in start.state_dict.items()}
    if old == list(channels):
        return state
    own = net.state_dict()
    first = [k for k, v in state.items() if v.ndim == 4 and tuple(v.shape) != tuple(own[k].shape)]
    if len(first) != 1 or state[first[0]].shape[1] != len(old):
        raise InputError(
            f"cannot add input channels to {start.path.name}: its {start.metadata['arch']} "
            "network reads the inputs in more than one layer"
        )
    key = first[0]
    weight = torch.zeros_like(own[key])
    for j, name in enumerate(channels):
        if name in old:
            weight[:, j] = state[key][:, old.index(name)]
    state[key] = weight
    return state


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


# -- evaluation --------------------------------------------------------------------------------


def _resolve_model(model: Any) -> Any:
    """A model object from a registry name, ``net:PATH``, a weights path or a model."""
    if model is None or hasattr(model, "path_gain_db"):
        return model
    text = str(model)
    if text.endswith(".pt") and Path(text).is_file() and not text.startswith("net:"):
        text = f"net:{text}"
    from radiomap_geo.models.registry import get_model

    return get_model(text)


def _network_of(model: Any) -> Any:
    """The :class:`NetworkModel` inside a model (itself, a blend's network) or None."""
    from radiomap_geo.nets.model import NetworkModel

    if isinstance(model, NetworkModel):
        return model
    inner = getattr(model, "net", None)
    return inner if isinstance(inner, NetworkModel) else None


def predict_tile(net_model: Any, scene: SceneInputs, site) -> np.ndarray:
    """The network run on the whole tile, as in training (padded to its size multiple)."""
    from radiomap_geo.nets.model import window_scene

    net_model._check_rx_height(scene)
    correction = net_model.frequency_correction_db(site.frequency_mhz)
    h, w = scene.grid.shape
    m = net_model.net.size_multiple
    hh, ww = -(-h // m) * m, -(-w // m) * m
    if (hh, ww) != (h, w):
        scene = window_scene(scene, 0, 0, hh, ww)
    db = net_model.predict_window(scene, site)[:h, :w]
    return (db + np.float32(correction)).astype(np.float32)


def _predict(model: Any, tile_net: Any, scene: SceneInputs, site) -> np.ndarray:
    """A model's prediction on the scene's whole grid (the network on the tile if given)."""
    if tile_net is not None:
        return predict_tile(tile_net, scene, site)
    return model.path_gain_db(scene, site, scene.grid)


class _Scores:
    """All accumulators of one model."""

    def __init__(self, name: str, kind: str, options: dict, threshold_db: float):
        self.name, self.kind, self.threshold_db = name, kind, threshold_db
        self.all = MetricAccumulator(**options)
        self.above = MetricAccumulator(**options)
        self.seconds, self.maps, self.valid, self.predicted = 0.0, 0, 0, 0

    def add(self, pred, true, valid, los, dist, seconds: float | None) -> None:
        valid = valid & np.isfinite(true)
        self.all.update(pred, true, valid, los, dist)
        with np.errstate(invalid="ignore"):
            above = valid & (true >= self.threshold_db)
        self.above.update(pred, true, above, los, dist)
        self.maps += 1
        self.valid += int(valid.sum())
        self.predicted += int((valid & np.isfinite(pred)).sum())
        if seconds is not None:
            self.seconds += seconds

    def result(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "maps": self.maps,
            "coverage": self.predicted / self.valid if self.valid else math.nan,
            "ms_per_map": 1000.0 * self.seconds / self.maps if self.maps else math.nan,
            "above_threshold": self.above.result(),
            "metrics": self.all.result(),
        }


def retrace_tile(dataset: Any, tile: int, seed: int) -> dict[int, tuple[np.ndarray, float]]:
    """Ray-trace every map of tile number ``tile`` again with another ray seed.

    Rebuilds the tile's buildings exactly as the builder did (same source, region and seed),
    checks that they rasterise to the stored heights, and solves every site with the dataset's
    settings. Returns ``{map index: (gain_db with NaN where no ray or indoors, seconds)}``.

    Raises:
        InputError: the tile's buildings cannot be rebuilt identically here (missing source
            files, or other building data).
    """
    from radiomap_geo.dataset.build import BuildConfig, load_tile_scene, tile_heights, trace_site
    from radiomap_geo.dataset.sampling import TileSpec

    config = BuildConfig.from_dict(dataset.manifest["config"])
    spec = TileSpec.from_dict(dataset.tile_info(tile))
    grid = dataset.grid(tile)
    buildings, heights = tile_heights(spec, config, grid)
    stored = dataset.building_height_m[tile]
    if not np.allclose(heights, stored, atol=0.051):
        raise InputError(
            f"tile {int(dataset.tile_id[tile])}: its buildings rebuilt here differ from the stored "
            "heights (other source files?); cannot re-trace it"
        )
    rts, solver = load_tile_scene(grid, buildings, config)
    outside = stored <= 0
    out = {}
    for index in np.flatnonzero(np.asarray(dataset.map_tile) == tile):
        site = dataset.site(int(index))
        entropy = [seed, int(dataset.tile_id[tile]), int(index)]
        map_seed = int(np.random.SeedSequence(entropy).generate_state(1)[0]) & 0x7FFFFFFF
        t0 = time.perf_counter()
        db = trace_site(rts, solver, site, config, map_seed).astype(np.float32)
        seconds = time.perf_counter() - t0
        out[int(index)] = (np.where(outside, db, np.nan).astype(np.float32), seconds)
    return out


def evaluate_on_dataset(
    model_or_weights: Any,
    dataset_dir: str | os.PathLike,
    split: str = "test",
    *,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    rt_noise_tiles: int = 0,
    rt_seed: int = 1,
    max_maps: int | None = None,
    net_mode: str = "tile",
    threshold_db: float = DEFAULT_THRESHOLD_DB,
    floor_db: float | None = -160.0,
    distance_bins_m: Sequence[float] = DEFAULT_DISTANCE_BINS_M,
    gain_bins_db: Sequence[float] = DEFAULT_GAIN_BINS_DB,
    ortho_seed: int | None = None,
    command: str | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> dict[str, Any]:
    """Score a model, the baselines and (optionally) a second ray-tracing run on a split.

    Args:
        model_or_weights: a model object, a registry name, ``net:PATH`` or a ``.pt`` path; None
            for the baselines alone.
        dataset_dir: a dataset folder.
        split: ``test`` (default), ``val`` or ``train``.
        baselines: registry names of empirical models scored on the same maps.
        rt_noise_tiles: re-trace this many tiles (the first of the split) with another ray seed
            through :mod:`radiomap_geo.rt` and score that run against the stored labels (the
            tracer's own noise); every model is also scored on just those tiles. Slow.
        rt_seed: seed of the second run.
        max_maps: score only the first maps of the split.
        net_mode: ``tile``: a network runs on the whole tile as in training; ``engine``: through
            its ``path_gain_db`` as the prediction engine calls it (a site-centred window, NaN
            beyond its reach unless blended).
        threshold_db: headline metrics use cells whose label is at least this (-130 dB).
        floor_db: predictions and labels are clipped here first (None: no clipping).
        distance_bins_m, gain_bins_db: bin edges of the grouped metrics.
        ortho_seed: a network that reads an orthophoto or an nDSM gets renderings of the tiles
            with this seed (no augmentation; default: the ``ortho_seed`` it was trained with,
            else 0); the baselines get the scene as before.
        command: the command line, recorded in the report.
        progress, is_cancelled: callbacks (per map).

    Returns:
        The report (JSON-ready after :func:`save_report`); ``report["models"]`` lists one entry
        per model with ``above_threshold`` and ``metrics`` (all cells) grouped metrics, maps,
        coverage (share of valid cells predicted) and ``ms_per_map``.
    """
    from radiomap_geo.los import line_of_sight
    from radiomap_geo.models.registry import get_model

    if net_mode not in ("tile", "engine"):
        raise InputError(f"net_mode must be 'tile' or 'engine', not {net_mode!r}")
    monitor = as_monitor(progress, is_cancelled)
    dataset = _load_split(dataset_dir, split)
    model = _resolve_model(model_or_weights)
    net_model = _network_of(model) if model is not None else None
    options = {
        "distance_bins_m": tuple(distance_bins_m),
        "gain_bins_db": tuple(gain_bins_db),
        "floor_db": floor_db,
    }
    entries: list[tuple[Any, _Scores]] = []
    if model is not None:
        label = model.name
        kind = "network" if net_model is not None else "model"
        if net_model is not None and net_mode == "tile":
            label = net_model.name
        entries.append((model, _Scores(label, kind, options, threshold_db)))
    for name in baselines:
        entries.append((get_model(name), _Scores(name, "empirical", options, threshold_db)))
    if not entries:
        raise InputError("nothing to evaluate: give a model or baselines")
    renderer = _evaluation_renderer(net_model, ortho_seed)

    n = len(dataset) if max_maps is None else min(len(dataset), int(max_maps))
    indices = list(range(n))
    tiles_in_order = list(dict.fromkeys(int(dataset.map_tile[i]) for i in indices))
    rt_tiles = tiles_in_order[: max(0, int(rt_noise_tiles))]
    subset = {t: {} for t in rt_tiles}
    sub_scores = [_Scores(s.name, s.kind, options, threshold_db) for _, s in entries]
    rx_height = float(dataset.manifest["config"].get("rx_height_m", 1.5))
    total = n + len(rt_tiles)
    for done, index in enumerate(indices):
        tile = int(dataset.map_tile[index])
        grid = dataset.grid(tile)
        heights = dataset.building_height_m[tile]
        scene = SceneInputs(grid, heights, rx_height_m=rx_height)
        rendered = scene if renderer is None else renderer(scene, int(dataset.tile_id[tile]))
        site = dataset.site(index)
        true, valid = dataset.gain_db[index], dataset.mask[index]
        los = line_of_sight(heights, grid, grid, (site.x, site.y), site.height_m, rx_height)
        x, y = grid.cell_centers()
        dist = np.hypot(x - site.x, y - site.y)
        for k, (m, scores) in enumerate(entries):
            tile_mode = scores.kind == "network" and net_mode == "tile"
            inputs = rendered if m is model else scene
            if done == 0:  # warm-up: first-call set-up is not inference time
                _predict(m, net_model if tile_mode else None, inputs, site)
            t0 = time.perf_counter()
            pred = _predict(m, net_model if tile_mode else None, inputs, site)
            seconds = time.perf_counter() - t0
            scores.add(pred, true, valid, los, dist, seconds)
            if tile in subset:
                sub_scores[k].add(pred, true, valid, los, dist, seconds)
        if tile in subset:
            subset[tile][index] = (true, valid, los, dist)
        monitor.step(done + 1, total, f"map {done + 1}/{n}")

    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "dataset": {
            "path": str(dataset_dir),
            "split": split,
            "maps": n,
            "tiles": len(tiles_in_order),
            "maps_in_split": len(dataset),
            "resolution_m": dataset.resolution,
            "map_cells": list(dataset.gain_db.shape[1:]),
            "samples_per_tx": dataset.manifest["config"].get("samples_per_tx"),
            "sources": _sources_of(dataset, tiles_in_order),
        },
        "settings": {
            "threshold_db": threshold_db,
            "floor_db": floor_db,
            "net_mode": net_mode,
            "distance_bins_m": list(distance_bins_m),
            "gain_bins_db": list(gain_bins_db),
            "torch_threads": torch.get_num_threads(),
            "device": str(net_model.device) if net_model is not None else None,
            "rendered_inputs": None if renderer is None else renderer.settings(),
        },
        "models": [s.result() for _, s in entries],
    }
    if net_model is not None:
        meta = net_model.metadata
        report["network"] = {
            "name": net_model.name,
            "arch": meta.get("arch"),
            "arch_kwargs": meta.get("arch_kwargs"),
            "channels": meta.get("channels"),
            "parameters": int(sum(p.numel() for p in net_model.net.parameters())),
            "reach_m": net_model.reach_m,
            "blend": model.describe() if hasattr(model, "describe") else None,
        }
    if rt_tiles:
        rt_scores = _Scores("sionna-rt (second run)", "ray-tracer", options, threshold_db)
        for j, tile in enumerate(rt_tiles):
            second = retrace_tile(dataset, tile, rt_seed)
            for index, (pred, seconds) in second.items():
                if index not in subset[tile]:
                    continue
                true, valid, los, dist = subset[tile][index]
                rt_scores.add(pred, true, valid, los, dist, seconds)
            monitor.step(n + j + 1, total, f"re-traced tile {j + 1}/{len(rt_tiles)}")
        report["rt_noise"] = {
            "tiles": [int(dataset.tile_id[t]) for t in rt_tiles],
            "maps": rt_scores.maps,
            "seed": rt_seed,
            "models": [s.result() for s in sub_scores] + [rt_scores.result()],
        }
    return report


def _evaluation_renderer(net_model: Any, ortho_seed: int | None) -> TileRenderer | None:
    """Renderings for a network that reads an orthophoto or an nDSM (else None).

    The seed defaults to the one the network was trained (and validated) with.
    """
    if net_model is None:
        return None
    if ortho_seed is None:
        settings = (net_model.metadata.get("training") or {}).get("settings") or {}
        ortho_seed = settings.get("ortho_seed")
    # A split's maps come tile after tile: a few tiles' renderings are enough to keep.
    return TileRenderer.for_channels(net_model.channels, ortho_seed or 0, max_tiles=16)


def _sources_of(dataset: Any, tiles: Sequence[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for tile in tiles:
        src = dataset.tile_info(tile).get("source", "?")
        out[src] = out.get(src, 0) + 1
    return out


def save_report(report: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a report as strict JSON (NaN -> null, infinities -> "inf" / "-inf")."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(path, report)
    return path


# -- markdown ----------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or value == "inf" or value == "-inf":
        return "–" if value is None else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "-inf" if value < 0 else "inf"
        return f"{value:.{digits}f}"
    return str(value)


def _group(metrics: Mapping[str, Any], group: str, key: str) -> Any:
    part = metrics.get(group)
    return None if part is None else part.get(key)


def _main_table(models: Sequence[Mapping[str, Any]], threshold_db: float) -> list[str]:
    t = f"{threshold_db:g}"
    lines = [
        f"| model | kind | maps | cells ≥ {t} dB | RMSE ≥ {t} | MAE ≥ {t} | NMSE ≥ {t} | "
        f"bias ≥ {t} | LOS RMSE ≥ {t} | NLOS RMSE ≥ {t} | RMSE all | MAE all | NMSE all | "
        "coverage | ms/map |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        a, every = m["above_threshold"], m["metrics"]
        lines.append(
            "| "
            + " | ".join(
                [
                    m["name"],
                    m["kind"],
                    str(m["maps"]),
                    str(a["all"]["count"]),
                    _fmt(a["all"]["rmse_db"]),
                    _fmt(a["all"]["mae_db"]),
                    _fmt(a["all"]["nmse_db"]),
                    _fmt(a["all"]["bias_db"]),
                    _fmt(_group(a, "los", "rmse_db")),
                    _fmt(_group(a, "nlos", "rmse_db")),
                    _fmt(every["all"]["rmse_db"]),
                    _fmt(every["all"]["mae_db"]),
                    _fmt(every["all"]["nmse_db"]),
                    _fmt(m["coverage"], 3),
                    _fmt(m["ms_per_map"], 1),
                ]
            )
            + " |"
        )
    return lines


def _bin_table(models: Sequence[Mapping[str, Any]], group: str, title: str) -> list[str]:
    bins = list(models[0]["metrics"].get(group, {}))
    if not bins:
        return []
    lines = [
        f"| {title} | " + " | ".join(bins) + " |",
        "|---|" + "---:|" * len(bins),
    ]
    counts = models[0]["metrics"][group]
    lines.append("| cells | " + " | ".join(str(counts[b]["count"]) for b in bins) + " |")
    for m in models:
        row = m["metrics"][group]
        lines.append(f"| {m['name']} | " + " | ".join(_fmt(row[b]["rmse_db"]) for b in bins) + " |")
    return lines


def report_markdown(report: Mapping[str, Any]) -> str:
    """The report as markdown tables (headline at the threshold, then bins, then RT noise)."""
    ds, st = report["dataset"], report["settings"]
    t = st["threshold_db"]
    out = [
        f"### {ds['split']} split of `{ds['path']}`: {ds['maps']} maps on {ds['tiles']} tiles "
        f"({', '.join(f'{k} {v}' for k, v in sorted(ds['sources'].items()))})",
        "",
        f"Errors in dB (prediction - ray-traced label) over valid cells; '≥ {t:g}' columns: cells "
        f"whose label is at least {t:g} dB; values clipped at {_fmt(st['floor_db'], 0)} dB first; "
        f"networks run in '{st['net_mode']}' mode.",
        "",
        *_main_table(report["models"], t),
        "",
        "RMSE (dB) by path-gain bin of the label:",
        "",
        *_bin_table(report["models"], "path_gain", "model"),
        "",
        "RMSE (dB) by horizontal distance from the site:",
        "",
        *_bin_table(report["models"], "distance", "model"),
    ]
    if "rt_noise" in report:
        rt = report["rt_noise"]
        out += [
            "",
            f"On the {len(rt['tiles'])} re-traced tiles ({rt['maps']} maps), with a second Sionna "
            f"RT run (ray seed {rt['seed']}) scored against the stored labels (the tracer's own "
            "noise):",
            "",
            *_main_table(rt["models"], t),
        ]
    if report.get("command"):
        out += ["", f"Produced by: `{report['command']}`"]
    return "\n".join(out) + "\n"


# -- shipping ----------------------------------------------------------------------------------


def write_model_card(
    weights_path: str | os.PathLike,
    card_path: str | os.PathLike | None = None,
    *,
    name: str | None = None,
    report: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> Path:
    """Write the model card (markdown) of a weights file: inputs in order, metres per pixel,
    frequency, data, training time and the metrics with the command that produced them.

    Args:
        weights_path: the weights file (verified against the hash in its name).
        card_path: where to write (default ``<weights folder>/<name>.md``).
        name: model name (default the metadata's).
        report: an :func:`evaluate_on_dataset` report (else the metrics in the file are used).
        description: one-line description.
    """
    from radiomap_geo.nets.weights import load_weights

    loaded = load_weights(weights_path)
    meta = loaded.metadata
    name = name or str(meta.get("name") or meta["arch"])
    card = Path(card_path) if card_path else Path(weights_path).parent / f"{name}.md"
    net = loaded.build()
    params = sum(p.numel() for p in net.parameters())
    data = meta.get("training_data") or {}
    training = meta.get("training") or {}
    scaling = meta["output_scaling"]
    lines = [
        f"# {name}",
        "",
        description or meta.get("description") or "",
        "",
        "| | |",
        "|---|---|",
        f"| file | `{Path(weights_path).name}` ({Path(weights_path).stat().st_size / 1e6:.2f} MB, "
        "float16) |",
        f"| sha256 | `{loaded.sha256}` |",
        f"| architecture | `{meta['arch']}` {json.dumps(meta['arch_kwargs'])}, "
        f"{params / 1e6:.3f} M parameters |",
        f"| metres per pixel | {meta['metres_per_pixel']:g} (in `predict`: grids at least 1.5x "
        "coarser are computed on sub-cells near this size and power-averaged; other cell sizes "
        "within a factor 2 are resampled; finer ones refused) |",
        f"| frequency | {meta['frequency_mhz']:g} MHz (others within a factor 2: free-space "
        "correction 20 log10(f_train / f)) |",
        f"| receiver height | {meta['rx_height_m']:g} m |",
        f"| reach | {meta['reach_m']:g} m from the site (beyond: calibrated empirical fallback, "
        "see `radiomap_geo/models/blend.py`) |",
        f"| output | path gain in dB incl. the transmit antenna pattern; network output n maps "
        f"to {scaling['floor_db']:g} + {scaling['ceil_db'] - scaling['floor_db']:g} n dB |",
        f"| torch | {meta.get('torch_version')} |",
        "",
        "## Inputs, in order",
        "",
    ]
    for i, ch in enumerate(meta["channels"], 1):
        lines.append(f"{i}. `{ch}`: {CHANNEL_DESCRIPTIONS[ch]}")
    lines += ["", "## Training data", ""]
    if data:
        per_source = data.get("train_maps_per_source") or {}
        lines += [
            f"- {data.get('train_maps')} training and {data.get('val_maps')} validation maps of "
            f"{' x '.join(str(v) for v in data.get('map_cells', []))} cells at "
            f"{data.get('resolution_m')} m, from `{data.get('dataset')}` "
            f"({data.get('generator')}); sources of the training maps: "
            + ", ".join(f"{k} {v}" for k, v in sorted(per_source.items())),
            f"- Labels: {data.get('label')}; {data.get('samples_per_tx'):.3g} rays per "
            f"transmitter, up to {data.get('max_depth')} interactions, diffraction "
            f"{'on' if data.get('diffraction') else 'off'}; backend {data.get('backend')}"
            if isinstance(data.get("samples_per_tx"), int | float)
            else f"- Labels: {data.get('label')}",
            "- Split: geographic (no test region overlaps a training region); see "
            "`data/README.md`.",
        ]
    else:
        lines.append("(not recorded)")
    lines += ["", "## Training", ""]
    if training:
        settings = training.get("settings", {})
        lines += [
            f"- {training.get('epochs_run')} of {training.get('epochs')} epochs "
            + (
                f"(best validation epoch {training['best_epoch'] + 1}"
                if training.get("best_epoch") is not None
                else "(no validation split"
            )
            + (", stopped early" if training.get("stopped_early") else "")
            + f"), {float(training.get('seconds') or 0) / 60:.1f} min on {training.get('device')}"
            + (f" ({training['cuda']})" if training.get("cuda") else ""),
            f"- Settings: {json.dumps(settings.get('train_config', {}))}; batch "
            f"{settings.get('batch_size')}, crop {settings.get('crop')}, augmentation "
            f"{settings.get('augment')}",
            f"- Command: `{training.get('command')}`" if training.get("command") else "",
        ]
        if settings.get("init_weights"):
            lines.append(f"- Fine-tuned from `{settings['init_weights']}` (its training not counted)")
    else:
        lines.append("(not recorded)")
    lines += ["", "## Metrics", ""]
    if report is not None:
        lines.append(report_markdown(report))
    elif meta.get("metrics"):
        lines += ["```json", json.dumps(meta["metrics"], indent=1)[:4000], "```"]
    else:
        lines.append("(not measured yet: run `radiomap-geo evaluate`)")
    card.write_text("\n".join(line for line in lines if line is not None) + "\n")
    return card


def _headline(report: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers worth keeping inside a weights file."""
    out: dict[str, Any] = {
        "split": report["dataset"]["split"],
        "maps": report["dataset"]["maps"],
        "threshold_db": report["settings"]["threshold_db"],
        "command": report.get("command"),
        "models": {},
    }
    for m in report["models"]:
        a = m["above_threshold"]
        out["models"][m["name"]] = {
            "rmse_above_db": a["all"]["rmse_db"],
            "mae_above_db": a["all"]["mae_db"],
            "nmse_above_db": a["all"]["nmse_db"],
            "rmse_los_above_db": _group(a, "los", "rmse_db"),
            "rmse_nlos_above_db": _group(a, "nlos", "rmse_db"),
            "mae_los_above_db": _group(a, "los", "mae_db"),
            "mae_nlos_above_db": _group(a, "nlos", "mae_db"),
            "rmse_all_db": m["metrics"]["all"]["rmse_db"],
            "ms_per_map": m["ms_per_map"],
        }
    return _plain_json(out)


def ship_weights(
    weights_path: str | os.PathLike,
    weights_dir: str | os.PathLike,
    name: str,
    *,
    description: str | None = None,
    report: Mapping[str, Any] | None = None,
    default: bool = False,
    fallback: str = "3gpp-uma",
) -> dict[str, Any]:
    """Put trained weights into the shipped folder: file, model card and ``index.json`` entry.

    The weights are re-saved as ``<name>-<sha12>.pt`` with ``name``, ``description`` and the
    report's headline metrics in their metadata (the tensors are unchanged); an older file of the
    same entry is removed. ``default`` marks the entry as the default model (and unmarks others).

    Returns:
        The index entry written (``file``, ``sha256``, ``description``, ``default``...).
    """
    from radiomap_geo.models.baselines import BASELINES
    from radiomap_geo.models.registry import INDEX_FILE, read_index
    from radiomap_geo.nets.weights import load_weights

    key = name.lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.]*(?:-[a-z0-9_.]+)*", key) or key in BASELINES:
        raise InputError(f"model name {name!r}: use lower-case letters, digits, '_', '.', '-'")
    if fallback not in BASELINES and fallback != "none":
        raise InputError(f"unknown fallback {fallback!r}; use a baseline or 'none'")
    folder = Path(weights_dir)
    folder.mkdir(parents=True, exist_ok=True)
    loaded = load_weights(weights_path)
    meta = dict(loaded.metadata)
    meta["name"] = key
    if description:
        meta["description"] = description
    if report is not None:
        meta["metrics"] = {**(meta.get("metrics") or {}), "evaluation": _headline(report)}
    net = loaded.build()
    path = save_weights(net, meta, folder, key)
    digest = sha256_file(path)
    index = read_index(folder) if (folder / INDEX_FILE).is_file() else {}
    old = index.get(key, {}).get("file")
    if old and old != path.name and (folder / old).is_file():
        (folder / old).unlink()
    if default:
        for entry in index.values():
            entry.pop("default", None)
    entry = {
        "file": path.name,
        "sha256": digest,
        "description": description
        or f"{meta['arch']} network, {len(meta['channels'])} inputs, "
        f"{meta['metres_per_pixel']:g} m, {meta['frequency_mhz']:g} MHz",
        "fallback": fallback,
    }
    if default:
        entry["default"] = True
    index[key] = entry
    _write_json(folder / INDEX_FILE, dict(sorted(index.items())))
    if report is not None:  # the scored file is this one re-saved: name its row after it
        report = json.loads(json.dumps(_plain_json(report)))
        scored = {m["name"] for m in report["models"] if m["kind"] == "network"}
        for block in [report["models"], report.get("rt_noise", {}).get("models", [])]:
            for m in block:
                if m["name"] in scored:
                    m["name"] = f"{key} (scored as {m['name']}, same tensors)"
    write_model_card(
        path, folder / f"{key}.md", name=key, report=report, description=entry["description"]
    )
    return entry
