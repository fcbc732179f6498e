"""A real-layout test tile with 20 % of its ray-traced RSRP as drive-test files (shared)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np

from radiomap_geo.options import RunOptions

DATASET = Path(__file__).resolve().parents[2] / "data" / "radiomaps"
POWER_DBM = 43.0


def measured_tile(folder: Path) -> dict:
    """Grid, site, true buildings and 20 % of a RadioMapSeer test map's RSRP, written to
    ``folder`` as ``drive.gpkg`` and ``sites.gpkg``."""
    from radiomap_geo.dataset import load_dataset

    ds = load_dataset(str(DATASET), "test")
    index = next(
        i for i in range(len(ds)) if ds.tile_info(int(ds.map_tile[i]))["source"] == "radiomapseer"
    )
    tile = int(ds.map_tile[index])
    grid, site = ds.grid(tile), ds.site(index)
    gain = np.where(ds.mask[index], ds.gain_db[index], np.nan)
    rsrp = gain + POWER_DBM + RunOptions().rsrp_offset_db
    cells = np.flatnonzero(np.isfinite(gain) & (gain >= -130))  # a phone's sensitivity
    pick = np.random.default_rng(0).choice(cells, len(cells) // 5, replace=False)
    rows, cols = np.unravel_index(pick, grid.shape)
    x, y = grid.xy(rows, cols)
    points = gpd.GeoDataFrame(
        {"rsrp_dbm": rsrp.ravel()[pick]}, geometry=gpd.points_from_xy(x, y), crs=grid.crs
    )
    points.to_file(folder / "drive.gpkg", driver="GPKG")
    record = {"site_id": "s1", "height_m": site.height_m, "power_dbm": POWER_DBM}
    frame = gpd.GeoDataFrame(
        {k: [v] for k, v in record.items()},
        geometry=gpd.points_from_xy([site.x], [site.y]),
        crs=grid.crs,
    )
    frame.to_file(folder / "sites.gpkg", driver="GPKG")
    return {
        "grid": grid,
        "site": site,
        "record": record,
        "points": points,
        "measured": (rows, cols),
        "rsrp": rsrp,
        "buildings": ds.building_height_m[tile] > 0,
        "folder": folder,
    }
