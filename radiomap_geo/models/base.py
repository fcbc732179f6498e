"""The contract between the prediction engine and every path-gain model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from radiomap_geo.grid import Grid
from radiomap_geo.sites import Site


@dataclass(frozen=True)
class SceneInputs:
    """Everything a model may read about the environment, on one grid.

    ``building_height`` is metres above ground (0 outside buildings); ``ndsm`` is an optional
    normalised surface model (buildings *and* vegetation); ``ortho`` an optional
    ``(bands, rows, cols)`` orthophoto scaled to 0..1. ``rx_height_m`` is the receiver height.
    """

    grid: Grid
    building_height: np.ndarray
    ndsm: np.ndarray | None = None
    ortho: np.ndarray | None = None
    rx_height_m: float = 1.5

    @property
    def building_mask(self) -> np.ndarray:
        """True inside buildings."""
        return self.building_height > 0

    def crop(self, row_off: int, col_off: int, height: int, width: int) -> SceneInputs:
        """The inputs restricted to a window of the grid (must lie inside)."""
        rows, cols = slice(row_off, row_off + height), slice(col_off, col_off + width)
        return SceneInputs(
            grid=self.grid.window(row_off, col_off, height, width),
            building_height=self.building_height[rows, cols],
            ndsm=None if self.ndsm is None else self.ndsm[rows, cols],
            ortho=None if self.ortho is None else self.ortho[:, rows, cols],
            rx_height_m=self.rx_height_m,
        )


@runtime_checkable
class PathGainModel(Protocol):
    """A model that maps a scene and one site to a path-gain map.

    ``path_gain_db`` returns a ``target.shape`` float32 array of the link gain in dB from the
    antenna input to an isotropic receiver, *including* the transmit antenna pattern, and NaN
    where the model makes no prediction (beyond ``reach_m`` of the site, say). ``target`` is a
    window of ``scene.grid``; the scene around it is context. The value of a cell must depend only
    on the site and the scene within ``reach_m`` of the site, so that tiled runs whose scenes
    reach ``reach_m`` beyond each tile stitch without seams.
    """

    name: str
    reach_m: float

    def path_gain_db(self, scene: SceneInputs, site: Site, target: Grid) -> np.ndarray:
        """Path gain in dB on ``target`` (a window of ``scene.grid``) for ``site``."""
        ...
