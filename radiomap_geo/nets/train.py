"""The training loop core: masked robust loss, AdamW + schedule, early stopping, checkpoints.

:func:`train` takes any re-iterable of ``(inputs, target_db, mask)`` batches (see
:data:`radiomap_geo.nets.augment.Batch`; :class:`radiomap_geo.nets.augment.MapBatches` builds them
from ray-traced samples) so the dataset reader can plug in later without touching the loop.

Loss (:func:`masked_loss`): over valid cells only, in normalised units
(:class:`~radiomap_geo.nets.scaling.OutputScaling`), Huber by default (quadratic within
``huber_delta_db`` of the target, linear beyond, so a few wildly wrong labels cannot dominate),
and cells whose label is weaker than ``weak_threshold_db`` weigh ``weak_weight``: ray-traced weak
NLOS cells (below about -120 dB) stay 4-10 dB noisy and 10-40 % of them get no ray at any
affordable ray count (see the environment guide), so they are label noise more than truth.
Down-weighting them (``weak_weight`` < 1) lowers the RMSE on strong cells but makes weak
*predictions* too strong wherever weak and strong labels share inputs (the fit is the weighted
mean): 0.25, the old default, left predicted -130..-110 dB cells 6-7 dB too strong; the default
is now 1 (``benchmarks/bench_loss_ablation.py``).

Optimisation: AdamW, one-cycle (default) or cosine learning-rate schedule stepped per batch,
gradient clipping, early stopping on the validation loss with the best weights restored at the
end. CPU by default; ``device="auto"`` or ``"cuda"`` uses a GPU when present, with float16
autocast and gradient scaling (AMP; ``amp_dtype="bfloat16"`` needs no scaling). Checkpoints
(network, optimiser, schedule, scaler, torch RNG, history, best weights) are written atomically
after every ``checkpoint_every`` epochs and resumed from automatically; a checkpoint written with
another schedule is refused. The batch source's own state (shuffle/augmentation generator) is not
in the checkpoint: a resumed run with augmentation sees different (equally random) draws.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from radiomap_geo.errors import RadiomapError
from radiomap_geo.io.atomic import atomic_save
from radiomap_geo.nets.scaling import OutputScaling
from radiomap_geo.train_options import TrainConfig


@dataclass
class TrainResult:
    """What :func:`train` did: per-epoch history and the best validation epoch."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_loss: float = math.inf
    stopped_early: bool = False
    seconds: float = 0.0


class TrainingDiverged(RadiomapError, RuntimeError):
    """The training loss or the network's weights became NaN or infinite."""


def non_finite_weights(net: nn.Module) -> list[str]:
    """Names of the tensors of ``net`` holding NaN or infinite values."""
    return [
        name
        for name, tensor in net.state_dict().items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]


def check_finite(net: nn.Module, train_loss: float, epoch: int, config: TrainConfig) -> None:
    """Refuse to go on (and to save) once the loss or the weights are not finite.

    Raises:
        TrainingDiverged: naming the epoch, what went wrong and the settings to change.
    """
    bad = non_finite_weights(net)
    if math.isfinite(train_loss) and not bad:
        return
    what = (
        f"the training loss is {train_loss}"
        if not math.isfinite(train_loss)
        else f"{len(bad)} weight tensors (first: {bad[0]}) hold NaN or infinite values"
    )
    raise TrainingDiverged(
        f"training diverged in epoch {epoch + 1}: {what}; no weights were saved. Lower the "
        f"learning rate (now {config.lr:g}) or check the loss settings (loss {config.loss}, "
        f"weak_weight {config.weak_weight:g})"
    )


#: Settings a resumed run must share with its checkpoint (they define the schedule).
_SCHEDULE_KEYS = ("epochs", "lr", "schedule", "warmup_fraction", "steps_per_epoch")


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cuda"`` without a GPU raises."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no GPU is available")
    return device


def cell_weights(target_db: Tensor, mask: Tensor, config: TrainConfig) -> Tensor:
    """Per-cell loss weights: 0 outside the mask, ``weak_weight`` below the weak threshold."""
    weak = torch.full_like(target_db, config.weak_weight)
    return torch.where(mask, torch.where(target_db >= config.weak_threshold_db, 1.0, weak), 0.0)


