"""Training the measurement networks on measurement sets sampled on the fly.

Each step draws maps of the training split, a sampling pattern per map (uniform densities,
sensor counts and street trajectories, :func:`radiomap_geo.sparse.sampling.training_pattern`),
encodes the measured cells (:func:`radiomap_geo.sparse.networks.encode`) and takes a random
``crop`` x ``crop`` window under a random symmetry of the square. The loss is the L1 distance to
the ray-traced label on labelled cells (the spec's ``loss``: L1 as the papers, or squared;
measured cells included, so the output honours them; cells below the measurable -130 dB weigh a
tenth: their labels are mostly ray-tracing noise);
residual networks start with a zero output layer, i.e. from the geometry prediction;
adversarial networks add paper 003's conditional PatchGAN loss (pix2pix weighting: L1 x 100 + GAN,
written here as L1 + ``gan_weight`` x GAN).

Runs are resumable: a checkpoint (networks, optimisers, loss history) is written atomically every
``checkpoint_every`` steps and at the time limit, and step ``k`` always draws the same maps and
patterns (its random generator is seeded with ``(seed, k)``), so an interrupted run continues as
if it had not stopped.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import atomic_save
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor
from radiomap_geo.sparse.data import MapContext
from radiomap_geo.sparse.networks import (
    CEIL_DB,
    FLOOR_DB,
    NETWORKS,
    SCALE_DB,
    NetSpec,
    PatchDiscriminator,
    build_generator,
    encode,
)
from radiomap_geo.sparse.sampling import training_pattern
from radiomap_geo.train_options import (
    TRAINING_MAPS,
    SparseTrainConfig,
    check_sparse_config,
    learning_rate,
)

logger = logging.getLogger(__name__)
#: Loss weight of labelled cells below the measurable level (-130 dB).
WEAK_WEIGHT = 0.1


@dataclass
class SparseTrainResult:
    """What a (possibly partial) run did."""

    spec: NetSpec
    generator: nn.Module
    config: SparseTrainConfig
    step: int
    finished: bool
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def _symmetry(array: np.ndarray, k: int, flip: bool) -> np.ndarray:
    out = np.rot90(array, k, axes=(-2, -1))
    return np.flip(out, axis=-1) if flip else out


def training_example(
    spec: NetSpec, ctx: MapContext, rng: np.random.Generator, crop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(inputs (C, crop, crop), target (1, ...), label mask (1, ...))`` of one map."""
    pattern = training_pattern(rng)
    measured = pattern.draw(ctx.measurable, rng, ctx.outdoor)
    label = np.clip(np.nan_to_num(ctx.gain_db, nan=FLOOR_DB), FLOOR_DB, CEIL_DB)
    enc = encode(spec, ctx, measured, label)
    target = ((label - enc.base_db) / SCALE_DB)[None].astype(np.float32)
    # the ray tracer's weak labels are mostly noise (data/README.md): they count a tenth
    mask = np.where(ctx.measurable, 1.0, WEAK_WEIGHT * ctx.valid)[None].astype(np.float32)
    h, w = ctx.shape
    r0, c0 = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    k, flip = int(rng.integers(4)), bool(rng.integers(2))
    window = (slice(None), slice(r0, r0 + crop), slice(c0, c0 + crop))
    return tuple(  # type: ignore[return-value]
        np.ascontiguousarray(_symmetry(a[window], k, flip)) for a in (enc.inputs, target, mask)
    )


