"""The dihedral group of the square on georeferenced grids, points, arrays, sites and scenes.

A symmetry ``(k, flip)`` turns a map ``k`` quarter turns counter-clockwise after an optional
left-right mirror (:func:`transform_array`); the other functions move everything that lives on
the map with it (the grid's transform, site positions and azimuths, the scene's rasters), so a
transformed sample is a valid sample of the transformed world.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from affine import Affine

from radiomap_geo.antenna import get_pattern, wrap_deg
from radiomap_geo.grid import Grid
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.sites import Site

#: A symmetry of the square: ``(k, flip)`` as in :func:`transform_array`.
Symmetry = tuple[int, bool]
IDENTITY: Symmetry = (0, False)


# -- the dihedral group on grids, points, arrays and sites --------------------------------------
def transform_array(array: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Mirror east-west (``flip``), then rotate ``k`` quarter turns counter-clockwise; the last
    two axes are (rows from north, columns from west).
    """
    if flip:
        array = array[..., :, ::-1]
    return np.ascontiguousarray(np.rot90(array, k % 4, axes=(-2, -1)))


def transform_grid(grid: Grid, k: int) -> Grid:
    """The grid with the same centre and cell size covering the transformed raster."""
    minx, miny, maxx, maxy = grid.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    rows, cols = grid.shape if k % 2 == 0 else grid.shape[::-1]
    r = grid.resolution
    return Grid(
        grid.crs, Affine(r, 0.0, cx - cols * r / 2, 0.0, -r, cy + rows * r / 2), (rows, cols)
    )


def transform_point(grid: Grid, x: float, y: float, k: int, flip: bool) -> tuple[float, float]:
    """Where point ``(x, y)`` goes when the raster of ``grid`` is transformed (about its centre)."""
    minx, miny, maxx, maxy = grid.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    dx, dy = x - cx, y - cy
    if flip:
        dx = -dx
    for _ in range(k % 4):
        dx, dy = -dy, dx
    return cx + dx, cy + dy


def transform_azimuth(azimuth_deg: float, k: int, flip: bool) -> float:
    """Boresight azimuth (clockwise from north) after the transformation, in [0, 360)."""
    az = -azimuth_deg if flip else azimuth_deg
    return float((wrap_deg(az - 90.0 * (k % 4)) + 360.0) % 360.0)


def compose_symmetries(first: Symmetry, then: Symmetry) -> Symmetry:
    """The single symmetry equal to applying ``first``, then ``then`` (:func:`transform_array`).

    A mirror after ``k1`` quarter turns equals ``k1`` quarter turns the other way after it, so
    ``then`` = ``(k2, True)`` gives ``(k2 - k1, not flip1)``, ``(k2, False)`` gives
    ``(k1 + k2, flip1)``.
    """
    (k1, flip1), (k2, flip2) = first, then
    k = k2 - k1 if flip2 else k1 + k2
    return int(k % 4), bool(flip1) != bool(flip2)


def pattern_is_mirror_symmetric(antenna: str) -> bool:
    """Whether the pattern is left-right symmetric about boresight (mirrors are then exact)."""
    pattern = get_pattern(antenna)
    cut = np.asarray(pattern.horizontal_db)
    return bool(np.allclose(cut, np.roll(cut[::-1], 1), atol=1e-6))


def transform_site(site: Site, grid: Grid, k: int, flip: bool) -> Site:
    """The site moved and turned with the map of ``grid``."""
    x, y = transform_point(grid, site.x, site.y, k, flip)
    return replace(site, x=x, y=y, azimuth_deg=transform_azimuth(site.azimuth_deg, k, flip))


def transform_scene(scene: SceneInputs, k: int, flip: bool) -> SceneInputs:
    """The scene's rasters transformed, on :func:`transform_grid`."""

    def tf(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else transform_array(a, k, flip)

    return SceneInputs(
        grid=transform_grid(scene.grid, k),
        building_height=tf(scene.building_height),
        ndsm=tf(scene.ndsm),
        ortho=tf(scene.ortho),
        rx_height_m=scene.rx_height_m,
    )
