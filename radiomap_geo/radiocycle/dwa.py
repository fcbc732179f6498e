"""Dynamic weight averaging (DWA; Liu et al., "End-to-end multi-task learning with attention",
CVPR 2019), as paper 001 uses it to balance generator F's and G's losses (its eqs. 8-9).

For ``N`` tasks with losses ``L_n(t)`` averaged over epoch (or window) ``t``::

    s_n(t-1)     = L_n(t-1) / L_n(t-2)                       # training speed, < 1 = falling
    lambda_i(t)  = N * exp(s_i(t-1) / T) / sum_n exp(s_n(t-1) / T)

so the task whose loss falls slowest gets the larger weight; the weights always sum to ``N``.
``T`` is the temperature: a large ``T`` flattens the weights towards 1 each, a small ``T``
sharpens them. We use ``T = 2`` (Liu et al.'s value; paper 001 does not state its own). Until
two windows of history exist, every weight is 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Temperature of the softmax over training speeds (Liu et al. 2019; paper 001 gives none).
DEFAULT_TEMPERATURE = 2.0


def dwa_weights(
    history: Sequence[Sequence[float]], temperature: float = DEFAULT_TEMPERATURE
) -> list[float]:
    """The DWA weights for the next window from per-window mean losses.

    Args:
        history: ``history[t][n]`` = mean loss of task ``n`` in window ``t`` (oldest first).
        temperature: ``T`` (> 0).

    Returns:
        One weight per task, summing to the number of tasks.
    """
    if temperature <= 0:
        raise ValueError(f"DWA temperature must be positive, got {temperature}")
    if not history:
        raise ValueError("DWA needs the number of tasks: give at least one window of losses")
    n_tasks = len(history[-1])
    if len(history) < 2:
        return [1.0] * n_tasks
    last, before = history[-1], history[-2]
    speeds = [last[n] / max(before[n], 1e-12) for n in range(n_tasks)]
    exps = [math.exp(s / temperature) for s in speeds]
    total = sum(exps)
    return [n_tasks * e / total for e in exps]


class DynamicWeightAverage:
    """Keeps per-window loss means and gives the DWA weights for the current window.

    Call :meth:`update` with each step's task losses; every ``window`` steps the window's means
    are appended to :attr:`history` and the weights change.
    """

    def __init__(
        self, n_tasks: int, window: int = 50, temperature: float = DEFAULT_TEMPERATURE
    ) -> None:
        self.n_tasks = n_tasks
        self.window = window
        self.temperature = temperature
        self.history: list[list[float]] = []
        self._sums = [0.0] * n_tasks
        self._count = 0
        self.weights = [1.0] * n_tasks

    def update(self, losses: Sequence[float]) -> list[float]:
        """Record one step's losses; returns the weights to use for the next step."""
        for n, value in enumerate(losses):
            self._sums[n] += float(value)
        self._count += 1
        if self._count >= self.window:
            self.history.append([s / self._count for s in self._sums])
            self._sums, self._count = [0.0] * self.n_tasks, 0
            self.weights = dwa_weights(self.history, self.temperature)
        return self.weights

    def state_dict(self) -> dict:
        """For checkpoints (resume)."""
        return {"history": self.history, "weights": self.weights}

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict`."""
        self.history = [list(h) for h in state["history"]]
        self.weights = list(state["weights"])
