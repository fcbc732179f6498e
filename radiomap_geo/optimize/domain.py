"""Where each site's parameters may go: the search box, the roof rule, and the target cells.

Angle domains follow paper 002 (Section IV-B): around the starting orientation, never above the
horizon and never into the site's own building.

* azimuth: ``start +- azimuth_span_deg`` (default 60 degrees, half the spacing of a 3-sector
  site, so neighbouring sectors do not swap; overridable);
* tilt: ``[tilt_min_deg, tilt_max_deg]`` (default 0..12 degrees: not above the horizon, and the
  down-tilts the shipped networks were trained on), further capped for a rooftop antenna so the
  boresight clears the edge of its own roof for every azimuth of its domain;
* power: ``[start - power_span_db, start]`` (never more than the site's given power).

A start outside its domain is moved onto its edge, with a WARNING.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.options import described
from radiomap_geo.sites import Site

log = logging.getLogger(__name__)

PARAMETERS = ("azimuth", "tilt", "power")
#: Roof cells lower than the antenna's roof by more than this end the roof (metres).
ROOF_STEP_M = 0.5


@dataclass(frozen=True)
class Limits:
    """Overridable bounds of the search domain (see the module docstring)."""

    azimuth_span_deg: float = described(
        60.0, "Azimuth may move this many degrees either way from the start."
    )
    tilt_min_deg: float = described(0.0, "Smallest tilt in degrees (0: the horizon, no up-tilt).")
    tilt_max_deg: float = described(
        12.0, "Largest down-tilt in degrees (the shipped networks are trained up to 12)."
    )
    power_span_db: float = described(
        10.0, "With power in --params: at most this many dB below the given power."
    )
    roof_rule: bool = described(
        True, "Cap a rooftop antenna's down-tilt so its boresight clears its own roof."
    )

    def validate(self) -> None:
        """Raise :class:`InputError` for limits no search can use."""
        if not 0 < self.azimuth_span_deg <= 180:
            raise InputError(
                f"azimuth span {self.azimuth_span_deg} deg must be in (0, 180]",
                parameter="azimuth_span_deg",
            )
        if not -90 <= self.tilt_min_deg < self.tilt_max_deg <= 90:
            raise InputError(
                f"tilt limits {self.tilt_min_deg}..{self.tilt_max_deg} deg: need "
                "-90 <= min < max <= 90 (positive = down)",
                parameter="tilt_max_deg",
            )
        if not self.power_span_db > 0:
            raise InputError(
                f"power span {self.power_span_db} dB must be positive", parameter="power_span_db"
            )


def roof_clearance_tilt(
    heights: np.ndarray, grid: Grid, site: Site, azimuths_deg: Sequence[float]
) -> float:
    """Largest down-tilt (degrees) whose boresight clears the site's own roof at every azimuth.

    ``inf`` for an antenna not standing on a roof. The roof ends where the building height drops
    more than :data:`ROOF_STEP_M` below the roof under the antenna (or at the grid's edge).
    """
    row, col = (int(v) for v in grid.rowcol(site.x, site.y))
    if not (0 <= row < grid.height and 0 <= col < grid.width):
        return math.inf
    roof = float(heights[row, col])
    above = site.height_m - roof
    if roof <= 0 or above <= 0:
        return math.inf
    step = grid.resolution / 2.0
    worst = math.inf
    for azimuth in azimuths_deg:
        east, north = math.sin(math.radians(azimuth)), math.cos(math.radians(azimuth))
        distance = step
        while True:
            r, c = (
                int(v) for v in grid.rowcol(site.x + east * distance, site.y + north * distance)
            )
            if not (0 <= r < grid.height and 0 <= c < grid.width):
                break
            if heights[r, c] < roof - ROOF_STEP_M:
                break
            distance += step
        worst = min(worst, math.degrees(math.atan2(above, distance)))
    return worst


def bounds(
    sites: Sequence[Site], heights: np.ndarray, grid: Grid, limits: Limits
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(start, low, high)``, each ``(n_sites, 3)`` over (azimuth, tilt, power)."""
    limits.validate()
    start = np.array([[s.azimuth_deg, s.tilt_deg, s.power_dbm] for s in sites], np.float64)
    low, high = start.copy(), start.copy()
    low[:, 0] -= limits.azimuth_span_deg
    high[:, 0] += limits.azimuth_span_deg
    low[:, 1], high[:, 1] = limits.tilt_min_deg, limits.tilt_max_deg
    low[:, 2] -= limits.power_span_db
    if limits.roof_rule:
        for i, site in enumerate(sites):
            sweep = np.linspace(low[i, 0], high[i, 0], 13)
            cap = roof_clearance_tilt(heights, grid, site, sweep)
            high[i, 1] = max(low[i, 1], min(high[i, 1], cap))
    for i, site in enumerate(sites):
        if not low[i, 1] <= start[i, 1] <= high[i, 1]:
            moved = float(np.clip(start[i, 1], low[i, 1], high[i, 1]))
            log.warning(
                "site %s: tilt_deg %.2f is outside its domain %.2f..%.2f (horizon / own roof / "
                "limits); starting from %.2f instead",
                site.site_id,
                start[i, 1],
                low[i, 1],
                high[i, 1],
                moved,
            )
            start[i, 1] = moved
    return start, low, high


def target_cells(
    grid: Grid, heights: np.ndarray, target_area=None, *, source: str = "target area"
) -> np.ndarray:
    """Boolean mask of the cells the objective counts: outdoor, and inside ``target_area``.

    ``target_area`` is ``None`` (the whole grid), a GeoDataFrame / GeoSeries of polygons in any
    CRS, or the path of a vector file. Cells count when their centre lies inside a polygon.
    """
    mask = heights <= 0
    if target_area is not None:
        mask &= _polygon_mask(grid, _read_polygons(target_area), source)
    if not mask.any():
        raise InputError(
            f"the {source} contains no outdoor cell of the grid: give polygons that overlap "
            "the area's streets",
            parameter="target_area",
        )
    return mask


def _read_polygons(target_area):
    import geopandas as gpd

    if isinstance(target_area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        return target_area
    try:
        return gpd.read_file(target_area)
    except Exception as exc:
        raise InputError(
            f"cannot read target area {target_area}: {exc}", parameter="target_area"
        ) from exc


def _polygon_mask(grid: Grid, frame, source: str) -> np.ndarray:
    from rasterio.features import rasterize

    if frame.crs is None:
        raise InputError(f"the {source} has no CRS: save it with one", parameter="target_area")
    geoms = [g for g in frame.to_crs(grid.crs).geometry if g is not None and not g.is_empty]
    polygons = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polygons:
        raise InputError(
            f"the {source} holds no polygons (found {sorted({g.geom_type for g in geoms})})",
            parameter="target_area",
        )
    return rasterize(
        [(g, 1) for g in polygons], out_shape=grid.shape, transform=grid.transform, fill=0
    ).astype(bool)
