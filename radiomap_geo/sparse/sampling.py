"""Where the measurements are: sampling patterns on a map's outdoor cells.

Three families, as field campaigns produce them (issue #10):

* ``uniform:<percent>``: that share of the measurable cells, drawn uniformly (crowdsourced
  points, paper 001's sampling rates 0.1-20 %);
* ``count:<n>``: ``n`` fixed sensors, drawn uniformly (paper 003's 15 / 30 / 50 sensors per
  area, lamp-post EMF probes);
* ``trajectory:<percent>``: the same number of cells as ``uniform`` but along contiguous street
  walks (drive tests): walks of at most :data:`WALK_CELLS` cells that keep their heading while the
  street continues and turn into a free neighbour otherwise.

A pattern is drawn inside ``measurable`` (outdoor cells with a known value); the result is a
boolean mask. Everything is driven by a :class:`numpy.random.Generator`, so a seed reproduces it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from radiomap_geo.errors import InputError

#: The patterns the evaluation reports (issue #10): densities, sensor counts, trajectories.
EVALUATION_PATTERNS = (
    "uniform:0.1%",
    "uniform:0.5%",
    "uniform:1%",
    "uniform:5%",
    "uniform:20%",
    "count:15",
    "count:30",
    "count:50",
    "trajectory:1%",
    "trajectory:5%",
)
#: Longest single walk of a trajectory pattern (cells): 128 m at 2 m, one or two streets.
WALK_CELLS = 64
_STEPS = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])
_PATTERN = re.compile(r"^(uniform|count|trajectory):([0-9.]+)(%?)$")


@dataclass(frozen=True)
class Pattern:
    """A parsed sampling pattern (``kind``: uniform, count, trajectory; ``amount``: a share in
    [0, 1] for uniform/trajectory, a number of points for count).
    """

    kind: str
    amount: float

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """``uniform:1%``, ``count:50`` or ``trajectory:5%``.

        Raises:
            InputError: anything else (naming the accepted forms).
        """
        match = _PATTERN.match(str(text).strip().lower())
        if not match:
            raise InputError(
                f"sampling pattern {text!r}: use uniform:<percent>%, count:<n> or "
                "trajectory:<percent>% (e.g. uniform:1%, count:50, trajectory:5%)",
                parameter="patterns",
            )
        kind, number, percent = match.groups()
        value = float(number)
        if kind == "count":
            if percent or value != int(value):
                raise InputError(
                    f"sampling pattern {text!r}: count needs a whole number of points, "
                    "e.g. count:50",
                    parameter="patterns",
                )
            if value < 1:
                raise InputError(
                    f"sampling pattern {text!r}: count needs at least 1 point, e.g. count:50",
                    parameter="patterns",
                )
            return cls(kind, value)
        if not percent or not 0 < value <= 100:
            raise InputError(
                f"sampling pattern {text!r}: give a percentage in (0, 100], e.g. {kind}:1%",
                parameter="patterns",
            )
        return cls(kind, value / 100.0)

    @property
    def label(self) -> str:
        """The canonical text form (``uniform:1%``)."""
        if self.kind == "count":
            return f"count:{int(self.amount)}"
        return f"{self.kind}:{100 * self.amount:g}%"

    def n_points(self, n_measurable: int) -> int:
        """How many cells this pattern measures on a map with ``n_measurable`` candidates."""
        if self.kind == "count":
            wanted = int(self.amount)
        else:
            wanted = int(round(self.amount * n_measurable))
        return int(min(max(wanted, 1), n_measurable))

    def draw(
        self,
        measurable: np.ndarray,
        rng: np.random.Generator,
        outdoor: np.ndarray | None = None,
    ) -> np.ndarray:
        """A boolean mask of measured cells inside ``measurable`` (walks may cross the other
        ``outdoor`` cells).
        """
        n = self.n_points(int(measurable.sum()))
        if self.kind == "trajectory":
            return trajectory_mask(measurable, n, rng, outdoor)
        return uniform_mask(measurable, n, rng)


def uniform_mask(measurable: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` cells of ``measurable`` drawn without replacement."""
    cells = np.flatnonzero(measurable)
    if len(cells) == 0:
        raise InputError("the map has no measurable cell to sample")
    chosen = rng.choice(cells, size=min(n, len(cells)), replace=False)
    out = np.zeros(measurable.size, bool)
    out[chosen] = True
    return out.reshape(measurable.shape)


def _walk(
    free: np.ndarray, start: tuple[int, int], length: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """One street walk from ``start`` over ``free`` cells (no immediate U-turns)."""
    rows, cols = free.shape
    r, c = start
    heading = int(rng.integers(4))
    path = [(r, c)]
    for _ in range(length - 1):
        options = []
        for turn in (0, 1, 3):  # straight, right, left; reverse only when stuck
            d = (heading + turn) % 4
            rr, cc = r + _STEPS[d][0], c + _STEPS[d][1]
            if 0 <= rr < rows and 0 <= cc < cols and free[rr, cc]:
                options.append(d)
        if not options:
            break
        # keep going straight along the street most of the time, like a car or a walker
        if options[0] == heading and rng.random() < 0.9:
            heading = heading
        else:
            heading = int(rng.choice(options))
        r, c = r + _STEPS[heading][0], c + _STEPS[heading][1]
        path.append((r, c))
    return path


def trajectory_mask(
    measurable: np.ndarray, n: int, rng: np.random.Generator, outdoor: np.ndarray | None = None
) -> np.ndarray:
    """About ``n`` measured cells along contiguous walks over outdoor cells.

    Walks of at most :data:`WALK_CELLS` run over ``outdoor`` (default: ``measurable``); only the
    ``measurable`` cells they visit count as measurements. Walks are added until ``n`` cells are
    measured (or the walks stop finding new cells).
    """
    free = measurable if outdoor is None else (outdoor | measurable)
    cells = np.flatnonzero(measurable)
    if len(cells) == 0:
        raise InputError("the map has no measurable cell to sample")
    out = np.zeros(measurable.shape, bool)
    count, stale = 0, 0
    while count < n and stale < 50:
        start = np.unravel_index(int(rng.choice(cells)), measurable.shape)
        before = count
        for r, c in _walk(free, (int(start[0]), int(start[1])), min(WALK_CELLS, n - count), rng):
            if measurable[r, c] and not out[r, c]:
                out[r, c] = True
                count += 1
                if count >= n:
                    break
        stale = stale + 1 if count == before else 0
    return out


#: Training mixture (issue #10: random and trajectory sets, since models trained on random
#: points alone fail on trajectories): shares of each family and the density range.
TRAINING_MIX = {"uniform": 0.45, "count": 0.2, "trajectory": 0.35}
TRAINING_DENSITY = (0.0005, 0.25)
TRAINING_COUNT = (10, 60)


def training_pattern(rng: np.random.Generator) -> Pattern:
    """A random pattern for one training map: family by :data:`TRAINING_MIX`, densities
    log-uniform over :data:`TRAINING_DENSITY`, counts uniform over :data:`TRAINING_COUNT`.
    """
    kinds = list(TRAINING_MIX)
    kind = str(rng.choice(kinds, p=[TRAINING_MIX[k] for k in kinds]))
    if kind == "count":
        return Pattern(kind, float(rng.integers(TRAINING_COUNT[0], TRAINING_COUNT[1] + 1)))
    lo, hi = np.log(TRAINING_DENSITY[0]), np.log(TRAINING_DENSITY[1])
    return Pattern(kind, float(np.exp(rng.uniform(lo, hi))))
