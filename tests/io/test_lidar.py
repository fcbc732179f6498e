"""LiDAR point clouds to rasters and footprints (radiomap_geo.io.lidar)."""

import numpy as np
import pytest
from affine import Affine
from scipy import ndimage

from radiomap_geo.errors import InputError
from radiomap_geo.grid import BBox, Grid, to_crs
from radiomap_geo.io.lidar import (
    LidarPoints,
    building_footprints_from_lidar,
    class_counts,
    lidar_to_rasters,
    read_las_points,
)
from radiomap_geo.rasterize import rasterize_buildings

ZURICH_BOUNDS = (2690000, 1234000, 2690436, 1234200)  # the orthophoto's extent, inside


def _synthetic_points(seed=0):
    """Ground on a 1 % slope at ~400 m, one 12 m box building, one 8 m tree, 4 points/m2."""
    rng = np.random.default_rng(seed)
    n = 100 * 80 * 4
    x = rng.uniform(0, 100, n)
    y = rng.uniform(0, 80, n)
    ground = 400.0 + 0.01 * x
    in_building = (x > 30) & (x < 50) & (y > 20) & (y < 36)
    in_tree = np.hypot(x - 75, y - 60) < 4
    z = ground + rng.normal(0, 0.03, n)
    cls = np.full(n, 2, np.uint8)
    z[in_building] = ground[in_building] + 12.0
    cls[in_building] = 6
    z[in_tree] = ground[in_tree] + 8.0 * rng.uniform(0.6, 1.0, in_tree.sum())
    cls[in_tree] = 5
    noise = rng.random(n) < 0.001
    z[noise] += 300.0
    cls[noise] = 7
    return LidarPoints(x, y, z, cls, to_crs("EPSG:2056"))


def test_synthetic_cloud_gives_heights_mask_and_footprint():
    grid = Grid(to_crs("EPSG:2056"), Affine(2.0, 0, 0, 0, -2.0, 80), (40, 50))
    dsm, dtm, ndsm, mask = lidar_to_rasters(_synthetic_points(), grid)
    truth = np.zeros(grid.shape, bool)
    truth[22:30, 15:25] = True  # rows from the top: y 36..20; columns x 30..50
    assert (mask == truth).mean() > 0.97
    assert np.all(np.abs(ndsm[truth] - 12.0) < 0.3)
    # The DTM under the building is interpolated from the ground around it.
    x, _ = grid.cell_centers()
    assert np.all(np.abs(dtm - (400.0 + 0.01 * x)) < 0.15)
    assert ndsm[~truth].max() < 9.0  # the tree stands in the nDSM; noise does not
    assert ndsm[8:12, 35:40].max() > 6.0  # the tree: x 71..79, y 56..64
    frame = building_footprints_from_lidar(mask, ndsm, grid)
    assert len(frame) == 1 and frame.crs == grid.crs
    assert frame["height_m"].iloc[0] == pytest.approx(12.0, abs=0.3)
    assert frame.geometry.iloc[0].area == pytest.approx(320.0, rel=0.1)


def test_small_and_low_blobs_are_no_buildings():
    grid = Grid(to_crs("EPSG:2056"), Affine(2.0, 0, 0, 0, -2.0, 40), (20, 20))
    mask = np.zeros(grid.shape, bool)
    ndsm = np.zeros(grid.shape, np.float32)
    mask[2:4, 2:4], ndsm[2:4, 2:4] = True, 10.0  # 16 m2: too small
    mask[10:16, 10:16], ndsm[10:16, 10:16] = True, 1.0  # too low
    mask[10:16, 2:6], ndsm[10:16, 2:6] = True, 6.0
    frame = building_footprints_from_lidar(mask, ndsm, grid, min_area_m2=20)
    assert len(frame) == 1 and frame["height_m"].iloc[0] == pytest.approx(6.0)
    empty = building_footprints_from_lidar(np.zeros_like(mask), ndsm, grid)
    assert len(empty) == 0 and "height_m" in empty.columns


@pytest.fixture(scope="module")
def zurich(shared_data):
    laspy = pytest.importorskip("laspy")
    if not laspy.LazBackend.detect_available():
        pytest.skip("no LAZ backend (pip install 'laspy[lazrs]')")
    laz = shared_data / "zurich" / "lidar_lidar.laz"
    ortho = shared_data / "zurich" / "lidar_ref-img.tif"
    if not (laz.exists() and ortho.exists()):
        pytest.skip(f"{laz} or {ortho} not found")
    points = read_las_points(laz, "EPSG:2056")
    grid = Grid.from_bbox(BBox(*ZURICH_BOUNDS, crs="EPSG:2056"), 2.0, crs="EPSG:2056")
    return points, grid, lidar_to_rasters(points, grid), ortho, laz


