"""2.5-D line of sight over a building-height raster.

A cell is in line of sight when the straight segment from the antenna to a receiver at
``rx_height_m`` above the cell passes over every building cell it crosses. Heights are sampled
along the segment every ``step`` cells, starting at the antenna, so a ray is sampled identically
whatever tile it is computed in (tiled runs match untiled ones exactly). The kernel is compiled
with numba and runs in parallel over cells, stopping each ray at its first obstruction.
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


def line_of_sight(
    heights: np.ndarray,
    height_grid: Grid,
    target: Grid,
    tx_xy: tuple[float, float],
    tx_height_m: float,
    rx_height_m: float,
    step: float = 0.7,
) -> np.ndarray:
    """Boolean ``target.shape`` array: True where the cell sees the antenna.

    ``heights`` lies on ``height_grid`` (which must contain both the site and ``target``); cells
    of ``target`` inside buildings are reported as not visible.
    """
    x, y = target.cell_centers()
    t = height_grid.transform
    rx_rows = ((y.ravel() - t.f) / t.e).astype(np.float64)
    rx_cols = ((x.ravel() - t.c) / t.a).astype(np.float64)
    tx_row = (tx_xy[1] - t.f) / t.e
    tx_col = (tx_xy[0] - t.c) / t.a
    visible = _visible_kernel(
        np.ascontiguousarray(heights, dtype=np.float32),
        float(tx_row),
        float(tx_col),
        float(tx_height_m),
        rx_rows,
        rx_cols,
        float(rx_height_m),
        float(step),
    ).reshape(target.shape)
    r_off, c_off = target.offset_in(height_grid)
    own = heights[r_off : r_off + target.height, c_off : c_off + target.width]
    return visible & (own <= 0)