def masked_loss(
    pred_norm: Tensor,
    target_db: Tensor,
    mask: Tensor,
    scaling: OutputScaling,
    config: TrainConfig,
) -> Tensor:
    """Weighted mean loss over valid cells (normalised units; see the module docstring)."""
    target = scaling.to_norm(target_db.float())
    pred = pred_norm.float()
    if config.loss == "huber":
        per_cell = F.huber_loss(
            pred, target, reduction="none", delta=config.huber_delta_db / scaling.span_db
        )
    elif config.loss == "power":
        per_cell = power_deviance(pred, target, scaling.span_db)
    elif config.loss == "mse":
        per_cell = (pred - target) ** 2
    else:
        per_cell = (pred - target).abs()
    weights = cell_weights(target_db, mask, config)
    per_cell = torch.where(mask, per_cell, 0.0)  # NaN-safe: never multiply garbage by zero
    return (per_cell * weights).sum() / weights.sum().clamp_min(1e-8)


#: Where :func:`power_deviance` turns linear: a label this many dB above the prediction.
POWER_LINEAR_FROM_DB = 10.0


def power_deviance(pred_norm: Tensor, target_norm: Tensor, span_db: float) -> Tensor:
    """Per-cell Gamma deviance of the label's power around the predicted power.

    A ray-traced label is the dB of a Monte-Carlo power estimate ``P`` whose mean is the true
    power; its dB is skewed low where few rays arrive (``benchmarks/results/label_noise.md``),
    so losses on dB (Huber, MSE) learn levels that are too weak there. With ``e = ln(P / mu)``
    (``mu`` the predicted power) the deviance ``exp(e) - e - 1`` is minimised in expectation at
    ``mu = E[P]``: the mean power, whatever the spread. Near ``e = 0`` it is ``e^2 / 2``, and it is
    divided by the dB-to-normalised factor squared so that small errors weigh as in ``mse / 2``.
    Beyond :data:`POWER_LINEAR_FROM_DB` it continues along its tangent, so one lucky ray that
    lifts a cell 30 dB cannot dominate a batch (a bias of its own, on rare cells only).

    The mean power is the right target for the tracer's own noise but it also takes in the
    network's: where its error spreads by ``s`` dB, the mean power lies ``s^2 ln(10) / 20`` dB
    above the typical level (about 7 dB at s = 8 dB). Continuing the default with it made every
    level too strong in dB (README, "Street-level antennas and the way round the buildings"); it
    is not the default.
    """
    nepers = span_db * math.log(10.0) / 10.0  # normalised units -> natural log of power
    e = (target_norm - pred_norm) * nepers
    knee = POWER_LINEAR_FROM_DB * math.log(10.0) / 10.0
    below = torch.expm1(e.clamp_max(knee)) - e.clamp_max(knee)
    slope = math.expm1(knee)
    return (below + slope * (e - knee).clamp_min(0.0)) / nepers**2


def _outputs(net: nn.Module, x: Tensor, aux_weight: float) -> list[Tensor]:
    stages = getattr(net, "forward_stages", None)
    if aux_weight > 0 and stages is not None:
        return list(stages(x))
    return [net(x)]


def _loss(outs: list[Tensor], target, mask, scaling, config) -> Tensor:
    loss = masked_loss(outs[-1], target, mask, scaling, config)
    for out in outs[:-1]:
        loss = loss + config.aux_weight * masked_loss(out, target, mask, scaling, config)
    return loss


@torch.no_grad()
def init_output_bias(net: nn.Module, batch, scaling: OutputScaling) -> float | None:
    """Set the output convolution's bias to the mean normalised label of ``batch``.

    A fresh network outputs about 0, i.e. the floor; with a robust (linear-tail) loss it would
    spend its first epochs just climbing to the typical level. Returns the bias set, or None
    when the network has no recognisable output convolution or the batch no valid cell.
    """
    _, target, mask = batch
    get = getattr(net, "output_conv", None)
    if get is None or not bool(mask.any()):
        return None
    try:
        conv = get()
    except TypeError:
        return None
    if conv.bias is None:
        return None
    level = float(scaling.to_norm(target[mask].float()).mean())
    conv.bias.fill_(level)
    return level


def _atomic_save(obj: Any, path: Path) -> None:
    atomic_save(path, lambda staging: torch.save(obj, staging))


