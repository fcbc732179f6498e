"""Airborne LiDAR point clouds (LAS/LAZ) to surface models and building footprints on a grid.

:func:`read_las_points` reads the points with ``laspy`` (LAZ needs its ``lazrs`` backend: install
the ``lidar`` extra, ``pip install "radiomap-geo[lidar]"``). :func:`lidar_to_rasters` grids them
into a DSM (highest point per cell), a DTM (ground points, class 2, averaged per cell; empty cells
interpolated), the nDSM (DSM - DTM, >= 0: buildings *and* vegetation) and a building mask (cells
whose points are mostly class 6). :func:`building_footprints_from_lidar` turns the mask into
polygons with a ``height_m`` each, the footprint table the ray tracer (``rt.scene.build_scene``)
and ``predict`` read.

ASPRS classes used: 2 ground, 3/4/5 low/medium/high vegetation, 6 building, 7 and 18 noise
(dropped). Other classes (bridges, water, unclassified...) count towards the DSM only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pyproj import CRS, Transformer

from radiomap_geo.errors import CRSError, InputError
from radiomap_geo.grid import Grid, to_crs

log = logging.getLogger(__name__)

GROUND = 2
VEGETATION = (3, 4, 5)
BUILDING = 6
NOISE = (7, 18)


@dataclass(frozen=True)
class LidarPoints:
    """A point cloud: coordinates in ``crs`` (metres), heights ``z``, ASPRS classes."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    classification: np.ndarray
    crs: CRS

    def __len__(self) -> int:
        return int(self.x.size)

    def subset(self, keep: np.ndarray) -> LidarPoints:
        """The points where ``keep`` is True."""
        return LidarPoints(
            self.x[keep], self.y[keep], self.z[keep], self.classification[keep], self.crs
        )

    def to_crs(self, crs: CRS | str | int) -> LidarPoints:
        """The points in another CRS (heights unchanged)."""
        crs = to_crs(crs)
        if crs == self.crs:
            return self
        transformer = Transformer.from_crs(self.crs, crs, always_xy=True)
        x, y = transformer.transform(self.x, self.y)
        return LidarPoints(np.asarray(x), np.asarray(y), self.z, self.classification, crs)


class LidarRasters(NamedTuple):
    """The rasters of :func:`lidar_to_rasters` (unpacks as ``dsm, dtm, ndsm, building_mask``)."""

    dsm: np.ndarray
    dtm: np.ndarray
    ndsm: np.ndarray
    building_mask: np.ndarray


def _import_laspy():
    try:
        import laspy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(
            "reading LAS/LAZ needs laspy: pip install 'radiomap-geo[lidar]' (laspy[lazrs])"
        ) from exc
    return laspy


def read_las_points(
    path: str | os.PathLike,
    crs: CRS | str | int | None,
    *,
    bounds: Sequence[float] | None = None,
) -> LidarPoints:
    """Read a LAS/LAZ file.

    LAS headers often lack the CRS (or carry a wrong one), so the caller names it. When the header
    has a CRS that differs, a warning is logged and ``crs`` wins.

    Args:
        path: the ``.las`` / ``.laz`` file.
        crs: the CRS of the coordinates; ``None`` takes it from the header (error if absent).
        bounds: optional ``(minx, miny, maxx, maxy)`` in ``crs``: keep only points inside.

    Returns:
        The points, noise classes included (:func:`lidar_to_rasters` drops them).

    Raises:
        InputError: missing or unreadable file, no LAZ backend.
        CRSError: ``crs`` is None and the header names none, or the CRS is not metric.
    """
    laspy = _import_laspy()
    path = Path(path)
    if not path.exists():
        raise InputError(f"point cloud {path} does not exist")
    try:
        las = laspy.read(str(path))
    except Exception as exc:  # laspy raises LaspyException, LazBackend errors, OSError...
        hint = " (LAZ needs 'pip install laspy[lazrs]')" if path.suffix.lower() == ".laz" else ""
        raise InputError(f"cannot read point cloud {path}: {exc}{hint}") from exc
    try:
        header_crs = las.header.parse_crs()
    except Exception:  # malformed GeoTIFF keys / WKT VLRs
        header_crs = None
    if crs is None:
        if header_crs is None:
            raise CRSError(
                f"{path.name} does not say which CRS it is in: pass it (e.g. crs='EPSG:2056')"
            )
        crs = header_crs
    crs = to_crs(crs)
    if header_crs is not None and not header_crs.equals(crs, ignore_axis_order=True):
        log.warning(
            "%s: header CRS %s differs from the given %s; using the given one",
            path.name,
            header_crs.to_string(),
            crs.to_string(),
        )
    if crs.is_geographic:
        raise CRSError(f"point cloud CRS {crs.to_string()} is geographic: need metres")
    points = LidarPoints(
        np.asarray(las.x, dtype=np.float64),
        np.asarray(las.y, dtype=np.float64),
        np.asarray(las.z, dtype=np.float64),
        np.asarray(las.classification, dtype=np.uint8),
        crs,
    )
    if bounds is not None:
        minx, miny, maxx, maxy = (float(v) for v in bounds)
        inside = (points.x >= minx) & (points.x <= maxx) & (points.y >= miny) & (points.y <= maxy)
        points = points.subset(inside)
    return points


