import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from radiomap_geo.errors import OutputExistsError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.io.raster import write_bands


@pytest.fixture()
def grid():
    return Grid.from_bbox(BBox.parse("24.938,60.166,24.950,60.172"), 10.0)


def _bands(grid):
    rsrp = np.arange(grid.height * grid.width, dtype=np.float32).reshape(grid.shape)
    rsrp[0, 0] = np.nan
    return {"rsrp_dbm": rsrp, "best_server": np.ones(grid.shape, np.float32)}


def test_cog_is_georeferenced_and_described(tmp_path, grid):
    path = write_bands(tmp_path / "out.tif", grid, _bands(grid), tags={"model": "m"})
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32635
        assert ds.transform == grid.transform
        assert ds.descriptions == ("rsrp_dbm", "best_server")
        assert ds.units == ("dBm", "index")
        assert ds.tags()["model"] == "m"
        assert np.isnan(ds.nodata)
        assert ds.profile["compress"] == "deflate" and ds.profile["tiled"]
        # A pixel read at a map coordinate holds the value computed for that cell.
        x, y = grid.xy(7, 11)
        value = next(ds.sample([(x, y)], indexes=1))[0]
        assert value == 7 * grid.width + 11
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]  # no temporaries left


def test_never_overwritten_without_permission(tmp_path, grid):
    path = tmp_path / "out.tif"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_bands(path, grid, _bands(grid))
    assert path.read_bytes() == b"precious"
    write_bands(path, grid, _bands(grid), overwrite=True)
    with rasterio.open(path) as ds:
        assert ds.count == 2


def test_failed_write_leaves_the_old_file(tmp_path, grid):
    path = tmp_path / "out.tif"
    path.write_bytes(b"precious")
    bad = {"rsrp_dbm": np.zeros((3, 3), np.float32)}  # wrong shape: the write fails
    with pytest.raises(ValueError, match="shape"):
        write_bands(path, grid, bad, overwrite=True)
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]


def test_reprojected_output(tmp_path, grid):
    path = write_bands(tmp_path / "merc.tif", grid, _bands(grid), dst_crs="EPSG:3857")
    x, y = grid.xy(20, 30)
    mx, my = Transformer.from_crs(grid.crs, "EPSG:3857", always_xy=True).transform(x, y)
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 3857
        assert ds.descriptions == ("rsrp_dbm", "best_server")
        value = next(ds.sample([(mx, my)], indexes=1))[0]
    assert abs(value - (20 * grid.width + 30)) <= grid.width + 1  # within a cell


def test_output_in_degrees_keeps_the_cells_metres(tmp_path, grid):
    """At 60 N a degree of longitude is half a degree of latitude in metres: the reprojected
    cells are twice as wide in degrees as tall, so each stays ~10 m x 10 m on the ground."""
    path = write_bands(tmp_path / "geo.tif", grid, _bands(grid), dst_crs="EPSG:4326")
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 4326
        x_deg, y_deg = ds.res
        assert y_deg * 111_400 == pytest.approx(10.0, rel=0.01)  # ~111.4 km per degree at 60 N
        assert x_deg * 111_413 * np.cos(np.radians(60.169)) == pytest.approx(10.0, rel=0.01)
        # no north-south detail lost (a few rows more: the UTM grid is turned ~2 degrees)
        assert grid.height <= ds.height <= 1.1 * grid.height
        x, y = grid.xy(20, 30)
        lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
        value = next(ds.sample([(lon, lat)], indexes=1))[0]
    assert abs(value - (20 * grid.width + 30)) <= grid.width + 1  # within a cell


def test_published_file_has_default_permissions(tmp_path, grid):
    import os
    import stat

    path = write_bands(tmp_path / "out.tif", grid, _bands(grid))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
