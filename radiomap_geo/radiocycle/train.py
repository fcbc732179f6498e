"""Joint training of RadioCycle's F and G (paper 001 section 3.3) and of its InterpolationNet
baseline, resumable: a checkpoint is written atomically every ``checkpoint_every`` steps and a
rerun of the same command continues from it (kill -9 loses at most those steps).

Losses (paper 001 eqs. 5-7), with ``x`` the sparse measurements, ``z`` the building map, ``y``
the radio map::

    l_G = MSE(G(z), y) + MSE(G(F(x)), y)                  # estimation + dual (green loop)
    l_F = DiceBCE(F(x), z) + DiceBCE(F(G(z)), z)          # estimation + dual (blue loop)
    l   = lambda_1 l_G + lambda_2 l_F                     # lambdas from DWA (dwa.py)

MSE counts labelled cells only. F(G(z)) reads G's radio map at the same measured cells as
F(x) (F's input is always a sparse map; the paper does not say how it feeds G(z) to F).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as fn
from torch import Tensor

from radiomap_geo.radiocycle.data import F_CHANNELS, G_CHANNELS, MapSet, make_batch
from radiomap_geo.radiocycle.dwa import DEFAULT_TEMPERATURE, DynamicWeightAverage
from radiomap_geo.radiocycle.networks import UNetLike, build

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Training settings (small defaults: a few CPU minutes)."""

    model: str = "radiocycle"  # or "interpolation-net"
    steps: int = 600
    batch: int = 12
    crop: int = 64
    base: int = 12
    depth: int = 3
    lr: float = 2e-3
    dwa_window: int = 25
    dwa_temperature: float = DEFAULT_TEMPERATURE
    fixed_rate: float | None = None  # InterpolationNet: 0.20
    seed: int = 0
    checkpoint_every: int = 50


def dice_bce(logits: Tensor, target: Tensor) -> Tensor:
    """Paper 001's DiceBCE: BCE + (1 - Dice) with squared sums in the Dice denominator."""
    bce = fn.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dims = (1, 2, 3)
    dice = 2 * (p * target).sum(dims) / ((p * p).sum(dims) + (target * target).sum(dims) + 1.0)
    return bce + (1 - dice).mean()


def masked_mse(pred: Tensor, target: Tensor, labelled: Tensor) -> Tensor:
    """MSE over labelled cells."""
    return ((pred - target) ** 2 * labelled).sum() / labelled.sum().clamp(min=1.0)


def building_input(prob: Tensor, g_input: Tensor) -> Tensor:
    """G's input with its building channel replaced by F's probabilities."""
    return torch.cat([prob, g_input[:, 1:]], 1)


def sparse_input(radio: Tensor, f_input: Tensor) -> Tensor:
    """F's input with G's radio map read at the measured cells (channel 1 is the mask)."""
    mask = f_input[:, 1:2]
    return torch.cat([radio * mask, f_input[:, 1:]], 1)


class Networks:
    """The networks one training run optimises (F and G, or InterpolationNet alone)."""

    def __init__(self, config: TrainConfig) -> None:
        kw = {"base": config.base, "depth": config.depth}
        self.nets: dict[str, UNetLike] = {}
        if config.model == "radiocycle":
            self.nets["f"] = build("resunet", in_channels=len(F_CHANNELS), **kw)
            self.nets["g"] = build("unet", in_channels=len(G_CHANNELS), **kw)
        elif config.model == "interpolation-net":
            self.nets["interp"] = build("unet", in_channels=len(F_CHANNELS), **kw)
        else:
            raise ValueError(f"unknown model {config.model!r}: radiocycle or interpolation-net")

    def parameters(self) -> list:
        """All trainable parameters."""
        return [p for net in self.nets.values() for p in net.parameters()]

    def train(self, mode: bool = True) -> None:
        """Training (or eval) mode for every network."""
        for net in self.nets.values():
            net.train(mode)


