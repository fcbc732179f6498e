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

A site's rays are described once, by :class:`DirectRays` (``DirectRays.of(scene, site)`` for a
scene); :func:`direct_rays` computes all three quantities, or line of sight alone, from it.
"""

from __future__ import annotations

import numpy as np

from radiomap_geo.grid import Grid
from radiomap_geo.raywalk import (  # noqa: F401 - MAX_KNIFE_EDGE_DB is part of this API
    MAX_KNIFE_EDGE_DB,
    DirectRays,
    RayResults,
    knife_edge_loss_db,
    ray_walks,
)

#: The ways :func:`line_of_sight` and :func:`obstruction` can compute their rays.
METHODS = ("sweep", "walk")
#: The method used when none is given (benchmarks switch it to compare the two).
DEFAULT_METHOD = "sweep"


def direct_rays(
    rays: DirectRays,
    frequency_mhz: float = 3500.0,
    *,
    full: bool = True,
    method: str | None = None,
) -> RayResults:
    """``(visible, building_depth_m, knife_edge_db)`` on ``rays.target``, by ``method`` (see
    the module notes); without ``full`` only ``visible`` (the others are None).
    """
    method = DEFAULT_METHOD if method is None else method
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "sweep":
        from radiomap_geo.sweep import sweep

        return sweep(rays, frequency_mhz, full=full)
    return ray_walks(rays, frequency_mhz, full=full)


def obstruction(
    rays: DirectRays, frequency_mhz: float, method: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(building_depth_m, knife_edge_db)`` on ``rays.target`` for the direct ray of every cell
    (see the module notes for the two quantities and ``method``).
    """
    _, depth, knife = direct_rays(rays, frequency_mhz, method=method)
    assert depth is not None and knife is not None  # a full computation gives both
    return depth, knife


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
    (:class:`DirectRays` and :func:`direct_rays` take the same description of the rays.)
    """
    rays = DirectRays(heights, height_grid, target, tx_xy, tx_height_m, rx_height_m, step)
    return direct_rays(rays, full=False, method=method)[0]
