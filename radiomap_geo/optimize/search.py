"""Gradient descent through the frozen surrogate, and random search with the same budget.

Both methods work on the same box (:mod:`radiomap_geo.optimize.domain`) and count the same
unit, one evaluation of every site's map (``budget`` evaluations = ``budget x n_sites`` network
runs). Both report the exact (hard) objective of every configuration they evaluate and return
the best one, the start included: neither can do worse than the start on the surrogate.

Gradient descent: each free parameter is mapped onto [0, 1] over its domain, Adam (paper 002)
maximises the soft objective jointly over all sites, and each step is projected back into the
box. With ``starts > 1`` the budget is split between that many runs, the first from the given
orientation and the others from uniform random points of the domain (multi-start).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from radiomap_geo.optimize.objectives import Objective
from radiomap_geo.optimize.options import OptimizeOptions
from radiomap_geo.progress import Monitor


@dataclass
class Problem:
    """What a search needs: the surrogate, the objective, the cells and the box."""

    surrogate: object
    objective: Objective
    cells: torch.Tensor  # flat indices of the counted cells
    start: np.ndarray  # (n, 3) azimuth, tilt, power
    low: np.ndarray
    high: np.ndarray
    free: np.ndarray  # (n, 3) bool: which entries are optimised

    def power_dbm(self, values: torch.Tensor) -> torch.Tensor:
        """Received power (dBm) per site on the counted cells, ``(n_sites, n_cells)``."""
        gain = self.surrogate.gain_db(values[:, 0], values[:, 1])
        flat = gain.reshape(gain.shape[0], -1)[:, self.cells]
        return values[:, 2:3].to(flat.dtype) + flat

    def values(self, unit: torch.Tensor) -> torch.Tensor:
        """Parameters from their [0, 1] coordinates (fixed entries stay at the start)."""
        low = torch.as_tensor(self.low, dtype=torch.float32)
        span = torch.as_tensor(self.high - self.low, dtype=torch.float32)
        start = torch.as_tensor(self.start, dtype=torch.float32)
        free = torch.as_tensor(self.free)
        return torch.where(free, low + unit * span, start)

    def unit(self, values: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`values` (0.5 where the domain is a single point)."""
        span = self.high - self.low
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(span > 0, (values - self.low) / span, 0.5)


@dataclass
class SearchResult:
    """Best configuration found and the curve of the run."""

    method: str
    best: np.ndarray
    best_value: float
    start_value: float
    evaluations: int
    seconds: float
    curve: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-ready summary (the curve included)."""
        return {
            "method": self.method,
            "objective_start": self.start_value,
            "objective_best": self.best_value,
            "network_evaluations": self.evaluations,
            "seconds": round(self.seconds, 2),
            "curve": self.curve,
        }


def gradient_search(
    problem: Problem, options: OptimizeOptions, monitor: Monitor | None = None
) -> SearchResult:
    """Adam on the soft objective; the hard objective recorded at every step.

    Reads ``budget``, ``starts``, ``learning_rate`` and ``seed`` of ``options``.
    """
    rng = np.random.default_rng(options.seed)
    steps = _split(options.budget, options.starts)
    tracker = _Tracker("gradient", problem, monitor, options.budget)
    for run, n_steps in enumerate(steps):
        first = problem.unit(problem.start) if run == 0 else rng.uniform(size=problem.start.shape)
        unit = torch.tensor(np.clip(first, 0, 1), dtype=torch.float32, requires_grad=True)
        optimiser = torch.optim.Adam([unit], lr=options.learning_rate)
        for _ in range(n_steps):
            values = problem.values(unit)
            power = problem.power_dbm(values)
            soft = problem.objective.soft(power)
            tracker.record(
                values.detach(), problem.objective.hard(power), float(soft.detach()), run
            )
            optimiser.zero_grad()
            (-soft).backward()
            optimiser.step()
            with torch.no_grad():
                unit.clamp_(0.0, 1.0)
    return tracker.result()


def random_search(
    problem: Problem, options: OptimizeOptions, monitor: Monitor | None = None
) -> SearchResult:
    """The start, then ``options.budget - 1`` configurations drawn uniformly from the domain."""
    rng = np.random.default_rng(options.seed)
    tracker = _Tracker("random", problem, monitor, options.budget)
    with torch.no_grad():
        for i in range(options.budget):
            unit = problem.unit(problem.start) if i == 0 else rng.uniform(size=problem.start.shape)
            values = problem.values(torch.as_tensor(unit, dtype=torch.float32))
            tracker.record(values, problem.objective.hard(problem.power_dbm(values)), None, 0)
    return tracker.result()


#: The search methods by name (``OptimizeOptions.method`` "both" runs the two).
SEARCHES = {"gradient": gradient_search, "random": random_search}


def _split(budget: int, starts: int) -> list[int]:
    """Steps per start: as even as possible, every start at least one step."""
    starts = max(1, min(starts, budget))
    return [budget // starts + (1 if i < budget % starts else 0) for i in range(starts)]


class _Tracker:
    """Keeps the best configuration, the curve and the progress callbacks of one search."""

    def __init__(self, method: str, problem: Problem, monitor: Monitor | None, total: int):
        self.method, self.problem, self.total = method, problem, total
        self.monitor = monitor
        self.curve: list[dict] = []
        self.best: np.ndarray | None = None
        self.best_value = -np.inf
        self.t0 = time.perf_counter()
        self.evaluations0 = problem.surrogate.evaluations

    def record(self, values: torch.Tensor, hard: float, soft: float | None, run: int) -> None:
        point = {"step": len(self.curve), "run": run, "objective": round(hard, 4)}
        if soft is not None:
            point["soft"] = round(soft, 4)
        self.curve.append(point)
        if hard > self.best_value:
            self.best_value, self.best = hard, values.numpy().astype(np.float64).copy()
        if self.monitor is not None:
            self.monitor.step(
                len(self.curve),
                self.total,
                f"{self.method}: {hard:.2f} (best {self.best_value:.2f})",
            )

    def result(self) -> SearchResult:
        return SearchResult(
            method=self.method,
            best=self.best,
            best_value=float(self.best_value),
            start_value=float(self.curve[0]["objective"]),
            evaluations=self.problem.surrogate.evaluations - self.evaluations0,
            seconds=time.perf_counter() - self.t0,
            curve=self.curve,
        )
