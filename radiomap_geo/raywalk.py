"""The direct rays of one site (:class:`DirectRays`) and their per-cell walks, compiled.

Kept apart so that :mod:`radiomap_geo.los` (which picks a method) and :mod:`radiomap_geo.sweep`
(which falls back to these walks for antennas below the receiver) both use them without importing
each other. See :mod:`radiomap_geo.los` for what they compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

from radiomap_geo.grid import Grid

if TYPE_CHECKING:
    from radiomap_geo.models.base import SceneInputs
    from radiomap_geo.sites import Site

#: ``(visible, building_depth_m, knife_edge_db)`` on the target grid; the last two are None when
#: only line of sight was asked for.
RayResults = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


@dataclass(frozen=True, eq=False)
class DirectRays:
    """The direct rays from one antenna to a receiver above every cell of ``target``.

    ``heights``: building heights (m, 0 outside buildings) on ``height_grid``, which must contain
    both the antenna and ``target``; kept as contiguous float32, the type the kernels read.
    Heights are sampled along each ray every ``step`` cells from the antenna.
    """

    heights: np.ndarray
    height_grid: Grid
    target: Grid
    tx_xy: tuple[float, float]
    tx_height_m: float
    rx_height_m: float
    step: float = 0.7

    def __post_init__(self) -> None:
        object.__setattr__(self, "heights", np.ascontiguousarray(self.heights, dtype=np.float32))

    @classmethod
    def of(cls, scene: SceneInputs, site: Site, target: Grid | None = None) -> DirectRays:
        """The rays of ``site`` over ``scene``'s buildings to ``target`` (default: the scene)."""
        return cls(
            scene.building_height,
            scene.grid,
            scene.grid if target is None else target,
            (site.x, site.y),
            site.height_m,
            scene.rx_height_m,
        )

    @property
    def tx_cell(self) -> tuple[float, float]:
        """The antenna's (row, col) in fractional cells of ``height_grid``."""
        t = self.height_grid.transform
        return float((self.tx_xy[1] - t.f) / t.e), float((self.tx_xy[0] - t.c) / t.a)

    @property
    def window(self) -> tuple[int, int, int, int]:
        """``target`` as ``(row0, col0, height, width)`` in cells of ``height_grid``."""
        r_off, c_off = self.target.offset_in(self.height_grid)
        return (int(r_off), int(c_off), *self.target.shape)

    def outdoor(self) -> np.ndarray:
        """True on the target cells outside buildings (a cell inside one sees nothing)."""
        row0, col0, h, w = self.window
        return self.heights[row0 : row0 + h, col0 : col0 + w] <= 0


def wavelength_m(frequency_mhz: float) -> float:
    """Free-space wavelength in metres."""
    return 299.792458 / float(frequency_mhz)


@numba.njit(parallel=True, cache=True)
def _walk_kernel(
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
    full: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per receiver: metres of building on the ray and the largest ``nu`` along it. Without
    ``full`` a ray stops at its first blocking sample and ``nu`` is not computed, so only
    ``depth == 0`` (line of sight) is meaningful.
    """
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
                if not full:
                    break
            if full and heights[r, c] > 0.0:
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


def ray_walks(rays: DirectRays, frequency_mhz: float = 3500.0, *, full: bool = True) -> RayResults:
    """Walk one ray per target cell: ``(visible, building_depth_m, knife_edge_db)``, the last
    two None without ``full``.
    """
    x, y = rays.target.cell_centers()
    t = rays.height_grid.transform
    rx_rows = ((y.ravel() - t.f) / t.e).astype(np.float64)
    rx_cols = ((x.ravel() - t.c) / t.a).astype(np.float64)
    depth, nu = _walk_kernel(
        rays.heights,
        *rays.tx_cell,
        float(rays.tx_height_m),
        rx_rows,
        rx_cols,
        float(rays.rx_height_m),
        float(rays.step),
        float(rays.height_grid.resolution),
        wavelength_m(frequency_mhz),
        bool(full),
    )
    depth = depth.reshape(rays.target.shape)
    visible = (depth == 0) & rays.outdoor()
    if not full:
        return visible, None, None
    return visible, depth, knife_edge_loss_db(nu).reshape(rays.target.shape)
