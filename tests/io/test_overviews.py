import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.shutil import copy as rio_copy

from radiomap_geo.grid import Grid
from radiomap_geo.io.overviews import band_kind, overview_factors, reduce_block, with_overviews


def test_power_is_averaged_in_linear_units_and_nodata_ignored():
    values = np.array([[-60.0, -70.0], [np.nan, np.nan]], np.float32)
    expected = 10 * math.log10((1e-6 + 1e-7) / 2)  # -62.6 dBm, not the dB mean -65
    assert reduce_block(values, 2, "power")[0, 0] == pytest.approx(expected, abs=1e-4)
    assert np.isnan(reduce_block(np.full((2, 2), np.nan, np.float32), 2, "power")[0, 0])
    # Very weak and very strong cells: no underflow to -inf.
    assert reduce_block(np.array([[-300.0, -300.0]], np.float32), 2, "power")[0, 0] == -300.0


def test_best_server_takes_the_most_frequent_finite_value():
    values = np.array([[3, 3, 1, np.nan], [1, 2, np.nan, np.nan]], np.float32)
    mode = reduce_block(values, 2, "mode")
    assert mode[0, 0] == 3.0 and np.isnan(mode[0, 1])  # three of four cells nodata: nodata
    assert reduce_block(np.array([[2, 1], [1, 2]], np.float32), 2, "mode")[0, 0] == 1.0  # tie
    mean = reduce_block(np.array([[1.0, 2.0, np.nan]], np.float32), 2, "mean")
    assert mean[0, 0] == 1.5 and np.isnan(mean[0, 1])


def test_kinds_follow_the_band_units():
    assert band_kind("rsrp_dbm") == band_kind("sinr_db") == "power"
    assert band_kind("path_gain_db:site-1") == "power"
    assert band_kind("best_server") == band_kind("validity") == "mode"
    assert band_kind("model_source") == "mean"
    assert overview_factors(1664, 1536) == [2, 4, 8]
    assert overview_factors(200, 256) == []


def _city_like(shape, seed=0):
    """RSRP with ~24 % building cells (NaN) in small blocks, and a best-server band."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape)
    rsrp = (-60 - 0.05 * np.hypot(rows - 300, cols - 200)).astype(np.float32)
    rsrp += rng.normal(0, 3, shape).astype(np.float32)
    server = (1 + (cols // 150) + 3 * (rows // 150)).astype(np.float32)
    buildings = np.zeros(shape, bool)
    while buildings.mean() < 0.24:  # footprints of 6-40 m at 2 m cells
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        buildings[r : r + rng.integers(3, 20), c : c + rng.integers(3, 20)] = True
    rsrp[buildings] = np.nan
    server[buildings] = np.nan
    return rsrp, server


def test_overviews_keep_the_map_visible_in_a_cog(tmp_path):
    shape = (700, 600)
    rsrp, server = _city_like(shape)
    grid = Grid(CRS.from_epsg(32633), Affine(2, 0, 390000, 0, -2, 5816000), shape)
    staged, cog = tmp_path / "staged.tif", tmp_path / "out.tif"
    profile = grid.to_profile(2, "float32", nodata=float("nan"))
    with rasterio.open(staged, "w", **profile, tiled=True, blockxsize=256, blockysize=256) as d:
        d.write(np.stack([rsrp, server]))
        d.set_band_description(1, "rsrp_dbm")
        d.set_band_description(2, "best_server")
    with with_overviews(staged) as source, rasterio.open(source) as src:
        assert src.overviews(1) == [2, 4]
        rio_copy(src, cog, driver="COG", OVERVIEWS="FORCE_USE_EXISTING")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif", "staged.tif"]
    full_share = np.isfinite(rsrp).mean()
    assert 0.7 < full_share < 0.8
    with rasterio.open(cog) as src:
        assert src.overviews(1) == [2, 4]
        assert src.descriptions == ("rsrp_dbm", "best_server")
    for level, factor in enumerate([2, 4]):
        with rasterio.open(cog, overview_level=level) as ov:
            o_rsrp, o_server = ov.read(1), ov.read(2)
        assert o_rsrp.shape == (math.ceil(700 / factor), math.ceil(600 / factor))
        assert np.isfinite(o_rsrp).mean() == pytest.approx(full_share, rel=0.1)
        # One overview cell, recomputed by hand: linear mean of its finite children.
        block = rsrp[10 * factor : 11 * factor, 20 * factor : 21 * factor]
        finite = block[np.isfinite(block)]
        expected = 10 * np.log10(np.mean(10 ** (finite.astype(np.float64) / 10)))
        assert o_rsrp[10, 20] == pytest.approx(expected, abs=1e-3)
        # Servers stay whole numbers of the sites around, never a blend of two indices.
        assert set(np.unique(o_server[np.isfinite(o_server)])) <= set(np.unique(server))
        for i, j in np.argwhere(np.isfinite(o_server))[::97]:  # the most frequent child
            block = server[i * factor : (i + 1) * factor, j * factor : (j + 1) * factor]
            values, counts = np.unique(block[np.isfinite(block)], return_counts=True)
            assert o_server[i, j] == values[counts == counts.max()].min()


def test_written_coverage_files_carry_these_overviews(tmp_path):
    from radiomap_geo.io.raster import write_bands

    shape = (700, 600)
    rsrp, server = _city_like(shape, seed=1)
    grid = Grid(CRS.from_epsg(32633), Affine(2, 0, 390000, 0, -2, 5816000), shape)
    out = write_bands(tmp_path / "cov.tif", grid, {"rsrp_dbm": rsrp, "best_server": server})
    full_share = np.isfinite(rsrp).mean()
    with rasterio.open(out) as src:
        assert src.overviews(1) == [2, 4]
        assert src.descriptions == ("rsrp_dbm", "best_server")
    for level in (0, 1):
        with rasterio.open(out, overview_level=level) as ov:
            share = np.isfinite(ov.read(1)).mean()
        assert share == pytest.approx(full_share, rel=0.1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cov.tif"]  # no helper left behind