def test_read_las_points(zurich):
    points, _, _, _, laz = zurich
    assert len(points) == 482_111 and points.crs == to_crs("EPSG:2056")
    assert {2, 6} <= set(np.unique(points.classification).tolist())
    assert 2_690_000 <= points.x.min() and points.x.max() <= 2_690_500
    header = read_las_points(laz, None)  # this file's header carries EPSG:2056
    assert header.crs == to_crs("EPSG:2056")
    part = read_las_points(laz, "EPSG:2056", bounds=(2690000, 1234000, 2690100, 1234100))
    assert 0 < len(part) < len(points) and part.x.max() <= 2690100
    with pytest.raises(InputError):
        read_las_points(laz.with_name("missing.laz"), "EPSG:2056")


def test_zurich_ndsm_and_footprints(zurich):
    _, grid, (dsm, dtm, ndsm, mask), _, _ = zurich
    assert 405.0 < dtm.min() and dtm.max() < 420.0  # Lake Zurich is at 406 m
    assert mask.sum() > 200
    heights = ndsm[mask]
    assert ((heights >= 3) & (heights <= 40)).mean() > 0.8
    frame = building_footprints_from_lidar(mask, ndsm, grid)
    assert frame.crs == grid.crs and len(frame) >= 5
    back = rasterize_buildings(frame, grid) > 0
    iou = (back & mask).sum() / (back | mask).sum()
    assert iou > 0.8
    # Villas and boat houses of a lakeside suburb: a few storeys, the tallest ~13 m.
    assert 3.0 < frame["height_m"].median() < 15.0
    assert 8.0 < frame["height_m"].max() < 25.0


def _edge_alignment(image, ndsm, land, dy, dx):
    """Correlation over land of the image's and the nDSM's gradient magnitudes, the image moved
    by (dy, dx) cells."""
    gray = ndimage.shift(image.mean(axis=0), (dy, dx), order=0, mode="nearest")
    edges_img = np.hypot(ndimage.sobel(gray, 0), ndimage.sobel(gray, 1))
    surface = np.minimum(ndsm, 20.0)
    edges_lidar = np.hypot(ndimage.sobel(surface, 0), ndimage.sobel(surface, 1))
    return float(np.corrcoef(edges_img[land], edges_lidar[land])[0, 1])


def test_zurich_orthophoto_lines_up_with_the_lidar(zurich):
    """A real, fallible check: the ortho's edges match the nDSM's better as read than moved 10 m.

    The best match lies 2-4 m south-east of the georeferencing, not at 0: image edges include cast
    shadows, which fall west-north-west in this image (morning sun), and roofs lean a little.
    """
    from radiomap_geo.io.rasters import read_ortho

    points, grid, (_, dtm, ndsm, _), ortho, _ = zurich
    image = read_ortho(grid, ortho, resampling="average")
    above_lake = class_counts(points, grid, (3, 4, 5, 6, 17)) > 0
    land = ndimage.binary_erosion(ndimage.binary_closing(above_lake | (dtm > 406.3), iterations=2))
    assert 0.1 < land.mean() < 0.6
    aligned = _edge_alignment(image, ndsm, land, 0, 0)
    shifted = [
        _edge_alignment(image, ndsm, land, dy, dx) for dy, dx in ((5, 0), (-5, 0), (0, 5), (0, -5))
    ]
    assert aligned > 0.15
    assert aligned > max(shifted) + 0.05
    scores = {
        (dy, dx): _edge_alignment(image, ndsm, land, dy, dx)
        for dy in range(-4, 5)
        for dx in range(-4, 5)
    }
    best = max(scores, key=scores.get)
    assert max(abs(best[0]), abs(best[1])) <= 2  # within 4 m (shadows and lean move edges a bit)


def test_renderings_match_the_real_zurich_ortho_on_land(zurich):
    """Rendered procedural tiles against the real lakeside orthophoto's land (RGB; no IR)."""
    from radiomap_geo.dataset.ortho import ortho_stats, render_ortho
    from radiomap_geo.dataset.procedural import nominal_origin, procedural_city
    from radiomap_geo.io.rasters import read_ortho

    points, grid, (_, dtm, _, _), ortho, _ = zurich
    standing = class_counts(points, grid, (4, 5, 6, 17)) > 0
    land = ndimage.binary_closing(standing | (dtm > 406.3), iterations=2)
    land = ndimage.binary_opening(land, iterations=2)
    real = ortho_stats(read_ortho(grid, ortho, resampling="average"), land)
    images = []
    for seed in range(4):
        x0, y0 = nominal_origin(seed)
        tile = Grid(to_crs("EPSG:32632"), Affine(2.0, 0, x0, 0, -2.0, y0 + 256), (128, 128))
        images.append(render_ortho(rasterize_buildings(procedural_city(seed), tile), tile, seed))
    mine = ortho_stats(np.concatenate(images, axis=2))
    print(f"\nrendered {mine}\nzurich land {real}")
    for band in range(3):
        assert abs(mine["mean"][band] - real["mean"][band]) < 0.1
        assert abs(mine["std"][band] - real["std"][band]) < 0.06
    assert 0.3 * real["dark_frac"] < mine["dark_frac"] < 3 * real["dark_frac"]
