"""Orthophoto-like renderings of tiles (radiomap_geo.dataset.ortho)."""

import numpy as np
import pytest
from affine import Affine

from radiomap_geo.dataset.landcover import GRASS, ROOF, STREET, TREE, building_labels
from radiomap_geo.dataset.ortho import (
    augment_ortho,
    cast_shadows,
    ortho_stats,
    render_ndsm,
    render_ortho,
    render_tile,
    with_rendered_inputs,
)
from radiomap_geo.grid import BBox, Grid, to_crs
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.rasterize import feature_stack, rasterize_buildings
from radiomap_geo.sites import Site


def _grid(rows=64, cols=64, res=2.0):
    return Grid(to_crs("EPSG:32632"), Affine(res, 0, 300_000, 0, -res, 5_000_000), (rows, cols))


def _city_tiles(n=4):
    """Building heights of a few 256 m procedural tiles at 2 m."""
    from radiomap_geo.dataset.procedural import nominal_origin, procedural_city

    tiles = []
    for seed in range(n):
        x0, y0 = nominal_origin(seed)
        grid = Grid(to_crs("EPSG:32632"), Affine(2.0, 0, x0, 0, -2.0, y0 + 256), (128, 128))
        tiles.append((rasterize_buildings(procedural_city(seed), grid), grid))
    return tiles


@pytest.fixture(scope="module")
def city_tiles():
    return _city_tiles()


def test_rendering_is_deterministic_and_in_range(city_tiles):
    heights, grid = city_tiles[0]
    a = render_ortho(heights, grid, seed=5)
    b = render_ortho(heights, grid, seed=5)
    c = render_ortho(heights, grid, seed=6)
    assert a.shape == (4, 128, 128) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 0.02
    assert a.min() >= 0.0 and a.max() <= 1.0
    rgb = render_ortho(heights, grid, seed=5, bands=3)
    assert rgb.shape == (3, 128, 128)
    np.testing.assert_array_equal(rgb, a[:3])


def test_roofs_differ_from_streets_and_vegetation_is_bright_in_nir(city_tiles):
    differs, total = 0, 0
    ndvi = {ROOF: [], STREET: [], GRASS: [], TREE: []}
    nir = {k: [] for k in ndvi}
    for seed, (heights, grid) in enumerate(city_tiles):
        r = render_tile(heights, grid, seed)
        lit = r.shadow < 0.1
        street = (r.landcover == STREET) & lit
        assert street.sum() > 50, "every procedural tile should get streets"
        street_colour = r.image[:, street].mean(axis=1)
        labels = building_labels(heights)
        for label in range(1, labels.max() + 1):
            cells = (labels == label) & lit
            if cells.sum() >= 6:
                total += 1
                roof_colour = r.image[:, cells].mean(axis=1)
                differs += np.abs(roof_colour - street_colour).sum() > 0.08
        red, near = r.image[0], r.image[3]
        index = (near - red) / (near + red + 1e-6)
        for code in ndvi:
            cells = (r.landcover == code) & lit
            ndvi[code].append(index[cells])
            nir[code].append(near[cells])
    assert total > 20 and differs / total > 0.7
    ndvi = {k: float(np.mean(np.concatenate(v))) for k, v in ndvi.items()}
    nir = {k: float(np.mean(np.concatenate(v))) for k, v in nir.items()}
    assert ndvi[GRASS] > 0.15 and ndvi[TREE] > 0.15
    assert ndvi[ROOF] < 0.05 and ndvi[STREET] < 0.05
    assert min(nir[GRASS], nir[TREE]) > max(nir[ROOF], nir[STREET]) + 0.1


def _tower_scene():
    grid = _grid()
    heights = np.zeros(grid.shape, np.float32)
    heights[28:36, 28:36] = 30.0  # 16 m x 16 m, 30 m tall, in the middle
    return heights, grid


def test_cast_shadows_fall_away_from_the_sun():
    heights, grid = _tower_scene()
    # Sun in the south: the shadow lies north (smaller rows); 30 m / tan(40 deg) = 36 m = 18 cells.
    north = cast_shadows(heights, grid.resolution, 180.0, 40.0)
    assert north[10:28, 28:36].mean() > 0.9
    assert not north[36:, :].any() and not north[heights > 0].any()
    assert north[:8, 28:36].sum() == 0  # ends after about 18 cells
    # Sun in the east: the shadow lies west.
    west = cast_shadows(heights, grid.resolution, 90.0, 40.0)
    assert west[28:36, 10:28].mean() > 0.9 and not west[:, 36:].any()


