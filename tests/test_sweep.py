"""The radial sweep against the per-cell ray walks it replaces (and GDAL's viewshed).

Tolerances (documented in :mod:`radiomap_geo.sweep`): a cell is evaluated on the fan ray nearest
its centre, at most half a cell from the ray to the exact centre, so the two methods read
different height samples only near shadow edges.
"""

import shutil
import subprocess

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

from radiomap_geo.grid import Grid
from radiomap_geo.los import DirectRays, knife_edge_loss_db, line_of_sight, obstruction
from radiomap_geo.sweep import sweep

RX = 1.5
F_MHZ = 3500.0


def _grid(n: int, cell: float = 2.0) -> Grid:
    return Grid(CRS.from_epsg(32635), Affine(cell, 0, 500000.0, 0, -cell, 6670000.0), (n, n))


def _xy(grid: Grid, row: float, col: float) -> tuple[float, float]:
    t = grid.transform
    return t.c + col * t.a, t.f + row * t.e


def _both(heights, grid, tx_xy, tx_h, target=None):
    target = grid if target is None else target
    rays = DirectRays(heights, grid, target, tx_xy, tx_h, RX)
    swept = sweep(rays, F_MHZ)
    walked_los = line_of_sight(heights, grid, target, tx_xy, tx_h, RX, method="walk")
    depth, knife = obstruction(rays, F_MHZ, method="walk")
    return swept, (walked_los, depth, knife)


def _assert_close(swept, walked, outdoor, los_share=0.99, depth_mae=1.5, knife_mae=0.5):
    (v, d, k), (vw, dw, kw) = swept, walked
    assert (v == vw)[outdoor].mean() >= los_share
    assert np.abs(d - dw)[outdoor].mean() <= depth_mae
    assert np.abs(k - kw)[outdoor].mean() <= knife_mae


def test_wall_shadow_depth_and_knife_edge_match_the_walk_and_the_formula():
    grid = _grid(120)
    heights = np.zeros(grid.shape, np.float32)
    heights[20:100, 60:63] = 20.0  # a 6 m thick, 20 m tall wall across the middle
    tx_xy, tx_h = _xy(grid, 60.5, 30.5), 10.0
    swept, walked = _both(heights, grid, tx_xy, tx_h)
    _assert_close(swept, walked, heights <= 0)
    visible, depth, knife = swept
    assert visible[60, 20] and visible[60, 59]  # in front of the wall
    assert not visible[60, 80] and not visible[40, 100]  # behind it
    assert visible[2, 64] and visible[118, 64]  # past its ends
    # Along the antenna's row the fan ray is the cell's own ray: identical to the walk.
    np.testing.assert_array_equal(depth[60], walked[1][60])
    np.testing.assert_array_equal(knife[60], walked[2][60])
    # Behind the wall, on the axis: about the wall's thickness of building, and the ITU-R P.526
    # loss of the wall's top (excess height over the ray at its far face, 6 m from the rx side).
    assert depth[60, 90] == pytest.approx(6.0, abs=1.5)
    d_total, d1 = (90.5 - 30.5) * 2.0, (63.0 - 30.5) * 2.0
    excess = 20.0 - (tx_h + d1 / d_total * (RX - tx_h))
    nu = excess * np.sqrt(2 * d_total / (0.299792458 / 3.5 * d1 * (d_total - d1)))
    assert knife[60, 90] == pytest.approx(float(knife_edge_loss_db(np.array(nu))), abs=0.5)


def test_courtyard_sees_only_itself():
    grid = _grid(100)
    heights = np.zeros(grid.shape, np.float32)
    heights[30:70, 30:70] = 25.0
    heights[40:60, 40:60] = 0.0  # the courtyard
    tx_xy, tx_h = _xy(grid, 50.0, 50.0), 6.0
    swept, walked = _both(heights, grid, tx_xy, tx_h)
    _assert_close(swept, walked, heights <= 0)
    visible = swept[0]
    assert visible[40:60, 40:60].all()
    outside = np.ones(grid.shape, bool)
    outside[30:70, 30:70] = False
    assert not visible[outside].any()
    np.testing.assert_array_equal(visible, walked[0])


def test_canyon_sees_along_the_street():
    grid = _grid(160)
    heights = np.zeros(grid.shape, np.float32)
    rng = np.random.default_rng(3)
    for col in range(0, 160, 20):  # two rows of blocks of mixed heights, a 12 m street between
        heights[60:77, col : col + 17] = rng.uniform(15, 35)
        heights[83:100, col : col + 17] = rng.uniform(15, 35)
    tx_xy, tx_h = _xy(grid, 80.0, 78.5), 8.0
    swept, walked = _both(heights, grid, tx_xy, tx_h)
    _assert_close(swept, walked, heights <= 0)
    visible = swept[0]
    assert visible[78:82, :].all()  # the street itself, end to end
    assert not visible[20, 100] and not visible[140, 100]  # beyond the blocks
    assert visible[62:77, 78].all()  # the side street between two blocks, at the antenna


