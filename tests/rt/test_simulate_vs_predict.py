"""`simulate` and `predict` on the same real area share the grid and compare cell by cell."""

import numpy as np
import pytest

from radiomap_geo.api import BBox, Grid, load_buildings, predict_coverage, read_sites
from radiomap_geo.los import line_of_sight
from radiomap_geo.rasterize import rasterize_buildings
from radiomap_geo.rt.simulate import simulate_coverage

pytestmark = pytest.mark.rt

HEL04 = (24.94558, 60.16715)  # sample_data's isotropic street mast, 20 m


def test_simulate_and_predict_share_the_grid(sionna_rt, sample_dir):
    lon, lat = HEL04
    grid = Grid.from_bbox(BBox.parse((lon - 0.0016, lat - 0.0008, lon + 0.0016, lat + 0.0008)), 4.0)
    sites = read_sites(sample_dir / "sites.gpkg", crs=grid.crs)
    sites = type(sites)(tuple(s for s in sites if s.site_id == "hel-04"), sites.crs)
    buildings = load_buildings(grid, sample_dir / "helsinki.osm.pbf", margin_m=100)
    traced = simulate_coverage(
        grid, sites, buildings, samples_per_tx=1_000_000, max_depth=2, per_site=True
    )
    predicted = predict_coverage(grid, sites, buildings, model="free-space", per_site=True)
    assert traced.grid == predicted.grid
    rt_gain, fs_gain = traced["path_gain_db:hel-04"], predicted["path_gain_db:hel-04"]
    # The same cells are buildings (nodata) in both.
    assert (np.isnan(fs_gain) == (rasterize_buildings(buildings, grid) > 0)).all()
    # validity is NaN exactly in the tracer's building cells.
    assert (np.isnan(traced["validity"]) == np.isnan(fs_gain)).mean() > 0.99
    # In line of sight 30-80 m from the mast the tracer is free space plus a ground reflection.
    site = sites[0]
    heights = rasterize_buildings(buildings, grid)
    los = line_of_sight(heights, grid, grid, (site.x, site.y), site.height_m, 1.5)
    x, y = grid.cell_centers()
    ring = los & (np.hypot(x - site.x, y - site.y) > 30) & (np.hypot(x - site.x, y - site.y) < 80)
    ring &= np.isfinite(rt_gain)
    assert ring.sum() > 50
    excess = rt_gain[ring] - fs_gain[ring]
    assert 0.0 < np.median(excess) < 3.5  # ground reflection adds up to +3 dB (incoherent)
    # Out of sight the tracer is far below free space: buildings matter.
    shadow = ~los & np.isfinite(rt_gain) & np.isfinite(fs_gain)
    assert np.median(rt_gain[shadow] - fs_gain[shadow]) < -10
