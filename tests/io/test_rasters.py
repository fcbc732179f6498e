"""Rasters reprojected onto the grid: positions, nodata, nDSM, orthophotos and errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer

from radiomap_geo.errors import CRSError, InputError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.io.rasters import read_ndsm, read_ortho, read_raster_on_grid

# A spot in Zurich-Altstetten, as LV95 (EPSG:2056) and as web mercator (EPSG:3857).
SPOT_2056 = (2679250.0, 1247850.0)


def from_origin(west, north, xsize, ysize):
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def _write(path, data, crs, transform, nodata=None, **extra):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    profile = {
        "driver": "GTiff",
        "height": data.shape[1],
        "width": data.shape[2],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "transform": transform,
        **extra,
    }
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _spot_raster(tmp_path, crs):
    """1 m-ish raster, 0 everywhere but a 6 m x 6 m block of 100 centred on the spot."""
    x, y = Transformer.from_crs("EPSG:2056", crs, always_xy=True).transform(*SPOT_2056)
    step = 1.0 if crs == "EPSG:2056" else 2.0  # web mercator metres are ~1.5 ground metres here
    half = 100
    data = np.zeros((2 * half, 2 * half), dtype=np.float32)
    block = int(round(3 / step * (1 if step == 1 else 1.5)))
    data[half - block : half + block, half - block : half + block] = 100.0
    transform = from_origin(x - half * step, y + half * step, step, step)
    return _write(tmp_path / f"spot_{crs[5:]}.tif", data, crs, transform), (x, y)


@pytest.fixture
def utm_grid():
    """1 m UTM 32N grid, 120 m x 120 m around the spot."""
    x, y = Transformer.from_crs("EPSG:2056", "EPSG:32632", always_xy=True).transform(*SPOT_2056)
    return Grid.from_bbox(BBox(x - 60, y - 60, x + 60, y + 60, crs="EPSG:32632"), 1.0)


@pytest.mark.parametrize("crs", ["EPSG:2056", "EPSG:3857"])
def test_pixel_lands_in_the_right_cell(tmp_path, utm_grid, crs):
    path, _ = _spot_raster(tmp_path, crs)
    out = read_raster_on_grid(path, utm_grid, resampling="nearest")
    assert out.shape == (1, *utm_grid.shape) and out.dtype == np.float32
    x, y = Transformer.from_crs("EPSG:2056", "EPSG:32632", always_xy=True).transform(*SPOT_2056)
    row, col = utm_grid.rowcol(x, y)
    assert out[0, row, col] == 100.0
    rows, cols = np.nonzero(out[0] == 100.0)
    # The block's centre of mass is within a cell of the spot.
    cx, cy = utm_grid.xy(rows.mean(), cols.mean())
    assert abs(cx - x) < 1.0 and abs(cy - y) < 1.0
    assert out[0, 0, 0] == 0.0


def test_uncovered_and_nodata_are_nan(tmp_path, utm_grid):
    x, y = Transformer.from_crs("EPSG:2056", "EPSG:32632", always_xy=True).transform(*SPOT_2056)
    # A raster covering only the western half of the grid, with a nodata hole.
    data = np.full((2, 120, 60), 5.0, dtype=np.float32)
    data[1] = 7.0
    data[:, 50:70, 20:40] = -9999.0
    path = _write(
        tmp_path / "half.tif", data, "EPSG:32632", from_origin(x - 60, y + 60, 1, 1), nodata=-9999
    )
    out = read_raster_on_grid(path, utm_grid)
    assert out.shape == (2, *utm_grid.shape)
    assert np.isnan(out[:, :, -10:]).all()  # east half: not covered
    assert np.isnan(out[0, 55:65, 25:35]).all()  # nodata hole
    assert np.allclose(out[0, 5:40, 5:15], 5.0) and np.allclose(out[1, 5:40, 5:15], 7.0)
    assert np.nanmin(out) >= 5.0  # no blend with -9999 anywhere
    second = read_raster_on_grid(path, utm_grid, bands=[2], resampling="average")
    assert second.shape == (1, *utm_grid.shape) and np.nanmax(second) == pytest.approx(7.0)


def test_raster_errors(tmp_path, utm_grid):
    data = np.ones((10, 10), dtype=np.float32)
    nocrs = _write(tmp_path / "nocrs.tif", data, None, from_origin(0, 10, 1, 1))
    with pytest.raises(CRSError, match="has no CRS"):
        read_raster_on_grid(nocrs, utm_grid)
    far = _write(tmp_path / "far.tif", data, "EPSG:2056", from_origin(2600000, 1200010, 1, 1))
    with pytest.raises(InputError, match="does not overlap") as info:
        read_raster_on_grid(far, utm_grid)
    message = str(info.value)
    assert "2600000.0" in message and "EPSG:2056" in message  # the raster's extent
    assert f"{utm_grid.bounds[0]:.1f}" in message and "EPSG:32632" in message  # the grid's
    with pytest.raises(InputError, match="does not exist"):
        read_raster_on_grid(tmp_path / "none.tif", utm_grid)
    path, _ = _spot_raster(tmp_path, "EPSG:2056")
    with pytest.raises(InputError, match="bands 1..1"):
        read_raster_on_grid(path, utm_grid, bands=[2])
    with pytest.raises(InputError, match="unknown resampling"):
        read_raster_on_grid(path, utm_grid, resampling="bicubicle")
    garbage = tmp_path / "garbage.tif"
    garbage.write_text("no tiff")
    with pytest.raises(InputError, match="cannot read"):
        read_raster_on_grid(garbage, utm_grid)


# -- nDSM -------------------------------------------------------------------------------------


@pytest.fixture
def surfaces(tmp_path, utm_grid):
    """DSM and DTM (LV95, 0.5 m) over the grid's area: ground 400-410 m, a 12 m block."""
    x0, y0 = SPOT_2056[0] - 80, SPOT_2056[1] + 80
    n = 320
    ground = 400.0 + np.linspace(0, 10, n, dtype=np.float32)[None, :].repeat(n, 0)
    surface = ground.copy()
    surface[140:180, 140:180] += 12.0  # a building around the spot
    surface[10:20, 10:20] -= 1.0  # noise below ground: clipped to 0
    surface[300:310, 300:310] = -9999.0  # nodata: 0
    transform = from_origin(x0, y0, 0.5, 0.5)
    dsm = _write(tmp_path / "dsm.tif", surface, "EPSG:2056", transform, nodata=-9999)
    dtm = _write(tmp_path / "dtm.tif", ground, "EPSG:2056", transform)
    ndsm = _write(tmp_path / "ndsm.tif", surface - ground, "EPSG:2056", transform)
    return dsm, dtm, ndsm


