"""CoverageResult.to_xarray: CRS and transform kept, a pixel's coordinates land where the grid
puts them, and the dataset equals the GeoTIFF the same result writes, opened by rioxarray."""

import numpy as np
import pytest

from radiomap_geo.grid import BBox, Grid
from radiomap_geo.predict import predict_coverage
from radiomap_geo.sites import Sites

rioxarray = pytest.importorskip("rioxarray")


@pytest.fixture(scope="module")
def result():
    grid = Grid.from_bbox(BBox.parse("24.938,60.166,24.950,60.172"), 10.0)
    minx, miny, maxx, maxy = grid.bounds
    records = [
        {"site_id": "a", "x": minx + 150, "y": maxy - 200, "height_m": 20},
        {"site_id": "b", "x": maxx - 120, "y": miny + 180, "height_m": 25},
    ]
    sites = Sites.from_records(records, grid.crs)
    return predict_coverage(grid, sites, None, model="3gpp-uma", per_site=True)


def test_crs_transform_and_pixel_coordinates(result):
    ds = result.to_xarray()
    grid = result.grid
    assert ds.rio.crs.to_epsg() == grid.crs.to_epsg() == 32635
    assert tuple(ds.rio.transform()) == tuple(grid.transform)
    assert ds.rio.shape == grid.shape
    assert list(ds.data_vars) == result.band_names
    row, col = 17, 42
    x, y = grid.transform * (col + 0.5, row + 0.5)  # the centre of that cell
    assert float(ds.x[col]) == pytest.approx(x) and float(ds.y[row]) == pytest.approx(y)
    assert grid.rowcol(float(ds.x[col]), float(ds.y[row])) == (row, col)
    picked = ds["rsrp_dbm"].sel(x=x, y=y, method="nearest")
    assert float(picked) == result.value_at("rsrp_dbm", x, y) == result["rsrp_dbm"][row, col]
    assert ds["rsrp_dbm"].attrs["units"] == "dBm" and ds["best_server"].attrs["units"] == "index"
    assert ds.attrs["model"] == "3gpp-uma" and ds.attrs["site_ids"] == "a,b"


def test_equals_the_written_geotiff(result, tmp_path):
    path = result.write(tmp_path / "c.tif")
    on_disk = rioxarray.open_rasterio(path)
    ds = result.to_xarray()
    np.testing.assert_allclose(on_disk.x, ds.x)
    np.testing.assert_allclose(on_disk.y, ds.y)
    assert on_disk.rio.crs == ds.rio.crs
    for index, name in enumerate(on_disk.attrs["long_name"]):
        np.testing.assert_array_equal(on_disk[index].values, ds[name].values, err_msg=name)
