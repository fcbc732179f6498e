"""DWA weights follow paper 001's eqs. 8-9 on crafted loss histories."""

from __future__ import annotations

import math

import pytest

from radiomap_geo.radiocycle.dwa import DynamicWeightAverage, dwa_weights


def test_weights_match_the_formula_by_hand():
    # task 0 halves its loss (fast), task 1 stays (slow): s = (0.5, 1.0)
    history = [[2.0, 1.0], [1.0, 1.0]]
    t = 2.0
    e0, e1 = math.exp(0.5 / t), math.exp(1.0 / t)
    expected = [2 * e0 / (e0 + e1), 2 * e1 / (e0 + e1)]
    assert dwa_weights(history, t) == pytest.approx(expected)
    # the slow task gets the larger weight, and the weights sum to the number of tasks
    w = dwa_weights(history, t)
    assert w[1] > 1.0 > w[0]
    assert sum(w) == pytest.approx(2.0)


def test_only_the_last_two_windows_count_and_equal_speeds_give_ones():
    assert dwa_weights([[9.0, 1.0], [4.0, 2.0], [2.0, 1.0]]) == pytest.approx([1.0, 1.0])
    assert dwa_weights([[3.0, 7.0]]) == [1.0, 1.0]  # no speed yet


def test_temperature_sharpens_or_flattens():
    history = [[1.0, 1.0], [0.2, 1.0]]
    sharp, flat = dwa_weights(history, 0.1), dwa_weights(history, 100.0)
    assert sharp[1] > 1.99 and sharp[0] < 0.01
    assert flat == pytest.approx([1.0, 1.0], abs=5e-3)
    with pytest.raises(ValueError, match="temperature"):
        dwa_weights(history, 0.0)


def test_windows_update_the_weights():
    dwa = DynamicWeightAverage(2, window=2, temperature=1.0)
    for losses in ([4.0, 1.0], [4.0, 1.0]):  # window 1 means: (4, 1)
        weights = dwa.update(losses)
    assert weights == [1.0, 1.0]
    for losses in ([1.0, 1.0], [3.0, 1.0]):  # window 2 means: (2, 1) -> s = (0.5, 1)
        weights = dwa.update(losses)
    assert dwa.history == [[4.0, 1.0], [2.0, 1.0]]
    assert weights == pytest.approx(dwa_weights([[4.0, 1.0], [2.0, 1.0]], 1.0))
    restored = DynamicWeightAverage(2, window=2, temperature=1.0)
    restored.load_state_dict(dwa.state_dict())
    assert restored.weights == weights