def test_rendered_shadow_darkens_the_anti_solar_side():
    heights, grid = _tower_scene()
    south_sun = render_tile(heights, grid, 3, sun_azimuth_deg=180.0, sun_elevation_deg=40.0)
    north_sun = render_tile(heights, grid, 3, sun_azimuth_deg=0.0, sun_elevation_deg=40.0)
    assert np.array_equal(south_sun.landcover, north_sun.landcover)  # the sun changes no layout

    def lum(image, rows):
        return float(image[:3, rows, 28:36].mean())

    north_strip, south_strip = slice(14, 26), slice(38, 50)
    assert lum(south_sun.image, north_strip) < lum(north_sun.image, north_strip) - 0.08
    assert lum(north_sun.image, south_strip) < lum(south_sun.image, south_strip) - 0.08


def test_render_ndsm_raises_trees_only():
    heights = np.zeros((32, 32), np.float32)
    heights[2:8, 2:8] = 12.0
    trees = np.zeros_like(heights, bool)
    trees[15:22, 15:22] = True
    trees[4:6, 4:6] = True  # on a roof: ignored
    ndsm = render_ndsm(heights, trees, np.random.default_rng(0), resolution_m=2.0)
    assert np.array_equal(ndsm[heights > 0], heights[heights > 0])
    assert (ndsm[15:22, 15:22] >= 0.55 * 5.0).all() and ndsm[15:22, 15:22].max() <= 20.0
    assert ndsm[18, 18] == ndsm[15:22, 15:22].max()  # dome: highest in the middle
    assert (ndsm[~trees & (heights == 0)] == 0).all()


def test_render_tile_ndsm_matches_its_trees(city_tiles):
    heights, grid = city_tiles[1]
    r = render_tile(heights, grid, 11)
    trees = r.landcover == TREE
    assert trees.any()
    assert (r.ndsm[trees] > 2.0).all()
    np.testing.assert_array_equal(r.ndsm[~trees], heights[~trees])
    # Rendering against that nDSM puts the trees back where it has them.
    again = render_tile(heights, grid, 11, ndsm=r.ndsm)
    np.testing.assert_array_equal(again.landcover == TREE, trees)


def test_augment_ortho_keeps_range_and_varies(city_tiles):
    heights, grid = city_tiles[2]
    image = render_ortho(heights, grid, 1)
    a = augment_ortho(image, np.random.default_rng(0))
    b = augment_ortho(image, np.random.default_rng(0))
    assert a.shape == image.shape and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    outs = [augment_ortho(image, np.random.default_rng(s)) for s in range(6)]
    assert np.std([o.mean() for o in outs]) > 0.01
    assert np.array_equal(augment_ortho(image, np.random.default_rng(0), strength=0), image)


def test_scene_with_rendered_inputs_feeds_the_ortho_channels(city_tiles):
    heights, grid = city_tiles[3]
    scene = with_rendered_inputs(SceneInputs(grid=grid, building_height=heights), seed=2)
    assert scene.ortho.shape == (4, *grid.shape) and scene.ndsm.shape == grid.shape
    x, y = grid.xy(64, 64)
    site = Site("s", float(x), float(y), 20.0)
    stack = feature_stack(scene, site, ["ortho_r", "ortho_g", "ortho_b", "ortho_ir", "ndsm"])
    assert stack.shape == (5, *grid.shape) and np.isfinite(stack).all()


def test_rendering_statistics_are_in_the_range_of_real_swissimage(shared_file, city_tiles):
    """Rendered tiles against a real SWISSIMAGE orthophoto at 2 m (RGB only: it has no IR).

    The urban Altstetten image (no LiDAR, not the evaluation area) is the reference the palette
    was set against; tests/io/test_lidar.py compares with the land of the lakeside LiDAR area.
    """
    from radiomap_geo.io.rasters import read_ortho

    urban = shared_file("zurich/big_img_1091-322_00.tif")
    rendered = np.concatenate(
        [render_ortho(h, g, seed)[:3] for seed, (h, g) in enumerate(city_tiles)], axis=2
    )
    mine = ortho_stats(rendered)
    grid = Grid.from_bbox(
        BBox(2679064, 1247702, 2679498, 1247998, crs="EPSG:2056"), 2.0, crs="EPSG:2056"
    )
    real = ortho_stats(read_ortho(grid, urban, resampling="average"))
    print(f"\nrendered {mine}\nurban real {real}")
    for band in range(3):
        assert abs(mine["mean"][band] - real["mean"][band]) < 0.1
        assert abs(mine["std"][band] - real["std"][band]) < 0.06
    assert 0.3 * real["dark_frac"] < mine["dark_frac"] < 3 * real["dark_frac"]
    assert 0.5 * real["detail"] < mine["detail"] < 2 * real["detail"]
