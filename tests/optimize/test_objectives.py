"""Soft objectives converge to the exact ones as temperature / slope sharpen."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radiomap_geo.optimize.objectives import Objective, best_sinr_db, combined_dbm


@pytest.fixture
def power() -> torch.Tensor:
    """Three sites' received power (dBm) on 5000 cells, a spread like a real map."""
    rng = np.random.default_rng(1)
    return torch.as_tensor(rng.normal(-80.0, 12.0, size=(3, 5000)), dtype=torch.float64)


def test_hard_percentile_is_numpys_percentile_of_the_summed_power(power):
    objective = Objective("percentile", percentile=5.0, rsrp_offset_db=-27.9)
    total = 10 * np.log10((10 ** (power.numpy() / 10)).sum(axis=0))
    expected = np.percentile(total, 5.0, method="inverted_cdf") - 27.9
    assert objective.hard(power) == pytest.approx(expected, abs=1e-9)


def test_soft_percentile_converges_to_the_hard_one(power):
    errors = []
    for temperature in (10.0, 3.0, 1.0, 0.1, 0.01, 0.0005):
        objective = Objective("percentile", percentile=5.0, temperature_db=temperature)
        errors.append(abs(float(objective.soft(power)) - objective.hard(power)))
    assert errors[0] > 1.0  # a warm operator averages the tail
    assert all(a >= b for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 1e-3


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("sinr-coverage", {"threshold_db": 8.0}), ("rsrp-coverage", {"threshold_dbm": -100.0})],
)
def test_soft_coverage_converges_to_the_count(power, name, kwargs):
    errors = []
    for slope in (5.0, 1.0, 0.1, 0.001):
        objective = Objective(name, slope_db=slope, noise_dbm=-95.0, rsrp_offset_db=-27.9, **kwargs)
        hard = objective.hard(power)
        assert 500 < hard < 4500  # the threshold cuts through the map
        errors.append(abs(float(objective.soft(power)) - hard))
    assert errors[0] > 20
    assert all(a >= b for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 1.0


def test_sinr_and_sum_by_hand():
    power = torch.tensor([[-70.0], [-80.0]], dtype=torch.float64)  # one cell, two sites
    noise = -90.0
    linear = 10 ** (np.array([-70.0, -80.0]) / 10)
    expected = 10 * np.log10(linear[0] / (linear[1] + 10 ** (noise / 10)))
    assert float(best_sinr_db(power, noise)[0]) == pytest.approx(expected)
    assert float(combined_dbm(power)[0]) == pytest.approx(10 * np.log10(linear.sum()))


def test_soft_objectives_have_gradients(power):
    power = power.clone().requires_grad_(True)
    for objective in (Objective("percentile"), Objective("sinr-coverage", noise_dbm=-95.0)):
        power.grad = None
        objective.soft(power).backward()
        assert torch.isfinite(power.grad).all() and power.grad.abs().sum() > 0
