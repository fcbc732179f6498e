"""Synthetic walks: contiguous, inside the open cells, and not stopped by dead ends."""

from __future__ import annotations

import numpy as np

from radiomap_geo.measurements.synthetic import random_walk


def _contiguous_and_open(path: np.ndarray, mask: np.ndarray) -> bool:
    steps = np.abs(np.diff(path, axis=0)).sum(axis=1)
    return bool((steps == 1).all() and mask[path[:, 0], path[:, 1]].all())


def test_walk_turns_back_at_a_dead_end():
    mask = np.zeros((5, 30), bool)
    mask[2, 5:25] = True  # one 20-cell corridor, closed at both ends
    for seed in range(5):
        path = random_walk(mask, 100, np.random.default_rng(seed))
        assert len(path) == 100
        assert _contiguous_and_open(path, mask)
        assert len({tuple(p) for p in path}) == 20  # it covers the corridor, end to end


def test_walk_starts_where_there_is_room_to_walk():
    mask = np.zeros((20, 20), bool)
    mask[1:3, 1:3] = True  # a closed courtyard
    mask[8:18, 8:18] = True  # a square
    for seed in range(20):
        path = random_walk(mask, 60, np.random.default_rng(seed))
        assert len(path) == 60 and _contiguous_and_open(path, mask)
        assert path.min() >= 8  # never in the courtyard


def test_empty_mask_gives_an_empty_walk():
    assert random_walk(np.zeros((4, 4), bool), 10, np.random.default_rng(0)).shape == (0, 2)
