"""F and G (and InterpolationNet) train a few steps on real dataset maps with falling losses;
a killed run resumes from its checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from radiomap_geo.radiocycle.data import load_maps, make_batch
from radiomap_geo.radiocycle.train import (
    Networks,
    TrainConfig,
    interpolation_loss,
    radiocycle_losses,
    train,
)

DATASET = Path(__file__).resolve().parents[2] / "data" / "radiomaps"
pytestmark = pytest.mark.skipif(
    not (DATASET / "manifest.json").exists(), reason="no ray-traced dataset in data/radiomaps"
)


@pytest.fixture(scope="module")
def maps():
    return load_maps(str(DATASET), "val", 8)


def _fit_one_batch(maps, model: str, steps: int = 25):
    torch.manual_seed(0)
    config = TrainConfig(model=model, base=4, depth=2, crop=32, batch=4)
    nets = Networks(config)
    opt = torch.optim.Adam(nets.parameters(), lr=3e-3)
    batch = make_batch(maps, np.arange(4), np.random.default_rng(0), 32)
    b = {k: torch.from_numpy(v) for k, v in asdict(batch).items()}
    history = []
    for _ in range(steps):
        losses = (
            radiocycle_losses(nets.nets, b)
            if model == "radiocycle"
            else (interpolation_loss(nets.nets, b),)
        )
        opt.zero_grad()
        sum(losses).backward()
        opt.step()
        history.append([x.item() for x in losses])
    return np.asarray(history)


def test_both_generators_losses_fall(maps):
    h = _fit_one_batch(maps, "radiocycle")
    first, last = h[:3].mean(0), h[-3:].mean(0)
    assert last[0] < 0.5 * first[0], f"G loss did not fall: {first[0]:.4f} -> {last[0]:.4f}"
    assert last[1] < 0.9 * first[1], f"F loss did not fall: {first[1]:.4f} -> {last[1]:.4f}"


def test_interpolation_net_loss_falls(maps):
    h = _fit_one_batch(maps, "interpolation-net")
    assert h[-3:].mean() < 0.5 * h[:3].mean()


def test_training_resumes_from_its_checkpoint(maps, tmp_path):
    config = TrainConfig(steps=2, base=4, depth=2, crop=32, batch=2, checkpoint_every=1)
    first = train(maps, config, tmp_path)
    assert first["step"] == 2 and len(first["history"]) == 2
    config.steps = 3
    second = train(maps, config, tmp_path)
    assert second["step"] == 3
    assert second["history"][:2] == first["history"]  # continued, not restarted
