"""Files of ``infer-buildings``: the probability raster (+ mask and radio-map bands) and the
simplified footprint polygons, both written atomically and never over an existing file unless
``overwrite``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from radiomap_geo.grid import Grid
from radiomap_geo.io.atomic import atomic_path
from radiomap_geo.radiocycle.infer import BuildingInference
from radiomap_geo.staged import write_layers

#: Band order of the raster (descriptions carry these names).
BANDS = ("building_probability", "building_mask", "path_gain_db")
#: Footprints smaller than this many cells are dropped (single noisy cells are not buildings).
MIN_CELLS = 4


def write_building_raster(result: BuildingInference, path, *, overwrite: bool = False) -> Path:
    """A float32 GeoTIFF on ``result.grid`` with the :data:`BANDS`."""
    import rasterio

    grid = result.grid
    data = np.stack(
        [result.probability, result.mask.astype(np.float32), result.path_gain_db]
    ).astype(np.float32)
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": len(BANDS),
        "height": grid.height,
        "width": grid.width,
        "crs": grid.crs.to_wkt(),
        "transform": grid.transform,
        "compress": "deflate",
    }
    with atomic_path(path, overwrite=overwrite) as staging:
        with rasterio.open(staging, "w", **profile) as dst:
            dst.write(data)
            for i, name in enumerate(BANDS, start=1):
                dst.set_band_description(i, name)
            dst.update_tags(**{k: str(v) for k, v in result.metadata.items()})
    return Path(path)


def building_polygons(
    mask: np.ndarray, probability: np.ndarray, grid: Grid, tolerance_m: float | None = None
):
    """Footprints of ``mask`` as a GeoDataFrame in ``grid.crs``: simplified (default tolerance
    half a cell, topology kept), made valid, with ``area_m2`` and ``mean_probability``. The model
    estimates no heights, so there is no height column.
    """
    import geopandas as gpd
    from rasterio.features import shapes
    from shapely.geometry import shape
    from shapely.validation import make_valid

    tolerance = grid.resolution / 2 if tolerance_m is None else tolerance_m
    geoms, probs = [], []
    labels = mask.astype(np.uint8)
    for geom, value in shapes(labels, mask=mask, transform=grid.transform, connectivity=4):
        if value != 1:
            continue
        poly = shape(geom)
        if poly.area < MIN_CELLS * grid.resolution**2:
            continue
        poly = make_valid(poly.simplify(tolerance, preserve_topology=True))
        if poly.is_empty or poly.area <= 0:
            continue
        geoms.append(poly)
        probs.append(_mean_inside(poly, probability, grid))
    frame = gpd.GeoDataFrame(
        {"mean_probability": np.asarray(probs, np.float32)}, geometry=geoms, crs=grid.crs
    )
    frame["area_m2"] = frame.geometry.area.astype(np.float32)
    return frame


def _mean_inside(poly, probability: np.ndarray, grid: Grid) -> float:
    from rasterio.features import geometry_mask

    inside = geometry_mask([poly], grid.shape, grid.transform, invert=True)
    return float(probability[inside].mean()) if inside.any() else float("nan")


def write_polygons(frame, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write the footprints to a GeoPackage (layer ``buildings``) atomically."""
    return write_layers(path, {"buildings": frame}, overwrite=overwrite)
