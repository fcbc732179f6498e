"""Inputs of the fitted models: tabular features per bin and BS-to-UE top-view images.

Paper 004 renders, for each measurement, a top-view map of the area between the base station and
the UE (buildings, roads, the link drawn as a line) and lets a VAE distil it into a 2-d latent.
Here an image is :data:`IMAGE_SIZE` pixels square covering :data:`IMAGE_EXTENT_M` metres, north
up, centred on the midpoint of the link, with three channels:

0. buildings (1 inside a footprint), from ``--buildings`` when given, else all zero;
1. roads / walkable streets: OSM-style road lines when given, else the walked tracks of the
   measurements themselves (the streets the data was collected on);
2. the link: the BS-to-UE segment (1 on it, fading to 0 two pixels away), plus the two ends.

The layers are rasterised once on a :data:`LAYER_RESOLUTION_M` grid around the data and the
images are sampled from it, so making thousands of images costs milliseconds each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine

IMAGE_SIZE = 48
IMAGE_EXTENT_M = 384.0
LAYER_RESOLUTION_M = 4.0
TRACK_GAP_M = 60.0  # consecutive samples further apart than this are not one walked street
ROAD_WIDTH_M = 8.0


@dataclass(frozen=True)
class Layers:
    """Building and road rasters on one north-up metric grid (``transform``, row-major)."""

    buildings: np.ndarray
    roads: np.ndarray
    transform: Affine

    def sample(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest-cell values of both layers at points (0 outside the rasters)."""
        t = self.transform
        col = np.floor((np.asarray(x) - t.c) / t.a).astype(int)
        row = np.floor((np.asarray(y) - t.f) / t.e).astype(int)
        h, w = self.buildings.shape
        ok = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        b = np.zeros(row.shape, np.float32)
        r = np.zeros(row.shape, np.float32)
        b[ok] = self.buildings[row[ok], col[ok]]
        r[ok] = self.roads[row[ok], col[ok]]
        return b, r


def walked_tracks(samples, crs, gap_m: float = TRACK_GAP_M):
    """Lines through consecutive samples of each file (time order), broken at gaps > ``gap_m``."""
    import geopandas as gpd
    from shapely.geometry import LineString

    pts = samples.to_crs(crs)
    lines = []
    for _, group in pts.groupby("source_file"):
        group = group.sort_values("time")
        xy = np.column_stack([group.geometry.x, group.geometry.y])
        if len(xy) < 2:
            continue
        breaks = np.flatnonzero(np.hypot(*np.diff(xy, axis=0).T) > gap_m) + 1
        for part in np.split(xy, breaks):
            if len(part) >= 2:
                lines.append(LineString(part))
    return gpd.GeoSeries(lines, crs=crs)


def build_layers(bounds, crs, buildings=None, roads=None, margin_m: float = IMAGE_EXTENT_M):
    """Rasterise buildings (polygons) and roads (lines, buffered) around ``bounds`` in ``crs``."""
    from rasterio.features import rasterize

    minx, miny, maxx, maxy = bounds
    res = LAYER_RESOLUTION_M
    minx, miny = np.floor((minx - margin_m) / res) * res, np.floor((miny - margin_m) / res) * res
    maxx, maxy = np.ceil((maxx + margin_m) / res) * res, np.ceil((maxy + margin_m) / res) * res
    width, height = int(round((maxx - minx) / res)), int(round((maxy - miny) / res))
    transform = Affine(res, 0, minx, 0, -res, maxy)

    def burn(geoms) -> np.ndarray:
        shapes = [g for g in geoms if g is not None and not g.is_empty]
        if not shapes:
            return np.zeros((height, width), np.float32)
        return rasterize(
            ((g, 1) for g in shapes), out_shape=(height, width), transform=transform, dtype="uint8"
        ).astype(np.float32)

    b = burn(buildings.to_crs(crs).geometry) if buildings is not None and len(buildings) else None
    r = burn(roads.to_crs(crs).buffer(ROAD_WIDTH_M / 2)) if roads is not None else None
    empty = np.zeros((height, width), np.float32)
    return Layers(
        buildings=empty if b is None else b, roads=empty if r is None else r, transform=transform
    )