def _cell_index(points: LidarPoints, grid: Grid) -> tuple[np.ndarray, LidarPoints]:
    """Flat cell index of every point inside ``grid`` and those points (in the grid CRS)."""
    points = points.to_crs(grid.crs)
    inside = grid.contains(points.x, points.y)
    points = points.subset(inside)
    row, col = grid.rowcol(points.x, points.y)
    row = np.clip(row, 0, grid.height - 1)
    col = np.clip(col, 0, grid.width - 1)
    return row * grid.width + col, points


def class_counts(points: LidarPoints, grid: Grid, classes: Sequence[int] | None) -> np.ndarray:
    """Number of points per cell whose class is in ``classes`` (all classes with ``None``)."""
    index, points = _cell_index(points, grid)
    if classes is not None:
        index = index[np.isin(points.classification, np.asarray(classes))]
    counts = np.bincount(index, minlength=grid.height * grid.width)
    return counts.reshape(grid.shape)


def _fill_by_interpolation(values: np.ndarray) -> np.ndarray:
    """NaN cells filled linearly between known cells, nearest outside their convex hull."""
    known = np.isfinite(values)
    if known.all():
        return values
    if not known.any():
        raise InputError("no ground points inside the grid: cannot build a terrain model")
    from scipy.interpolate import griddata

    rows, cols = np.nonzero(known)
    target = np.nonzero(~known)
    filled = values.copy()
    if known.sum() >= 3 and np.ptp(rows) > 0 and np.ptp(cols) > 0:
        try:
            filled[target] = griddata(
                (rows, cols), values[known], target, method="linear", rescale=False
            )
        except Exception:  # degenerate (collinear) known cells: nearest only
            pass
    rest = ~np.isfinite(filled)
    if rest.any():
        from scipy.ndimage import distance_transform_edt

        _, (ri, ci) = distance_transform_edt(~known, return_indices=True)
        filled[rest] = values[ri[rest], ci[rest]]
    return filled


def _fill_small_holes(mask: np.ndarray, max_cells: int) -> np.ndarray:
    """``mask`` with enclosed background regions of at most ``max_cells`` cells set."""
    from scipy import ndimage

    if max_cells <= 0:
        return mask
    labels, n = ndimage.label(~mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    border = np.unique(
        np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]).astype(int)
    )
    small = sizes <= max_cells
    small[0] = False
    small[border] = False
    return mask | small[labels]


def lidar_to_rasters(
    points: LidarPoints,
    grid: Grid,
    *,
    dtm_stat: str = "mean",
    min_building_fraction: float = 0.5,
    max_hole_cells: int = 4,
) -> LidarRasters:
    """Grid a classified point cloud into DSM, DTM, nDSM and a building mask on ``grid``.

    * DSM: the highest non-noise point per cell; cells without points take the DTM (nDSM 0).
    * DTM: ground points (class 2), ``dtm_stat`` (``mean`` or ``min``) per cell; empty cells (under
      buildings, water, dense trees) interpolated linearly, nearest beyond the data.
    * nDSM: DSM - DTM, clipped at 0 (buildings and vegetation alike, unclassified).
    * building mask: cells where class-6 points make at least ``min_building_fraction`` of the
      non-noise points, with enclosed holes of up to ``max_hole_cells`` cells closed (roof
      windows, skylights); building cells the mask gains take the nDSM of the nearest roof cell.

    Args:
        points: the point cloud (any metric CRS; reprojected onto the grid's).
        grid: the target grid.
        dtm_stat: per-cell statistic of the ground points.
        min_building_fraction: share of class-6 points that makes a building cell.
        max_hole_cells: largest enclosed hole in the building mask that is filled.

    Returns:
        :class:`LidarRasters` of float32 metres (``dsm``, ``dtm``: absolute heights) and a bool
        ``building_mask``.

    Raises:
        InputError: no points or no ground points inside the grid, unknown ``dtm_stat``.
    """
    if dtm_stat not in ("mean", "min"):
        raise InputError(f"dtm_stat must be 'mean' or 'min', got {dtm_stat!r}")
    points = points.subset(~np.isin(points.classification, NOISE))
    index, points = _cell_index(points, grid)
    if index.size == 0:
        raise InputError(f"no LiDAR points inside the grid {grid}")
    n = grid.height * grid.width
    cls = points.classification

    total = np.bincount(index, minlength=n)
    dsm = np.full(n, -np.inf)
    np.maximum.at(dsm, index, points.z)
    dsm[total == 0] = np.nan

    ground = cls == GROUND
    g_index, g_z = index[ground], points.z[ground]
    g_count = np.bincount(g_index, minlength=n)
    if dtm_stat == "mean":
        dtm = np.bincount(g_index, weights=g_z, minlength=n) / np.maximum(g_count, 1)
    else:
        dtm = np.full(n, np.inf)
        np.minimum.at(dtm, g_index, g_z)
    dtm[g_count == 0] = np.nan
    dtm = _fill_by_interpolation(dtm.reshape(grid.shape))

    dsm = dsm.reshape(grid.shape)
    dsm = np.where(np.isfinite(dsm), dsm, dtm)
    ndsm = np.clip(dsm - dtm, 0.0, None)

    b_count = np.bincount(index[cls == BUILDING], minlength=n).reshape(grid.shape)
    total = total.reshape(grid.shape)
    mask = (b_count > 0) & (b_count >= min_building_fraction * np.maximum(total, 1))
    filled = _fill_small_holes(mask, max_hole_cells)
    gained = filled & ~mask
    if gained.any() and mask.any():
        from scipy.ndimage import distance_transform_edt

        _, (ri, ci) = distance_transform_edt(~mask, return_indices=True)
        ndsm[gained] = ndsm[ri[gained], ci[gained]]
        dsm[gained] = dtm[gained] + ndsm[gained]
    return LidarRasters(
        dsm.astype(np.float32),
        dtm.astype(np.float32),
        ndsm.astype(np.float32),
        filled,
    )


