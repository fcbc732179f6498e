"""The per-cell ray walks of :mod:`radiomap_geo.los` (one ray per receiver cell), compiled.

Kept apart so that :mod:`radiomap_geo.los` (which picks a method) and :mod:`radiomap_geo.sweep`
(which falls back to these walks for antennas below the receiver) both use them without importing
each other. See :mod:`radiomap_geo.los` for what they compute.
"""

from __future__ import annotations

import numba
import numpy as np

from radiomap_geo.grid import Grid


@numba.njit(parallel=True, cache=True)
def _visible_kernel(
    heights: np.ndarray,
    tx_row: float,
    tx_col: float,
    tx_h: float,
    rx_rows: np.ndarray,
    rx_cols: np.ndarray,
    rx_h: float,
    step: float,
) -> np.ndarray:
    n_rows, n_cols = heights.shape
    out = np.ones(rx_rows.size, np.bool_)
    for i in numba.prange(rx_rows.size):
        d_row = rx_rows[i] - tx_row
        d_col = rx_cols[i] - tx_col
        length = np.sqrt(d_row * d_row + d_col * d_col)
        k = 1
        while k * step < length:
            t = k * step / length
            r = int(np.floor(tx_row + t * d_row))
            c = int(np.floor(tx_col + t * d_col))
            r = min(max(r, 0), n_rows - 1)
            c = min(max(c, 0), n_cols - 1)
            if heights[r, c] > tx_h + t * (rx_h - tx_h):
                out[i] = False
                break
            k += 1
    return out


@numba.njit(parallel=True, cache=True)
def _obstruction_kernel(
    heights: np.ndarray,
    tx_row: float,
    tx_col: float,
    tx_h: float,
    rx_rows: np.ndarray,
    rx_cols: np.ndarray,
    rx_h: float,
    step: float,
    cell_m: float,
    wavelength_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    n_rows, n_cols = heights.shape
    depth = np.zeros(rx_rows.size, np.float32)
    max_nu = np.full(rx_rows.size, -10.0, np.float32)
    for i in numba.prange(rx_rows.size):
        d_row = rx_rows[i] - tx_row
        d_col = rx_cols[i] - tx_col
        length = np.sqrt(d_row * d_row + d_col * d_col)
        total_m = length * cell_m
        inside = 0
        nu_best = -10.0
        k = 1
        while k * step < length:
            t = k * step / length
            r = int(np.floor(tx_row + t * d_row))
            c = int(np.floor(tx_col + t * d_col))
            r = min(max(r, 0), n_rows - 1)
            c = min(max(c, 0), n_cols - 1)
            excess = heights[r, c] - (tx_h + t * (rx_h - tx_h))
            if excess > 0.0:
                inside += 1
            if heights[r, c] > 0.0:
                d1 = t * total_m
                d2 = total_m - d1
                nu = excess * np.sqrt(2.0 * total_m / (wavelength_m * d1 * d2))
                if nu > nu_best:
                    nu_best = nu
            k += 1
        depth[i] = inside * step * cell_m
        max_nu[i] = nu_best
    return depth, max_nu


#: Upper bound of :func:`knife_edge_loss_db` (J(nu) at nu ~ 160).
MAX_KNIFE_EDGE_DB = 60.0


def knife_edge_loss_db(nu: np.ndarray) -> np.ndarray:
    """ITU-R P.526 single knife-edge loss ``J(nu)`` in dB (0 for ``nu <= -0.78``, at most 60)."""
    nu = np.asarray(nu, np.float64)
    loss = 6.9 + 20.0 * np.log10(np.sqrt((nu - 0.1) ** 2 + 1.0) + nu - 0.1)
    # Capped: an obstacle next to an end of the ray sends nu to infinity, not the loss.
    return np.where(nu > -0.78, np.clip(loss, 0.0, MAX_KNIFE_EDGE_DB), 0.0).astype(np.float32)


def _ray_geometry(height_grid: Grid, target: Grid, tx_xy: tuple[float, float]):
    x, y = target.cell_centers()
    t = height_grid.transform
    rx_rows = ((y.ravel() - t.f) / t.e).astype(np.float64)
    rx_cols = ((x.ravel() - t.c) / t.a).astype(np.float64)
    return float((tx_xy[1] - t.f) / t.e), float((tx_xy[0] - t.c) / t.a), rx_rows, rx_cols