def radiocycle_losses(nets: dict[str, UNetLike], b: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """``(l_G, l_F)`` of one batch (paper 001 eqs. 5 and 6)."""
    f, g = nets["f"], nets["g"]
    f_logits = f(b["f_input"])
    g_radio = g(b["g_input"])
    l_g = masked_mse(g_radio, b["radio"], b["labelled"]) + masked_mse(
        g(building_input(torch.sigmoid(f_logits), b["g_input"])), b["radio"], b["labelled"]
    )
    l_f = dice_bce(f_logits, b["buildings"]) + dice_bce(
        f(sparse_input(g_radio, b["f_input"])), b["buildings"]
    )
    return l_g, l_f


def interpolation_loss(nets: dict[str, UNetLike], b: dict[str, Tensor]) -> Tensor:
    """InterpolationNet: MSE of the radio map from the sparse map alone."""
    return masked_mse(nets["interp"](b["f_input"]), b["radio"], b["labelled"])


def _atomic_torch_save(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(
    maps: MapSet,
    config: TrainConfig,
    run_dir: str | os.PathLike,
    *,
    max_seconds: float | None = None,
    log: Callable[[str], None] = logger.info,
) -> dict:
    """Train (or continue training) into ``run_dir``; returns the final checkpoint dict.

    The checkpoint ``run_dir/checkpoint.pt`` holds networks, optimiser, DWA state, step, the
    loss history and the config. Stops at ``config.steps`` or after ``max_seconds``.
    """
    torch.manual_seed(config.seed)
    run = Path(run_dir)
    ckpt_path = run / "checkpoint.pt"
    nets = Networks(config)
    opt = torch.optim.Adam(nets.parameters(), lr=config.lr)
    dwa = DynamicWeightAverage(2, config.dwa_window, config.dwa_temperature)
    state = {"step": 0, "history": []}
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True)
        for name, net in nets.nets.items():
            net.load_state_dict(ckpt["nets"][name])
        opt.load_state_dict(ckpt["optimizer"])
        dwa.load_state_dict(ckpt["dwa"])
        state = {"step": int(ckpt["step"]), "history": list(ckpt["history"])}
        log(f"resuming {config.model} at step {state['step']}")
    rng = np.random.default_rng([config.seed, state["step"]])
    start = time.monotonic()
    nets.train()
    while state["step"] < config.steps:
        idx = rng.integers(0, len(maps), config.batch)
        batch = make_batch(maps, idx, rng, config.crop, config.fixed_rate)
        b = {k: torch.from_numpy(v) for k, v in asdict(batch).items()}
        if config.model == "radiocycle":
            l_g, l_f = radiocycle_losses(nets.nets, b)
            w = dwa.weights
            loss = w[0] * l_g + w[1] * l_f
            dwa.update([l_g.item(), l_f.item()])
            record = [l_g.item(), l_f.item(), w[0], w[1]]
        else:
            loss = interpolation_loss(nets.nets, b)
            record = [loss.item()]
        opt.zero_grad()
        loss.backward()
        opt.step()
        state["step"] += 1
        state["history"].append(record)
        done = state["step"] >= config.steps
        out_of_time = max_seconds is not None and time.monotonic() - start > max_seconds
        if state["step"] % config.checkpoint_every == 0 or done or out_of_time:
            recent = np.mean(state["history"][-config.checkpoint_every :], 0)
            log(f"{config.model} step {state['step']}: recent losses {np.round(recent, 4)}")
            ckpt = {
                "nets": {k: n.state_dict() for k, n in nets.nets.items()},
                "optimizer": opt.state_dict(),
                "dwa": dwa.state_dict(),
                "step": state["step"],
                "history": state["history"],
                "config": asdict(config),
            }
            _atomic_torch_save(ckpt, ckpt_path)
        if out_of_time:
            break
    return torch.load(ckpt_path, weights_only=True)
