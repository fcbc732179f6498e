"""Reference configurations as in paper 002: rooftop sectors pointing away from their building.

Used by the benchmark (dataset tiles with three rooftop 3-sector sites) and by anyone who wants
the paper's starting point: each mast's first sector looks away from the building it stands on
(from the roof's centroid through the mast), the others follow at equal spacing, all with the
same fixed tilt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from radiomap_geo.grid import Grid
from radiomap_geo.sites import Site, Sites


def away_azimuth(heights: np.ndarray, grid: Grid, x: float, y: float) -> float:
    """Bearing (degrees clockwise from north) from the centroid of the roof under ``(x, y)``
    through ``(x, y)``; towards the nearest open cell when the mast stands on the centroid.
    """
    from scipy import ndimage

    row, col = (int(v) for v in grid.rowcol(x, y))
    labels, _ = ndimage.label(heights > 0)
    label = labels[row, col] if 0 <= row < grid.height and 0 <= col < grid.width else 0
    cx, cy = grid.cell_centers()
    if label > 0:
        roof = labels == label
        dx, dy = x - cx[roof].mean(), y - cy[roof].mean()
        if math.hypot(dx, dy) > grid.resolution / 2:
            return math.degrees(math.atan2(dx, dy)) % 360.0
    open_ = heights <= 0
    if not open_.any():
        return 0.0
    d2 = np.where(open_, (cx - x) ** 2 + (cy - y) ** 2, np.inf)
    r, c = np.unravel_index(int(np.argmin(d2)), d2.shape)
    return math.degrees(math.atan2(cx[r, c] - x, cy[r, c] - y)) % 360.0


def sector_sites(
    masts: Sequence[tuple[str, float, float, float]],
    heights: np.ndarray,
    grid: Grid,
    *,
    sectors: int = 3,
    tilt_deg: float = 6.0,
    antenna: str = "tr38901",
    power_dbm: float = 43.0,
    frequency_mhz: float = 3500.0,
) -> Sites:
    """``sectors`` sector antennas per mast ``(name, x, y, height_m)``, the first pointing away
    from the mast's building, the others at ``360 / sectors`` degree steps.
    """
    items = []
    for name, x, y, height in masts:
        first = away_azimuth(heights, grid, x, y)
        for k in range(sectors):
            items.append(
                Site(
                    site_id=f"{name}-s{k + 1}",
                    x=float(x),
                    y=float(y),
                    height_m=float(height),
                    power_dbm=power_dbm,
                    frequency_mhz=frequency_mhz,
                    antenna=antenna,
                    azimuth_deg=round((first + k * 360.0 / sectors) % 360.0, 2),
                    tilt_deg=tilt_deg,
                )
            )
    return Sites(tuple(items), grid.crs)


def buildings_from_heights(heights: np.ndarray, grid: Grid):
    """Footprints (GeoDataFrame with ``height_m``) of a height raster: one polygon per connected
    patch of equal height, on cell edges, so they rasterise back to exactly the same raster.
    """
    import geopandas as gpd
    from rasterio.features import shapes
    from shapely.geometry import shape

    values = np.round(np.asarray(heights, np.float32), 1)
    polygons, tall = [], []
    for geometry, value in shapes(values, mask=values > 0, transform=grid.transform):
        polygons.append(shape(geometry))
        tall.append(float(value))
    return gpd.GeoDataFrame({"height_m": tall}, geometry=polygons, crs=grid.crs)