def link_images(
    layers: Layers,
    bs_xy: np.ndarray,
    ue_xy: np.ndarray,
    size: int = IMAGE_SIZE,
    extent_m: float = IMAGE_EXTENT_M,
) -> np.ndarray:
    """``(n, 3, size, size)`` float32 images for links from ``bs_xy[i]`` to ``ue_xy[i]``."""
    bs_xy = np.atleast_2d(np.asarray(bs_xy, float))
    ue_xy = np.atleast_2d(np.asarray(ue_xy, float))
    n = len(ue_xy)
    bs_xy = np.broadcast_to(bs_xy, (n, 2))
    px = extent_m / size
    offsets = (np.arange(size) + 0.5) * px - extent_m / 2
    gx, gy = np.meshgrid(offsets, -offsets)  # row 0 is north
    mid = (bs_xy + ue_xy) / 2
    x = mid[:, 0, None, None] + gx[None]
    y = mid[:, 1, None, None] + gy[None]
    b, r = layers.sample(x, y)
    link = _segment_distance(x, y, bs_xy, ue_xy)
    line = np.clip(1.0 - link / (2 * px), 0.0, 1.0)
    ends = np.minimum(
        np.hypot(x - bs_xy[:, 0, None, None], y - bs_xy[:, 1, None, None]),
        np.hypot(x - ue_xy[:, 0, None, None], y - ue_xy[:, 1, None, None]),
    )
    line = np.maximum(line, (ends < 2 * px).astype(np.float32))
    return np.stack([b, r, line.astype(np.float32)], axis=1).astype(np.float32)


def _segment_distance(x, y, a, b) -> np.ndarray:
    ax, ay = a[:, 0, None, None], a[:, 1, None, None]
    dx, dy = (b[:, 0] - a[:, 0])[:, None, None], (b[:, 1] - a[:, 1])[:, None, None]
    length2 = np.maximum(dx * dx + dy * dy, 1e-9)
    t = np.clip(((x - ax) * dx + (y - ay) * dy) / length2, 0.0, 1.0)
    return np.hypot(x - (ax + t * dx), y - (ay + t * dy))


def tabular_features(bins_xy: np.ndarray, site_xy: np.ndarray, sector: np.ndarray, month):
    """Paper 004's baseline features ``(x, y, sector, month)``; x, y relative to the site, metres.

    ``sector`` is the cell's index within its site; ``month`` 1..12 (0 = unknown).
    """
    rel = np.asarray(bins_xy, float) - np.asarray(site_xy, float)
    return np.column_stack([rel, np.asarray(sector, float), np.asarray(month, float)])


def link_features(bins_xy: np.ndarray, site_xy: np.ndarray, height_m: float) -> np.ndarray:
    """``(n, 3)``: log10 of the 3-D link distance (m), cos and sin of the bearing from the site.

    What every propagation model starts from; a small network learns them from x, y only
    slowly, so they are given (beyond paper 004's inputs).
    """
    rel = np.asarray(bins_xy, float) - np.asarray(site_xy, float)
    distance = np.sqrt((rel**2).sum(1) + float(height_m) ** 2)
    bearing = np.arctan2(rel[:, 1], rel[:, 0])
    return np.column_stack([np.log10(np.maximum(distance, 1.0)), np.cos(bearing), np.sin(bearing)])


def geometry_site(x: float, y: float, height_m: float, site_id: str = "tx"):
    """The transmitter the geometry feature is computed for: isotropic, default frequency.

    Fit and predict both use this, so the feature means the same thing at both ends whatever the
    towers table says about antennas (a located azimuth is uncertain; the fitted model learns
    the cell's own pattern from the data).
    """
    from radiomap_geo.sites import Site

    return Site(site_id=site_id, x=x, y=y, height_m=height_m)
