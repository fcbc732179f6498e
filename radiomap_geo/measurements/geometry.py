"""The geometry model's path gain at measured bins: our ray-traced knowledge as a feature.

For each site of a link table the product's prediction engine (:func:`predict_coverage`, default
model: the shipped network with its calibrated fallback) computes the path gain on a grid around
the site's bins, with the given building footprints (none: open ground), and the value of the
cell holding each bin becomes the ``vae-likelihood-geo`` model's extra input.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

GRID_RESOLUTION_M = 10.0
MARGIN_M = 30.0


def geometry_path_gain(table, buildings=None, model: str | None = None, progress=None):
    """Path gain (dB) per row of a link table from the geometry model (gaps: the median)."""
    from radiomap_geo.grid import BBox, Grid
    from radiomap_geo.measurements.features import geometry_site
    from radiomap_geo.predict import predict_coverage
    from radiomap_geo.sites import Sites

    crs = table.attrs["crs"]
    table = table.reset_index(drop=True)
    out = np.full(len(table), np.nan)
    groups = list(table.groupby(["site", "sx", "sy", "height_m"]))
    for done, ((site, sx, sy, height), group) in enumerate(groups):
        xs = np.concatenate([group.x.to_numpy(), [sx]])
        ys = np.concatenate([group.y.to_numpy(), [sy]])
        box = BBox(
            xs.min() - MARGIN_M, ys.min() - MARGIN_M, xs.max() + MARGIN_M, ys.max() + MARGIN_M, crs
        )
        grid = Grid.from_bbox(box, GRID_RESOLUTION_M, crs=crs)
        tx = Sites((geometry_site(float(sx), float(sy), float(height)),), crs)
        result = predict_coverage(grid, tx, buildings, model=model, per_site=True)
        gain = result["path_gain_db:tx"]
        rows, cols = grid.rowcol(group.x.to_numpy(), group.y.to_numpy())
        out[group.index.to_numpy()] = gain[rows, cols]
        if progress is not None:
            progress(done + 1, len(groups), f"geometry model, site {site}")
    missing = int(np.isnan(out).sum())
    if missing:
        log.warning(
            "geometry model: no path gain at %d of %d bins (filled with the median)",
            missing,
            len(out),
        )
        out[np.isnan(out)] = np.nanmedian(out)
    return out