def _steps_per_epoch(batches: Iterable, config: TrainConfig) -> int:
    try:
        n = len(batches)  # type: ignore[arg-type]
    except TypeError:
        n = None
    if config.steps_per_epoch is not None:
        return min(n, config.steps_per_epoch) if n is not None else config.steps_per_epoch
    if n is None:
        raise ValueError("the training batches have no len(): set TrainConfig.steps_per_epoch")
    return n


def _scheduler(optimizer, config: TrainConfig, total_steps: int):
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.lr,
            total_steps=max(total_steps, 2),
            pct_start=config.warmup_fraction,
        )
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


@torch.no_grad()
def validate(
    net: nn.Module,
    batches: Iterable,
    scaling: OutputScaling,
    config: TrainConfig,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Mean validation loss and RMSE in dB (both clipped to the scaling's range, valid cells)."""
    device = device or next(net.parameters()).device
    was_training = net.training
    net.eval()
    loss_sum, weight_sum, sq_sum, count = 0.0, 0.0, 0.0, 0
    for x, target, mask in batches:
        x, target, mask = x.to(device), target.to(device), mask.to(device)
        pred = net(x).float()
        weights = cell_weights(target, mask, config).sum().item()
        loss_sum += masked_loss(pred, target, mask, scaling, config).item() * weights
        weight_sum += weights
        pred_db = scaling.to_db(pred.clamp(0.0, 1.0))
        true_db = target.clamp(scaling.floor_db, scaling.ceil_db)
        sq_sum += torch.where(mask, (pred_db - true_db) ** 2, 0.0).sum().item()
        count += int(mask.sum().item())
    net.train(was_training)
    return {
        "val_loss": loss_sum / max(weight_sum, 1e-8),
        "val_rmse_db": math.sqrt(sq_sum / count) if count else math.nan,
    }


def train(
    net: nn.Module,
    train_batches: Iterable,
    val_batches: Iterable | None = None,
    config: TrainConfig | None = None,
    scaling: OutputScaling | None = None,
    *,
    checkpoint_path: str | Path | None = None,
    resume: bool = True,
    log: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``net`` in place and return the history; the best validation weights are loaded.

    Args:
        net: a coverage network (its output is compared with the normalised targets).
        train_batches: re-iterable of ``(inputs, target_db, mask)`` batches, iterated once per
            epoch (at most ``steps_per_epoch`` batches per epoch).
        val_batches: re-iterable of validation batches, or None (no early stopping).
        config: settings (default :class:`TrainConfig`).
        scaling: the dB normalisation (default :class:`OutputScaling`); record it in the weights.
        checkpoint_path: file for atomic checkpoints; resumed from when it exists and ``resume``.
        resume: continue from ``checkpoint_path`` if present.
        log: called with each epoch's record (epoch, train_loss, val_loss, val_rmse_db, lr, s).

    Raises:
        TrainingDiverged: the loss or the weights became NaN or infinite (checked every epoch,
            before its checkpoint).
    """
    config = config or TrainConfig()
    scaling = scaling or OutputScaling()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    net.to(device)
    steps = _steps_per_epoch(train_batches, config)
    opt = _Optimisation.create(net, config, steps, device)
    result = TrainResult()
    best_state: dict[str, Tensor] | None = None
    bad_epochs, start_epoch = 0, 0
    path = Path(checkpoint_path) if checkpoint_path is not None else None

    if path is not None and resume and path.exists():
        start_epoch, bad_epochs, best_state = _resume(path, net, opt, config, result)
    elif config.init_output_bias:
        first = next(iter(train_batches), None)
        if first is not None:
            init_output_bias(net, first, scaling)

    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        if bad_epochs >= config.patience:
            result.stopped_early = True
            break
        t0 = time.perf_counter()
        record = {
            "epoch": epoch,
            "train_loss": _train_epoch(net, train_batches, steps, opt, scaling, config, device),
            "lr": opt.optimizer.param_groups[0]["lr"],
        }
        check_finite(net, record["train_loss"], epoch, config)  # before any checkpoint
        if val_batches is not None:
            record.update(validate(net, val_batches, scaling, config, device))
            if record["val_loss"] < result.best_val_loss - config.min_delta:
                result.best_val_loss, result.best_epoch, bad_epochs = record["val_loss"], epoch, 0
                best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            else:
                bad_epochs += 1
        record["seconds"] = time.perf_counter() - t0
        result.history.append(record)
        last = epoch == config.epochs - 1 or bad_epochs >= config.patience
        if path is not None and ((epoch + 1) % config.checkpoint_every == 0 or last):
            _save_checkpoint(path, net, opt, epoch, bad_epochs, result, best_state, config, scaling)
        if log is not None:  # after the checkpoint: a failing logger loses no work
            log(record)
        if bad_epochs >= config.patience:
            result.stopped_early = True
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    if result.history:  # e.g. a resumed checkpoint of an older version without this check
        check_finite(net, float(result.history[-1]["train_loss"]), len(result.history) - 1, config)
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class _Optimisation:
    """The optimiser, its schedule and the mixed-precision scaler of one training run."""

    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    use_amp: bool
    amp_dtype: torch.dtype

    @classmethod
    def create(
        cls, net: nn.Module, config: TrainConfig, steps: int, device: torch.device
    ) -> _Optimisation:
        params = [p for p in net.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        use_amp = config.amp and device.type == "cuda"
        amp_dtype = getattr(torch, config.amp_dtype)
        return cls(
            params,
            optimizer,
            _scheduler(optimizer, config, steps * config.epochs),
            torch.amp.GradScaler(device.type, enabled=use_amp and amp_dtype == torch.float16),
            use_amp,
            amp_dtype,
        )


def _train_epoch(
    net: nn.Module,
    batches: Iterable,
    steps: int,
    opt: _Optimisation,
    scaling: OutputScaling,
    config: TrainConfig,
    device: torch.device,
) -> float:
    """One pass over at most ``steps`` batches; the mean training loss."""
    net.train()
    loss_sum, n = 0.0, 0
    for step, (x, target, mask) in enumerate(batches):
        if step >= steps:
            break
        x, target, mask = x.to(device), target.to(device), mask.to(device)
        opt.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=opt.amp_dtype, enabled=opt.use_amp):
            outs = _outputs(net, x, config.aux_weight)
        loss = _loss(outs, target, mask, scaling, config)
        opt.scaler.scale(loss).backward()
        if config.grad_clip:
            opt.scaler.unscale_(opt.optimizer)
            nn.utils.clip_grad_norm_(opt.params, config.grad_clip)
        opt.scaler.step(opt.optimizer)
        opt.scaler.update()
        if opt.scheduler.last_epoch < getattr(opt.scheduler, "total_steps", math.inf):
            opt.scheduler.step()
        loss_sum, n = loss_sum + loss.item(), n + 1
    return loss_sum / max(n, 1)


def _resume(
    path: Path, net: nn.Module, opt: _Optimisation, config: TrainConfig, result: TrainResult
) -> tuple[int, int, dict[str, Tensor] | None]:
    """Load a checkpoint into ``net``, ``opt`` and ``result``: ``(first epoch to run, epochs
    without improvement, best weights so far)``.

    Raises:
        ValueError: the checkpoint follows another learning-rate schedule.
    """
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    changed = [k for k in _SCHEDULE_KEYS if ckpt["config"].get(k) != getattr(config, k)]
    if changed:
        raise ValueError(
            f"checkpoint {path} was written with different {changed}: resuming would not "
            "follow its learning-rate schedule. Use resume=False or another checkpoint path"
        )
    net.load_state_dict(ckpt["net"])
    opt.optimizer.load_state_dict(ckpt["optimizer"])
    opt.scheduler.load_state_dict(ckpt["scheduler"])
    opt.scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["rng"])
    result.history = list(ckpt["history"])
    result.best_epoch = ckpt["best_epoch"]
    result.best_val_loss = float(ckpt["best_val_loss"])
    return int(ckpt["epoch"]) + 1, int(ckpt["bad_epochs"]), ckpt["best_state"]


def _save_checkpoint(
    path: Path,
    net: nn.Module,
    opt: _Optimisation,
    epoch: int,
    bad_epochs: int,
    result: TrainResult,
    best_state: dict[str, Tensor] | None,
    config: TrainConfig,
    scaling: OutputScaling,
) -> None:
    """Everything :func:`_resume` needs, written atomically."""
    _atomic_save(
        {
            "net": net.state_dict(),
            "optimizer": opt.optimizer.state_dict(),
            "scheduler": opt.scheduler.state_dict(),
            "scaler": opt.scaler.state_dict(),
            "rng": torch.get_rng_state(),
            "epoch": epoch,
            "bad_epochs": bad_epochs,
            "history": result.history,
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "best_state": best_state,
            "config": asdict(config),
            "scaling": scaling.to_dict(),
        },
        path,
    )
