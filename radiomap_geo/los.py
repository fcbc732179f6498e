"""2.5-D line of sight over a building-height raster.

A cell is in line of sight when the straight segment from the antenna to a receiver at
``rx_height_m`` above the cell passes over every building cell it crosses. Building heights are
sampled along the segment every ``step`` cells; cells are processed in distance-sorted chunks so
each chunk samples only as far as it needs.
"""

from __future__ import annotations

import numpy as np

from radiomap_geo.grid import Grid

CHUNK_CELLS = 16_384
#: Upper bound on samples held at once (cells x samples), to bound memory.
MAX_SAMPLES = 4_000_000


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
    x, y = x.ravel(), y.ravel()
    tx_row, tx_col = _fractional_rowcol(height_grid, *tx_xy)
    rx_row, rx_col = _fractional_rowcol(height_grid, x, y)
    length_cells = np.hypot(rx_row - tx_row, rx_col - tx_col)
    order = np.argsort(length_cells)
    visible = np.ones(x.size, bool)
    start = 0
    while start < x.size:
        longest = length_cells[order[min(start + CHUNK_CELLS, x.size) - 1]]
        n_samples = max(int(np.ceil(longest / step)), 1)
        chunk = int(np.clip(MAX_SAMPLES // n_samples, 64, CHUNK_CELLS))
        idx = order[start : start + chunk]
        start += chunk
        # Samples every ``step`` cells from the antenna, so a ray is sampled the same way
        # whatever chunk or tile it falls in (tiled runs must match untiled ones exactly).
        length = np.maximum(length_cells[idx, None], 1e-9)
        t = np.arange(1, n_samples)[None, :] * step / length
        inside = t < 1.0
        t = np.minimum(t, 1.0)
        rows = tx_row + t * (rx_row[idx, None] - tx_row)
        cols = tx_col + t * (rx_col[idx, None] - tx_col)
        ray_h = tx_height_m + t * (rx_height_m - tx_height_m)
        r = np.clip(np.floor(rows).astype(np.int64), 0, heights.shape[0] - 1)
        c = np.clip(np.floor(cols).astype(np.int64), 0, heights.shape[1] - 1)
        blocked = ((heights[r, c] > ray_h) & inside).any(axis=1)
        visible[idx] = ~blocked
    r_off, c_off = target.offset_in(height_grid)
    own = heights[r_off : r_off + target.height, c_off : c_off + target.width]
    return visible.reshape(target.shape) & (own <= 0)


def _fractional_rowcol(grid: Grid, x, y) -> tuple[np.ndarray, np.ndarray]:
    t = grid.transform
    return (np.asarray(y) - t.f) / t.e, (np.asarray(x) - t.c) / t.a
