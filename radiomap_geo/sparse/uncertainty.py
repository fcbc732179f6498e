"""Calibrated per-cell uncertainty of a measurement model (``rsrp_std_db``).

Normalised split-conformal regression (crepes' :class:`~crepes.ConformalRegressor`) on spatially
blocked validation data:

1. a *difficulty* ``s(cell) = exp(c . f(cell))`` is fitted by least squares of ``log(|error| +
   0.5 dB)`` on per-cell features ``f``: 1, ``log(1 + distance to the nearest measurement / m)``,
   NLOS, ``log10(measured share of outdoor cells)``; on the validation maps of one half of the
   tiles;
2. the conformal scores ``|error| / s`` of the *other* half of the tiles (whole tiles: no cell
   near a fitting cell) give the quantiles ``q68`` and ``q95``;
3. ``rsrp_std_db = q68 * s``: the 68 % interval is +-1 std, the 95 % interval +-``z95`` std with
   ``z95 = q95 / q68`` (recorded; 1.96 for Gaussian errors, larger for heavy tails).

:func:`interval_coverage` measures what share of unmeasured test cells the intervals really
cover (issue #10: 60-76 % and 90-98 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.ndimage import distance_transform_edt

from radiomap_geo.sparse.data import MapContext
from radiomap_geo.sparse.evaluate import THRESHOLD_DB, draw_measurements
from radiomap_geo.sparse.networks import CEIL_DB, FLOOR_DB
from radiomap_geo.sparse.sampling import EVALUATION_PATTERNS, Pattern

FEATURES = ("const", "log1p_distance_m", "nlos", "log10_density")
CELLS_PER_MAP = 400


def difficulty_features(
    measured: np.ndarray, los: np.ndarray, outdoor: np.ndarray, resolution: float
) -> np.ndarray:
    """``(H, W, len(FEATURES))`` features of every cell."""
    distance = distance_transform_edt(~measured) * resolution
    density = max(int(measured.sum()), 1) / max(int(outdoor.sum()), 1)
    return np.stack(
        [
            np.ones(measured.shape),
            np.log1p(distance),
            (~los).astype(np.float64),
            np.full(measured.shape, math.log10(density)),
        ],
        axis=-1,
    )


@dataclass(frozen=True)
class Calibration:
    """Difficulty coefficients and conformal quantiles (plain values: stored in weights files)."""

    coef: tuple[float, ...]
    q68: float
    q95: float
    cells_fit: int
    cells_calibration: int

    @property
    def z95(self) -> float:
        """Half-width of the 95 % interval in units of the standard deviation."""
        return self.q95 / self.q68

    def std_db(self, measured, los, outdoor, resolution) -> np.ndarray:
        """``rsrp_std_db`` of every cell (0 at measured cells is *not* assumed)."""
        f = difficulty_features(measured, los, outdoor, resolution)
        return (self.q68 * np.exp(f @ np.asarray(self.coef))).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for weights metadata)."""
        return {**asdict(self), "coef": list(self.coef), "features": list(FEATURES)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tuple(float(c) for c in data["coef"]),
            float(data["q68"]),
            float(data["q95"]),
            int(data["cells_fit"]),
            int(data["cells_calibration"]),
        )


Predictor = Callable[[MapContext, np.ndarray, np.ndarray], np.ndarray]


def _samples(
    predict: Predictor, contexts: Sequence[MapContext], patterns: Sequence[str], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(features (N, F), errors (N,), tile (N,))`` of sampled unmeasured cells."""
    feats, errors, tiles = [], [], []
    parsed = [Pattern.parse(p) for p in patterns]
    for ctx in contexts:
        rng = np.random.default_rng([seed, ctx.index])
        for k, pattern in enumerate(parsed):
            measured, values = draw_measurements(ctx, pattern, seed + 1000, k)
            pred = np.clip(predict(ctx, measured, values), FLOOR_DB, CEIL_DB)
            with np.errstate(invalid="ignore"):
                keep = ctx.valid & ~measured & (ctx.gain_db >= THRESHOLD_DB)
            cells = np.flatnonzero(keep)
            if len(cells) == 0:
                continue
            cells = rng.choice(cells, size=min(CELLS_PER_MAP, len(cells)), replace=False)
            f = difficulty_features(measured, ctx.los, ctx.outdoor, ctx.resolution)
            feats.append(f.reshape(-1, len(FEATURES))[cells])
            errors.append((pred - values).ravel()[cells])
            tiles.append(np.full(len(cells), ctx.tile))
    return np.concatenate(feats), np.concatenate(errors), np.concatenate(tiles)


def calibrate(
    predict: Predictor,
    contexts: Sequence[MapContext],
    patterns: Sequence[str] = EVALUATION_PATTERNS,
    seed: int = 0,
) -> Calibration:
    """Fit the difficulty on half of the tiles and the conformal quantiles on the other half."""
    from crepes import ConformalRegressor

    feats, errors, tiles = _samples(predict, contexts, patterns, seed)
    unique = np.unique(tiles)
    fit_tiles = np.random.default_rng(seed).permutation(unique)[: len(unique) // 2]
    fit = np.isin(tiles, fit_tiles)
    coef, *_ = np.linalg.lstsq(feats[fit], np.log(np.abs(errors[fit]) + 0.5), rcond=None)
    sigmas = np.exp(feats[~fit] @ coef)
    conformal = ConformalRegressor()
    conformal.fit(residuals=errors[~fit], sigmas=sigmas)
    q = {}
    for level in (0.68, 0.95):
        interval = conformal.predict_int(np.zeros(1), sigmas=np.ones(1), confidence=level)
        q[level] = float(interval[0, 1])
    return Calibration(
        tuple(float(c) for c in coef), q[0.68], q[0.95], int(fit.sum()), int((~fit).sum())
    )


def interval_coverage(
    predict: Predictor,
    calibration: Calibration,
    contexts: Sequence[MapContext],
    patterns: Sequence[str] = EVALUATION_PATTERNS,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Share of unmeasured cells inside +-std (68 %), +-z95 std (95 %) and +-1.96 std, per
    pattern and over all.
    """
    out: dict[str, dict[str, float]] = {}
    totals = np.zeros(4)
    for k, text in enumerate(patterns):
        pattern = Pattern.parse(text)
        counts = np.zeros(4)
        for ctx in contexts:
            measured, values = draw_measurements(ctx, pattern, seed, k)
            pred = np.clip(predict(ctx, measured, values), FLOOR_DB, CEIL_DB)
            std = calibration.std_db(measured, ctx.los, ctx.outdoor, ctx.resolution)
            with np.errstate(invalid="ignore"):
                keep = ctx.valid & ~measured & (ctx.gain_db >= THRESHOLD_DB)
            err = np.abs(pred - values)[keep]
            s = std[keep]
            counts += [err.size, (err <= s).sum(), (err <= calibration.z95 * s).sum(), 0]
            counts[3] += (err <= 1.96 * s).sum()
        totals += counts
        out[pattern.label] = _shares(counts)
    out["all"] = _shares(totals)
    return out


def _shares(counts: np.ndarray) -> dict[str, float]:
    n = max(counts[0], 1)
    return {
        "cells": int(counts[0]),
        "within_1_std": float(counts[1] / n),
        "within_z95_std": float(counts[2] / n),
        "within_1.96_std": float(counts[3] / n),
    }
