"""2.5-D line of sight and direct-ray obstruction over a building-height raster.

A cell is in line of sight when the straight segment from the antenna to a receiver at
``rx_height_m`` above the cell passes over every building cell it crosses. Heights are sampled
along the segment every ``step`` cells, starting at the antenna, so a ray is sampled identically
whatever tile it is computed in (tiled runs match untiled ones exactly). The kernels are compiled
with numba and run in parallel over cells; :func:`line_of_sight` stops each ray at its first
obstruction, :func:`obstruction` walks the whole ray and measures how badly it is blocked:

* ``building_depth_m``: metres of building the direct ray passes through (0 in line of sight);
* ``knife_edge_db``: the single knife-edge diffraction loss (ITU-R P.526-15 eq. 31) of the
  obstacle with the largest Fresnel-Kirchhoff parameter ``nu`` along the ray, 0 when every
  sample clears the ray by more than 0.78 of its ``nu`` scale (the first Fresnel zone is free).

Both are physics priors for networks (where rooftop diffraction or through-building paths
dominate), not predictions on their own.

``method="sweep"`` (the default) computes the same quantities for all cells at once in one
radial sweep per site (:mod:`radiomap_geo.sweep`: cost linear in the cells, agreement with the
walks measured in ``tests/test_sweep.py``); ``method="walk"`` walks one ray per cell as above.
"""

from __future__ import annotations

import numpy as np

from radiomap_geo.grid import Grid
from radiomap_geo.raywalk import (  # noqa: F401 - MAX_KNIFE_EDGE_DB is part of this API
    MAX_KNIFE_EDGE_DB,
    _obstruction_kernel,
    _ray_geometry,
    _visible_kernel,
    knife_edge_loss_db,
)

#: The ways :func:`line_of_sight` and :func:`obstruction` can compute their rays.
METHODS = ("sweep", "walk")
#: The method used when none is given (benchmarks switch it to compare the two).
DEFAULT_METHOD = "sweep"


def _method(method: str | None) -> str:
    method = DEFAULT_METHOD if method is None else method
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def obstruction(
    heights: np.ndarray,
    height_grid: Grid,
    target: Grid,
    tx_xy: tuple[float, float],
    tx_height_m: float,
    rx_height_m: float,
    frequency_mhz: float,
    step: float = 0.7,
    method: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(building_depth_m, knife_edge_db)`` on ``target`` for the direct ray of every cell.

    Same sampling as :func:`line_of_sight`; see the module notes for the two quantities and
    ``method``.
    """
    if _method(method) == "sweep":
        from radiomap_geo.sweep import sweep

        _, depth, knife = sweep(
            heights, height_grid, target, tx_xy, tx_height_m, rx_height_m, frequency_mhz,
            step=step,
        )  # fmt: skip
        return depth, knife
    tx_row, tx_col, rx_rows, rx_cols = _ray_geometry(height_grid, target, tx_xy)
    depth, nu = _obstruction_kernel(
        np.ascontiguousarray(heights, dtype=np.float32),
        tx_row,
        tx_col,
        float(tx_height_m),
        rx_rows,
        rx_cols,
        float(rx_height_m),
        float(step),
        float(height_grid.resolution),
        299.792458 / float(frequency_mhz),
    )
    return depth.reshape(target.shape), knife_edge_loss_db(nu).reshape(target.shape)


def line_of_sight(
    heights: np.ndarray,
    height_grid: Grid,
    target: Grid,
    tx_xy: tuple[float, float],
    tx_height_m: float,
    rx_height_m: float,
    step: float = 0.7,
    method: str | None = None,
) -> np.ndarray:
    """Boolean ``target.shape`` array: True where the cell sees the antenna.

    ``heights`` lies on ``height_grid`` (which must contain both the site and ``target``); cells
    of ``target`` inside buildings are reported as not visible. ``method``: see the module notes.
    """
    if _method(method) == "sweep":
        from radiomap_geo.sweep import sweep

        visible, _, _ = sweep(
            heights, height_grid, target, tx_xy, tx_height_m, rx_height_m, full=False, step=step
        )
        return visible
    tx_row, tx_col, rx_rows, rx_cols = _ray_geometry(height_grid, target, tx_xy)
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