def test_sample_city_agrees_with_the_walks(sample_pbf, sample_dir):
    from radiomap_geo.api import BBox, load_buildings, read_sites
    from radiomap_geo.rasterize import rasterize_buildings

    grid = Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), resolution=2.0)
    heights = rasterize_buildings(load_buildings(grid, sample_pbf), grid)
    outdoor = heights <= 0
    for site in read_sites(sample_dir / "sites.gpkg", crs=grid.crs):
        swept, walked = _both(heights, grid, (site.x, site.y), site.height_m)
        # Measured on the 4 sites: LOS >= 99.6 %, depth MAE <= 1.1 m, knife-edge MAE <= 0.3 dB.
        _assert_close(swept, walked, outdoor, los_share=0.995, depth_mae=1.2, knife_mae=0.35)
        assert np.percentile(np.abs(swept[2] - walked[2])[outdoor], 95) <= 1.5


def test_a_window_gets_exactly_the_whole_grids_values():
    grid = _grid(150)
    rng = np.random.default_rng(0)
    heights = np.zeros(grid.shape, np.float32)
    for _ in range(120):
        r, c = rng.integers(0, 150, 2)
        heights[r : r + rng.integers(2, 12), c : c + rng.integers(2, 12)] = rng.uniform(5, 30)
    tx_xy = _xy(grid, 70.3, 81.6)
    whole = sweep(DirectRays(heights, grid, grid, tx_xy, 25.0, RX), F_MHZ)
    for window in [(0, 0, 40, 150), (90, 100, 50, 37), (60, 70, 20, 20)]:
        part = sweep(DirectRays(heights, grid, grid.window(*window), tx_xy, 25.0, RX), F_MHZ)
        r, c, h, w = window
        for a, b in zip(part, whole):
            np.testing.assert_array_equal(a, b[r : r + h, c : c + w])


def test_antenna_below_the_receiver_uses_the_walks():
    grid = _grid(60)
    heights = np.zeros(grid.shape, np.float32)
    heights[10:50, 30] = 3.0
    tx_xy = _xy(grid, 30.5, 10.5)
    swept, walked = _both(heights, grid, tx_xy, 1.0)
    for a, b in zip(swept, walked):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(shutil.which("gdal_viewshed") is None, reason="gdal_viewshed not installed")
def test_line_of_sight_agrees_with_gdal_viewshed(tmp_path, sample_pbf):
    import rasterio

    from radiomap_geo.api import BBox, load_buildings
    from radiomap_geo.rasterize import rasterize_buildings

    grid = Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), resolution=2.0)
    heights = rasterize_buildings(load_buildings(grid, sample_pbf), grid)
    dsm = tmp_path / "dsm.tif"
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=1,
                   dtype="float32", crs=grid.crs, transform=grid.transform)  # fmt: skip
    with rasterio.open(dsm, "w", **profile) as dst:
        dst.write(heights, 1)
    row, col = np.argwhere(heights <= 0)[len(heights) * 150]  # a street cell, observer there
    x, y = grid.xy(row, col)
    tx_h = 12.0
    out = tmp_path / "viewshed.tif"
    subprocess.run(
        ["gdal_viewshed", "-q", "-ox", str(x), "-oy", str(y), "-oz", str(tx_h), "-tz", str(RX),
         "-cc", "1", "-vv", "1", "-iv", "0", "-ov", "0", str(dsm), str(out)],
        check=True,
    )  # fmt: skip
    with rasterio.open(out) as src:
        gdal_visible = src.read(1) > 0
    visible = sweep(DirectRays(heights, grid, grid, (x, y), tx_h, RX), full=False)[0]
    outdoor = heights <= 0
    # GDAL interpolates heights between cells (Wang et al.'s reference planes), the sweep
    # samples them: they disagree on a few cells along shadow edges.
    assert (visible == gdal_visible)[outdoor].mean() >= 0.97
    assert visible[outdoor].mean() == pytest.approx(gdal_visible[outdoor].mean(), abs=0.02)


@pytest.mark.parametrize("k,flip", [(1, False), (2, False), (3, False), (0, True), (1, True)])
def test_a_turned_or_mirrored_map_gets_turned_or_mirrored_values(k, flip):
    """The fan maps onto itself under the square's symmetries (the training augmentation)."""
    grid = _grid(121)
    rng = np.random.default_rng(5)
    heights = np.zeros(grid.shape, np.float32)
    for _ in range(90):
        r, c = rng.integers(0, 121, 2)
        heights[r : r + rng.integers(2, 10), c : c + rng.integers(2, 10)] = rng.uniform(5, 30)
    heights[60, 60] = 0.0

    def move(a):
        a = np.rot90(a, k)
        return a[:, ::-1] if flip else a

    centre = _xy(grid, 60.5, 60.5)  # the antenna on the centre cell: the symmetries keep it
    plain = sweep(DirectRays(heights, grid, grid, centre, 20.0, RX), F_MHZ)
    moved = sweep(DirectRays(move(heights), grid, grid, centre, 20.0, RX), F_MHZ)
    for a, b in zip(moved, plain):
        # Samples falling exactly on a cell edge (along the axes from a cell centre) round to the
        # other cell once mirrored, with the ray walks too: up to ~1 % of the depth values.
        assert (a == move(b)).mean() >= 0.99