def test_ndsm_from_dsm_and_dtm(surfaces, utm_grid):
    dsm, dtm, _ = surfaces
    heights = read_ndsm(utm_grid, dsm=dsm, dtm=dtm)
    assert heights.shape == utm_grid.shape and heights.dtype == np.float32
    assert np.isfinite(heights).all() and heights.min() >= 0.0
    x, y = Transformer.from_crs("EPSG:2056", "EPSG:32632", always_xy=True).transform(*SPOT_2056)
    row, col = utm_grid.rowcol(x, y)
    assert heights[row, col] == pytest.approx(12.0, abs=0.01)
    assert heights[row + 30, col + 30] == pytest.approx(0.0, abs=1e-3)
    assert np.percentile(heights, 50) == pytest.approx(0.0, abs=1e-3)


def test_ndsm_direct(surfaces, utm_grid):
    dsm, dtm, ndsm = surfaces
    direct = read_ndsm(utm_grid, ndsm=ndsm)
    assert direct.max() == pytest.approx(12.0, abs=0.01) and direct.min() == 0.0


def test_ndsm_errors_and_hint(surfaces, utm_grid, caplog):
    dsm, dtm, ndsm = surfaces
    with pytest.raises(InputError, match="nDSM"):
        read_ndsm(utm_grid)
    with pytest.raises(InputError, match="nDSM"):
        read_ndsm(utm_grid, dsm=dsm)
    with pytest.raises(InputError, match="not both"):
        read_ndsm(utm_grid, ndsm=ndsm, dsm=dsm, dtm=dtm)
    with caplog.at_level(logging.WARNING, logger="radiomap_geo.io.rasters"):
        read_ndsm(utm_grid, ndsm=dsm)  # a DSM passed as nDSM
    assert "is it a DSM" in caplog.text