def building_footprints_from_lidar(
    building_mask: np.ndarray,
    ndsm: np.ndarray,
    grid: Grid,
    min_area_m2: float = 20.0,
    *,
    height_percentile: float = 90.0,
    min_height_m: float = 2.0,
    simplify_m: float | None = None,
):
    """Building polygons with heights from a LiDAR building mask and nDSM.

    Connected building cells (4-neighbourhood) become one footprint: the outline of its cells
    (``rasterio.features.shapes``), simplified by ``simplify_m`` (default half a cell), topology
    kept. Its ``height_m`` is the ``height_percentile`` of the nDSM inside (the 90th: near the
    ridge of pitched roofs, above chimneys' few cells). Footprints smaller than ``min_area_m2`` or
    lower than ``min_height_m`` (cars, walls, misclassified points) are dropped.

    Args:
        building_mask: bool ``grid.shape``, True on building cells.
        ndsm: float ``grid.shape``, metres above ground.
        grid: the grid of both rasters.
        min_area_m2: smallest footprint kept.
        height_percentile: nDSM percentile inside a footprint taken as its height.
        min_height_m: lowest height kept.
        simplify_m: Douglas-Peucker tolerance in metres (0: none).

    Returns:
        GeoDataFrame in ``grid.crs`` with ``geometry``, ``height_m``, ``height_median_m``,
        ``area_m2`` and ``cells``, tallest first.
    """
    import geopandas as gpd
    from rasterio.features import shapes
    from scipy import ndimage
    from shapely.geometry import shape
    from shapely.ops import unary_union

    mask = np.asarray(building_mask, bool)
    ndsm = np.asarray(ndsm, np.float32)
    if mask.shape != grid.shape or ndsm.shape != grid.shape:
        raise InputError(
            f"mask {mask.shape} and nDSM {ndsm.shape} must both have the grid's shape {grid.shape}"
        )
    columns = ["height_m", "height_median_m", "area_m2", "cells"]
    labels, n = ndimage.label(mask)
    if n == 0:
        return gpd.GeoDataFrame(columns=[*columns, "geometry"], geometry="geometry", crs=grid.crs)
    cell_area = grid.resolution**2
    index = np.arange(1, n + 1)
    cells = ndimage.sum_labels(mask, labels, index).astype(int)
    heights = ndimage.labeled_comprehension(
        ndsm, labels, index, lambda v: np.percentile(v, height_percentile), np.float64, 0.0
    )
    medians = ndimage.median(ndsm, labels, index)
    keep = (cells * cell_area >= min_area_m2) & (heights >= min_height_m)
    pieces: dict[int, list] = {}
    kept = np.where(keep[labels - 1] & (labels > 0), labels, 0).astype(np.int32)
    for geom, value in shapes(kept, mask=kept > 0, connectivity=4, transform=grid.transform):
        pieces.setdefault(int(value), []).append(shape(geom))
    tolerance = 0.5 * grid.resolution if simplify_m is None else float(simplify_m)
    rows = []
    for label, parts in pieces.items():
        geom = unary_union(parts) if len(parts) > 1 else parts[0]
        if tolerance > 0:
            geom = geom.simplify(tolerance, preserve_topology=True)
        if not geom.is_valid:
            geom = geom.buffer(0)
        if geom.is_empty:
            continue
        rows.append(
            {
                "height_m": round(float(heights[label - 1]), 2),
                "height_median_m": round(float(medians[label - 1]), 2),
                "area_m2": float(geom.area),
                "cells": int(cells[label - 1]),
                "geometry": geom,
            }
        )
    if not rows:
        return gpd.GeoDataFrame(columns=[*columns, "geometry"], geometry="geometry", crs=grid.crs)
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=grid.crs)
    return frame.sort_values("height_m", ascending=False, ignore_index=True)
