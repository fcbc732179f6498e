"""A network trained on fewer-ray labels, moved to the level a trace with more rays gives.

Sionna RT's radio map is a Monte-Carlo estimate. At the dataset's 3e6 rays per transmitter it is
unbiased in power, but a loss in dB learns the mean of the labels' *dB*, which is lower than a
1e7-ray trace's wherever few rays reach a cell: 0.7-1.5 dB from -140 to -90 dB
(``benchmarks/bench_ray_count.py``, ``benchmarks/results/ray_count.md``). A network trained on
3e6-ray labels inherits that gap, and the 1e7-ray test and validation labels count it as error.

:class:`RayCountCorrection` is that gap as the network sees it: the mean difference between a
trace with more rays and the dataset's labels of the same training cells, per 5 dB bin of the
network's *own prediction* and per line of sight. Binned by the prediction, not by either label,
the table measures the labels' difference alone: binned by a noisy label it would also hold
that label's regression to the mean. It is fitted on training tiles only
(:func:`radiomap_geo.nets.ray_correction_fit.fit_ray_correction`), stored in the weights'
metadata (``output_correction``, see :func:`~radiomap_geo.nets.ray_correction_fit.with_ray_correction`)
and added to every prediction by
:class:`~radiomap_geo.nets.model.NetworkModel`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from radiomap_geo.errors import InputError

#: Bin edges (dB) of the predicted path gain; the first and last bins are open.
DEFAULT_EDGES_DB = tuple(float(e) for e in range(-160, -45, 5))
#: A bin with fewer cells keeps a zero correction (too few to estimate a mean gap).
MIN_CELLS = 500
KIND = "ray-count"


@dataclass(frozen=True)
class RayCountCorrection:
    """dB added to a prediction, by bin of the prediction (``len(edges) + 1`` values each)."""

    edges_db: tuple[float, ...]
    nlos_db: tuple[float, ...]
    los_db: tuple[float, ...]
    rays: tuple[float, float]  #: (labels the network was trained on, the trace it is moved to)
    cells: int = 0  #: training cells the table was fitted on

    def __post_init__(self) -> None:
        bins = len(self.edges_db) + 1
        if len(self.nlos_db) != bins or len(self.los_db) != bins:
            raise InputError(f"a ray-count correction needs {bins} values per table")
        if not np.all(np.isfinite(self.nlos_db + self.los_db)):
            raise InputError("a ray-count correction holds a non-finite value")

    def apply(self, db: np.ndarray, los: np.ndarray) -> np.ndarray:
        """``db`` plus the correction of its bin (``los``: True where the site is in sight)."""
        table = np.asarray([self.nlos_db, self.los_db], np.float32).ravel()
        index = self.bins(db) + np.asarray(los, bool) * (len(self.edges_db) + 1)
        return (db + table[index]).astype(np.float32)

    def bins(self, db: np.ndarray) -> np.ndarray:
        """The bin of every value, as :func:`numpy.digitize` (NaN: the last bin). Equal-width
        bins are computed by arithmetic, which is much faster on a map than a search.
        """
        edges = np.asarray(self.edges_db, np.float32)
        widths = np.diff(edges)
        if not widths.size or np.any(widths != widths[0]):
            return np.searchsorted(edges, db, side="right")
        with np.errstate(invalid="ignore"):
            steps = np.floor((np.asarray(db, np.float32) - edges[0]) / widths[0])
        steps = np.nan_to_num(steps, nan=len(edges))
        return (np.clip(steps, -1, len(edges) - 1) + 1).astype(np.intp)

    def to_dict(self) -> dict[str, Any]:
        """The weights-metadata form."""
        return {
            "kind": KIND,
            "edges_db": list(self.edges_db),
            "nlos_db": [round(float(v), 3) for v in self.nlos_db],
            "los_db": [round(float(v), 3) for v in self.los_db],
            "rays": list(self.rays),
            "cells": int(self.cells),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RayCountCorrection:
        """Read :meth:`to_dict`'s form (a weights file's ``output_correction``)."""
        if data.get("kind") != KIND:
            raise InputError(f"unknown output correction {data.get('kind')!r}")
        return cls(
            edges_db=tuple(float(v) for v in data["edges_db"]),
            nlos_db=tuple(float(v) for v in data["nlos_db"]),
            los_db=tuple(float(v) for v in data["los_db"]),
            rays=tuple(float(v) for v in data["rays"]),
            cells=int(data.get("cells", 0)),
        )


class CorrectionFit:
    """Accumulates ``more - fewer`` label differences by predicted bin and line of sight."""

    def __init__(self, edges_db: Sequence[float] = DEFAULT_EDGES_DB):
        self.edges_db = tuple(float(e) for e in edges_db)
        self.sums = np.zeros((2, len(self.edges_db) + 1))
        self.counts = np.zeros((2, len(self.edges_db) + 1))

    def add(
        self,
        pred_db: np.ndarray,
        los: np.ndarray,
        fewer_db: np.ndarray,
        more_db: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        """One map: cells ``valid`` and labelled in both traces count."""
        keep = np.asarray(valid, bool) & np.isfinite(fewer_db) & np.isfinite(more_db)
        keep &= np.isfinite(pred_db)
        bins = np.digitize(pred_db[keep], self.edges_db)
        sight = np.asarray(los, bool)[keep].astype(int)
        np.add.at(self.sums, (sight, bins), (more_db - fewer_db)[keep])
        np.add.at(self.counts, (sight, bins), 1)

    def result(self, rays: tuple[float, float], min_cells: int = MIN_CELLS) -> RayCountCorrection:
        """The table: the mean difference of every bin with at least ``min_cells`` cells."""
        if not self.counts.sum():
            raise InputError("no training cell is labelled in both traces: nothing to fit")
        mean = np.where(self.counts >= min_cells, self.sums / np.maximum(self.counts, 1), 0.0)
        return RayCountCorrection(
            self.edges_db, tuple(mean[0]), tuple(mean[1]), rays, int(self.counts.sum())
        )