def make_batch(
    spec: NetSpec, contexts: Sequence[MapContext], config: SparseTrainConfig, step: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The batch of step ``step`` (the same for a resumed run)."""
    rng = np.random.default_rng([config.seed, 0 if config.same_batch else step])
    items = [
        training_example(spec, contexts[int(rng.integers(len(contexts)))], rng, config.crop)
        for _ in range(config.batch_size)
    ]
    return tuple(torch.from_numpy(np.stack([it[i] for it in items])) for i in range(3))  # type: ignore[return-value]


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean absolute error over the masked cells (normalised units)."""
    return ((pred - target).abs() * mask).sum() / mask.sum().clamp_min(1.0)


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the masked cells (normalised units)."""
    return ((pred - target) ** 2 * mask).sum() / mask.sum().clamp_min(1.0)


PIXEL_LOSSES = {"l1": masked_l1, "mse": masked_mse}


def _start_from(gen: nn.Module, spec: NetSpec, path: str) -> None:
    """Load a measurement model file of the same network into ``gen``."""
    from radiomap_geo.sparse.model import MeasurementModel

    model = MeasurementModel.from_file(path)
    if model.spec.name != spec.name or model.spec.channels != spec.channels:
        raise InputError(
            f"{path} is a {model.spec.name!r} model on {', '.join(model.spec.channels)}; "
            f"training {spec.name!r} needs one with the inputs {', '.join(spec.channels)}",
            parameter="init_weights",
        )
    try:
        gen.load_state_dict(model.net.state_dict())
    except RuntimeError as exc:
        raise InputError(
            f"{path}: its layers do not fit {spec.name!r} ({spec.arch} {spec.arch_kwargs}): "
            "give a file of the same architecture",
            parameter="init_weights",
        ) from exc
    logger.info("%s: starting from %s", spec.name, path)


def _check_network(name: str) -> None:
    if name not in NETWORKS:
        raise InputError(
            f"unknown measurement network {name!r}; available: {', '.join(NETWORKS)}",
            parameter="network",
        )


def check_training(config: SparseTrainConfig, tile_size: int | None = None) -> None:
    """Refuse settings a run cannot train with, before any map is loaded.

    ``tile_size``: the smaller side of the dataset's maps (cells), which the ``crop`` x ``crop``
    training window must fit into.

    Raises:
        InputError: a non-finite or non-positive learning rate, a steps count below 0, a batch
            or crop below 1, or maps smaller than the crop.
    """
    check_sparse_config(config)
    lr = float(config.lr)
    if not math.isfinite(lr) or lr <= 0:
        raise InputError(
            f"learning rate {config.lr!r} is not a positive finite number: give one such as "
            f"{SparseTrainConfig.lr:g}",
            parameter="lr",
        )
    for field_name, least in (("steps", 0), ("batch_size", 1), ("crop", 1)):
        value = getattr(config, field_name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise InputError(
                f"{field_name.replace('_', ' ')} {value!r} is not a whole number of at least "
                f"{least}: give one such as {getattr(SparseTrainConfig, field_name)}",
                parameter=field_name,
            )
    if tile_size is not None and tile_size < config.crop:
        raise InputError(
            f"the dataset's maps are {tile_size} cells across, smaller than the {config.crop}-cell "
            "training crop: train on a dataset of tiles at least that size (dataset build --size)",
            parameter="dataset",
        )


def train_network(
    name: str,
    contexts: Sequence[MapContext],
    config: SparseTrainConfig | None = None,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> SparseTrainResult:
    """Train measurement network ``name`` (a key of :data:`NETWORKS`) on ``contexts``.

    With ``checkpoint`` the run resumes from that file when it exists and keeps it up to date;
    ``config.max_seconds`` stops it early (``finished`` False: call again to continue).

    Raises:
        InputError: unknown network, no training maps, or a checkpoint of another network.
    """
    _check_network(name)
    if not contexts:
        raise InputError("no training maps", parameter="dataset")
    config = config or SparseTrainConfig()
    check_training(config, min(min(ctx.shape) for ctx in contexts))
    spec = NETWORKS[name]
    if config.threads:
        torch.set_num_threads(int(config.threads))
    torch.manual_seed(config.seed)
    gen = build_generator(spec.arch, len(spec.channels), **spec.arch_kwargs)
    if spec.residual:  # start from the geometry prediction (+ measured bias), not from noise
        nn.init.zeros_(gen.output_conv().weight)
        nn.init.zeros_(gen.output_conv().bias)
    disc = PatchDiscriminator(len(spec.channels) + 1) if spec.adversarial else None
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr, betas=(0.5, 0.999)) if disc else None
    step, history, seconds = 0, [], 0.0
    path = Path(checkpoint) if checkpoint else None
    if path is not None and path.is_file():
        step, history, seconds = _resume(path, name, gen, opt_g, disc, opt_d)
    elif config.init_weights:
        _start_from(gen, spec, config.init_weights)

    def save() -> None:
        if path is None:
            return
        state = {
            "name": name,
            "step": step,
            "seconds": seconds,
            "history": history,
            "config": asdict(config),
            "generator": gen.state_dict(),
            "opt_g": opt_g.state_dict(),
            "discriminator": disc.state_dict() if disc else {},
            "opt_d": opt_d.state_dict() if opt_d else {},
        }
        atomic_save(path, lambda staging: torch.save(state, staging))

    monitor = as_monitor(progress, is_cancelled)
    bce = nn.BCEWithLogitsLoss()
    gen.train()
    if disc is not None:
        disc.train()
    started = time.perf_counter()
    while step < config.steps:
        t0 = time.perf_counter()
        for opt in (opt_g, opt_d):
            for group in opt.param_groups if opt is not None else ():
                group["lr"] = learning_rate(config, step)
        x, y, m = make_batch(spec, contexts, config, step)
        out = gen(x)
        record: dict[str, float] = {}
        record["l1_db"] = float(masked_l1(out.detach(), y, m)) * SCALE_DB
        loss = PIXEL_LOSSES[spec.loss](out, y, m)
        if disc is not None:
            loss_g_adv = _adversarial_step(disc, opt_d, bce, (x, y, m), out, record)
            loss = loss + config.gan_weight * loss_g_adv
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        step += 1
        seconds += time.perf_counter() - t0
        history.append(record)
        if step % config.checkpoint_every == 0:
            save()
        monitor.step(step, config.steps, f"{name} step {step}: L1 {record['l1_db']:.2f} dB")
        if config.max_seconds and time.perf_counter() - started > config.max_seconds:
            break
    save()
    gen.eval()
    return SparseTrainResult(spec, gen, config, step, step >= config.steps, history, seconds)


def _resume(path: Path, name: str, gen, opt_g, disc, opt_d) -> tuple[int, list, float]:
    """Load a checkpoint into the networks and optimisers: ``(step, history, seconds)``.

    Raises:
        InputError: the checkpoint belongs to another network.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state["name"] != name:
        raise InputError(
            f"checkpoint {path} belongs to {state['name']!r}, not {name!r}; use another file",
            parameter="checkpoint",
        )
    gen.load_state_dict(state["generator"])
    opt_g.load_state_dict(state["opt_g"])
    if disc is not None:
        disc.load_state_dict(state["discriminator"])
        opt_d.load_state_dict(state["opt_d"])
    logger.info("%s: resumed at step %d", name, int(state["step"]))
    return int(state["step"]), list(state["history"]), state["seconds"]


def _adversarial_step(disc, opt_d, bce, batch, out: Tensor, record: dict) -> Tensor:
    """One discriminator update (pix2pix) and the generator's adversarial loss term."""
    x, y, m = batch
    real = torch.where(m > 0, y, out.detach())  # unlabelled cells tell D nothing
    d_real, d_fake = disc(x, real), disc(x, out.detach())
    loss_d = 0.5 * (bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake)))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    g_fake = disc(x, out)
    loss_g_adv = bce(g_fake, torch.ones_like(g_fake))
    record["d_loss"], record["g_adv"] = float(loss_d.detach()), float(loss_g_adv.detach())
    return loss_g_adv


