"""A city-style tiled run with the sweep geometry equals the untiled prediction (1 km^2 crop)."""

import numpy as np
import pytest
import rasterio

from radiomap_geo.api import BBox, Grid, load_buildings, read_sites
from radiomap_geo.predict import predict_coverage

pytest.importorskip("dask")


@pytest.mark.parametrize("model", [None, "3gpp-uma"])  # None: the default network
def test_tiled_city_run_equals_untiled_predict(tmp_path, sample_pbf, sample_dir, model):
    from radiomap_geo.citywide import predict_city

    # The sample area grown to ~1 km^2 (0.99 x 1.01 km) around the bundled Helsinki extract.
    grid = Grid.from_bbox(BBox.parse("24.935,60.164,24.953,60.173"), resolution=2.0)
    assert 0.9e6 < grid.width * grid.height * 4.0 < 1.1e6
    sites = read_sites(sample_dir / "sites.gpkg", crs=grid.crs)
    buildings = load_buildings(grid, sample_pbf)
    untiled = predict_coverage(grid, sites, buildings, model=model, tile_size=1024)
    path = predict_city(tmp_path / "city.tif", grid, sites, buildings, model=model,
                        tile_size=128, scheduler="threads", workers=2)  # fmt: skip
    with rasterio.open(path) as src:
        tiled = {name: src.read(i + 1) for i, name in enumerate(src.descriptions)}
    reference = untiled["rsrp_dbm"]
    np.testing.assert_array_equal(np.isnan(tiled["rsrp_dbm"]), np.isnan(reference))
    assert np.isfinite(reference).mean() > 0.5
    assert np.nanmax(np.abs(tiled["rsrp_dbm"] - reference)) <= 0.1
    assert np.nanmax(np.abs(tiled["sinr_db"] - untiled["sinr_db"])) <= 0.1
    np.testing.assert_array_equal(tiled["best_server"], untiled["best_server"])
