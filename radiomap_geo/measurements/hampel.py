"""Hampel outlier filters for drive-test samples.

Two filters, both on the median absolute deviation (MAD), which a few wild values cannot drag:

* :func:`position_outliers`: paper 004's filter, applied per cell on latitude and then on
  longitude. A sample is an outlier when its distance from the median exceeds
  :data:`POSITION_THRESHOLD` (4.5) times the *unscaled* median absolute deviation, exactly as the
  paper states. It removes GPS jumps far from the rest of a cell's walk.
* :func:`rsrp_outliers`: the classic windowed Hampel identifier on RSRP along each walk (time
  order per cell and file): a sample more than :data:`RSRP_THRESHOLD` (3) scaled MADs
  (1.4826 x MAD, the Gaussian-consistent sigma) from the median of its :data:`RSRP_WINDOW`
  neighbours (7, centred) is an outlier; deviations below :data:`RSRP_MIN_DEVIATION_DB` (6 dB,
  the spread paper 004 quotes between phones at one place and time) never are, so integer dBm
  readings on a quiet stretch (MAD 0) are not flagged. When residuals from a path-loss fit are
  given instead, the same rule runs on the residuals.
"""

from __future__ import annotations

import numpy as np

POSITION_THRESHOLD = 4.5
RSRP_THRESHOLD = 3.0
RSRP_WINDOW = 7
RSRP_MIN_DEVIATION_DB = 6.0
MAD_TO_SIGMA = 1.4826


def global_hampel(values: np.ndarray, threshold: float = POSITION_THRESHOLD) -> np.ndarray:
    """True where ``|v - median| > threshold * median(|v - median|)`` (unscaled MAD, paper 004).

    A MAD of zero (more than half the values equal) flags nothing: there is no spread to judge by.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 3:
        return np.zeros(len(values), bool)
    deviation = np.abs(values - np.median(values))
    mad = np.median(deviation)
    if mad == 0:
        return np.zeros(len(values), bool)
    return deviation > threshold * mad


def position_outliers(lat: np.ndarray, lon: np.ndarray, threshold: float = POSITION_THRESHOLD):
    """Paper 004's filter: Hampel on latitude, then on longitude of the samples left."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    out = global_hampel(lat, threshold)
    keep = np.flatnonzero(~out)
    out[keep[global_hampel(lon[keep], threshold)]] = True
    return out


def windowed_hampel(
    values: np.ndarray,
    window: int = RSRP_WINDOW,
    threshold: float = RSRP_THRESHOLD,
    min_deviation: float = RSRP_MIN_DEVIATION_DB,
) -> np.ndarray:
    """True where a value is more than ``threshold`` scaled MADs from its window's median.

    The window is centred (``window`` samples, shrunk at the ends); ``min_deviation`` is a floor
    below which nothing is an outlier (for integer-valued readings whose MAD is often 0).
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    half = max(int(window) // 2, 1)
    out = np.zeros(n, bool)
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        neighbours = values[lo:hi]
        if len(neighbours) < 3:
            continue
        median = np.median(neighbours)
        sigma = MAD_TO_SIGMA * np.median(np.abs(neighbours - median))
        deviation = abs(values[i] - median)
        out[i] = deviation > max(threshold * sigma, min_deviation)
    return out


def rsrp_outliers(values: np.ndarray, groups: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Windowed Hampel on ``values`` (RSRP or residuals) along each group in ``order``.

    ``groups`` labels each sample's walk (cell and file), ``order`` sorts it in time.
    """
    values = np.asarray(values, float)
    out = np.zeros(len(values), bool)
    groups = np.asarray(groups)
    for group in np.unique(groups):
        idx = np.flatnonzero(groups == group)
        idx = idx[np.argsort(np.asarray(order)[idx], kind="stable")]
        out[idx] = windowed_hampel(values[idx])
    return out