def train_measurement_model(
    dataset_dir: str | os.PathLike,
    name: str,
    out_dir: str | os.PathLike,
    config: SparseTrainConfig | None = None,
    *,
    max_maps: int | None = TRAINING_MAPS,
    geometry_model: str = "unet-obs",
    cache_dir: str | os.PathLike | None = None,
    second_traces: str | os.PathLike | None = None,
    contexts: Sequence[MapContext] | None = None,
    save_partial: bool = False,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> tuple[SparseTrainResult, Path | None]:
    """Train (or resume) network ``name`` on the train split; write its weights when finished
    (with ``save_partial`` also when the time limit stopped it: a time-budgeted run; the file
    records the steps done, and a later call continues from the checkpoint).

    The checkpoint lives in ``out_dir/<name>/checkpoint.pt``; the weights file
    ``out_dir/<name>/<name>-<sha12>.pt`` appears once ``config.steps`` are done. With
    ``second_traces`` it trains on the maps traced twice, on the two runs' labels averaged
    (:func:`~radiomap_geo.sparse.data.load_contexts`).

    Returns:
        ``(result, weights path or None while unfinished)``.
    """
    from radiomap_geo.dataset import read_manifest
    from radiomap_geo.sparse.data import load_contexts, measurable_contexts
    from radiomap_geo.sparse.model import measurement_metadata, save_measurement_model

    config = config or SparseTrainConfig()
    _check_network(name)
    if max_maps is not None and (
        isinstance(max_maps, bool) or not isinstance(max_maps, (int, np.integer)) or max_maps < 1
    ):
        raise InputError(
            f"max maps {max_maps!r} is not a whole number of at least 1: give one such as "
            f"{TRAINING_MAPS}",
            parameter="max_maps",
        )
    size = read_manifest(dataset_dir)["config"].get("size")
    check_training(config, None if size is None or contexts is not None else int(size))
    if contexts is None:  # callers training several networks load the maps once
        contexts = load_contexts(
            dataset_dir,
            "train",
            max_maps=max_maps,
            geometry_model=geometry_model,
            cache_dir=cache_dir,
            second_traces=second_traces,
        )
    contexts = measurable_contexts(contexts, "training")
    folder = Path(out_dir) / name
    result = train_network(
        name,
        contexts,
        config,
        checkpoint=folder / "checkpoint.pt",
        progress=progress,
        is_cancelled=is_cancelled,
    )
    if not result.finished and not save_partial:
        return result, None
    manifest = read_manifest(dataset_dir)
    tail = result.history[-50:]
    meta = measurement_metadata(
        result.spec,
        result.generator,
        metres_per_pixel=float(manifest["config"]["resolution_m"]),
        frequency_mhz=float(manifest["config"].get("frequency_mhz", 3500.0)),
        geometry_model=geometry_model,
        name=name,
        description=result.spec.description,
        training_data={
            "dataset": str(dataset_dir),
            "split": "train",
            "maps": len(contexts),
            **({"second_traces": str(second_traces)} if second_traces is not None else {}),
            "patterns": "on the fly: uniform 0.05-25 %, 10-60 sensors, street trajectories",
        },
        training={
            **asdict(config),
            "steps_done": result.step,
            "cpu_seconds": round(result.seconds, 1),
            "final_l1_db": round(float(np.mean([h["l1_db"] for h in tail])), 3),
        },
    )
    return result, save_measurement_model(result.generator, meta, folder)