def test_a_photo_given_as_height_model_is_refused(tmp_path, utm_grid):
    """Three 8-bit bands are an image: its red band read as metres would be a wrong map."""
    x, y = Transformer.from_crs("EPSG:2056", "EPSG:32632", always_xy=True).transform(*SPOT_2056)
    rgb = np.full((3, 140, 140), 51, dtype=np.uint8)
    path = _write(tmp_path / "rgb.tif", rgb, "EPSG:32632", from_origin(x - 70, y + 70, 1, 1))
    for keyword in ("ndsm", "dsm"):
        inputs = {keyword: path, **({"dtm": path} if keyword == "dsm" else {})}
        with pytest.raises(InputError, match="3 8-bit bands, an image, not heights") as refused:
            read_ndsm(utm_grid, **inputs)
        assert refused.value.parameter == keyword


# -- orthophotos ------------------------------------------------------------------------------


def test_zurich_orthophoto(shared_file):
    path = shared_file("zurich/lidar_ref-img.tif")
    with rasterio.open(path) as src:
        source = src.read().astype(np.float64) / 255.0
        inner = BBox(*src.bounds, crs="EPSG:2056")
    box = BBox(inner.minx + 20, inner.miny + 20, inner.maxx - 20, inner.maxy - 20, inner.crs)
    grid = Grid.from_bbox(box, 1.0)  # UTM 32N
    assert grid.crs.to_epsg() == 32632
    ortho = read_ortho(grid, path)
    assert ortho.shape == (3, *grid.shape) and ortho.dtype == np.float32
    assert 0.0 <= ortho.min() and ortho.max() <= 1.0
    uncovered = (ortho == 0).all(axis=0).mean()
    assert uncovered < 0.05  # the grid lies inside the image, apart from snapping
    for band in range(3):
        assert ortho[band].mean() == pytest.approx(source[band].mean(), abs=0.04)


def test_ortho_bands_and_scaling(tmp_path, utm_grid):
    x, y = Transformer.from_crs("EPSG:2056", "EPSG:32632", always_xy=True).transform(*SPOT_2056)
    transform = from_origin(x - 70, y + 70, 1, 1)
    twelve_bit = np.full((4, 140, 140), 4095, dtype=np.uint16)
    twelve_bit[:, :70] = 2048
    path = _write(tmp_path / "rgbn.tif", twelve_bit, "EPSG:32632", transform)
    out = read_ortho(utm_grid, path)
    assert out.shape == (4, *utm_grid.shape)
    assert out.max() == pytest.approx(1.0) and out[:, 0, 0] == pytest.approx(2048 / 4095)

    rgb = np.full((3, 140, 140), 51, dtype=np.uint8)
    path = _write(tmp_path / "rgb.tif", rgb, "EPSG:32632", transform)
    assert read_ortho(utm_grid, path) == pytest.approx(0.2)

    rgba = np.concatenate([rgb, np.full((1, 140, 140), 255, dtype=np.uint8)])
    path = _write(
        tmp_path / "rgba.tif", rgba, "EPSG:32632", transform, photometric="RGB", alpha="YES"
    )
    assert read_ortho(utm_grid, path).shape == (3, *utm_grid.shape)

    path = _write(tmp_path / "two.tif", rgb[:2], "EPSG:32632", transform)
    with pytest.raises(InputError, match="2 colour bands"):
        read_ortho(utm_grid, path)


def test_ortho_fill(tmp_path, utm_grid):
    x, y = Transformer.from_crs("EPSG:2056", "EPSG:32632", always_xy=True).transform(*SPOT_2056)
    rgb = np.full((3, 140, 70), 255, dtype=np.uint8)  # western half only
    path = _write(tmp_path / "half.tif", rgb, "EPSG:32632", from_origin(x - 70, y + 70, 1, 1))
    assert read_ortho(utm_grid, path)[:, :, -5:].max() == 0.0
    assert np.isnan(read_ortho(utm_grid, path, fill=None)[:, :, -5:]).all()
