"""BlendedModel: the network inside its window, a calibrated fallback beyond, no seams."""

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pytest
import torch
from affine import Affine
from pyproj import CRS
from shapely.geometry import box

from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.models.base import PathGainModel, SceneInputs
from radiomap_geo.models.baselines import BASELINES
from radiomap_geo.models.blend import BlendedModel
from radiomap_geo.rasterize import rasterize_buildings
from radiomap_geo.sites import Site, Sites

UTM = CRS.from_epsg(32635)


def make_grid(n: int, res: float = 2.0) -> Grid:
    return Grid(UTM, Affine(res, 0.0, 500_000.0, 0.0, -res, 6_700_000.0), (n, n))


class ShiftedModel:
    """A stand-in network: another model plus a constant, NaN beyond its own reach."""

    def __init__(self, base, shift_db: float, reach_m: float):
        self.base, self.shift_db, self.reach_m, self.name = base, shift_db, reach_m, "fake-net"

    def path_gain_db(self, scene, site, target):
        out = self.base.path_gain_db(scene, site, target) + np.float32(self.shift_db)
        x, y = target.cell_centers()
        return np.where(np.hypot(x - site.x, y - site.y) <= self.reach_m, out, np.nan)


def _open_scene(n=100):
    grid = make_grid(n)
    return SceneInputs(grid, np.zeros(grid.shape, np.float32))


def _site(grid, row, col, **kw):
    x, y = grid.xy(row, col)
    return Site(site_id=kw.pop("site_id", "s"), x=float(x), y=float(y), height_m=15.0, **kw)


def _max_step(values: np.ndarray, keep: np.ndarray) -> float:
    """Largest difference between 4-neighbours where both are kept."""
    steps = []
    for a, b, ka, kb in (
        (values[1:], values[:-1], keep[1:], keep[:-1]),
        (values[:, 1:], values[:, :-1], keep[:, 1:], keep[:, :-1]),
    ):
        both = ka & kb
        steps.append(np.abs(a - b)[both].max())
    return float(max(steps))


def test_net_inside_fallback_outside_and_no_seam():
    scene = _open_scene()
    site = _site(scene.grid, 50, 50)
    fallback = replace(BASELINES["3gpp-uma"], reach_m=90.0)
    net = ShiftedModel(fallback, 10.0, reach_m=60.0)
    assert isinstance(net, PathGainModel)
    model = BlendedModel(net, fallback, blend_m=20.0, calibrate=False)
    assert isinstance(model, PathGainModel) and model.name == "fake-net+3gpp-uma"
    assert model.reach_m == 90.0 and model.inner_m == 40.0
    gain, source = model.path_gain_and_source(scene, site, scene.grid)
    x, y = scene.grid.cell_centers()
    d = np.hypot(x - site.x, y - site.y)
    n_db = net.path_gain_db(scene, site, scene.grid)
    f_db = fallback.path_gain_db(scene, site, scene.grid)
    inside, ring, outside = d <= 40.0, (d > 40.0) & (d < 60.0), (d >= 60.0) & (d <= 90.0)
    np.testing.assert_array_equal(gain[inside], n_db[inside])
    np.testing.assert_allclose(gain[outside], f_db[outside], atol=1e-5)
    w = (60.0 - d[ring]) / 20.0
    np.testing.assert_allclose(gain[ring], w * n_db[ring] + (1 - w) * f_db[ring], atol=1e-4)
    assert np.isnan(gain[d > 90.0]).all() and np.isnan(source[d > 90.0]).all()
    assert (source[inside] == 1.0).all() and (source[outside] == 2.0).all()
    assert ((source[ring] > 1.0) & (source[ring] < 2.0)).all()
    np.testing.assert_allclose(source[ring], 2.0 - w, atol=1e-6)
    np.testing.assert_array_equal(model.model_source(scene, site, scene.grid), source)
    # continuity: a hard switch at the reach jumps by the 10 dB mismatch, the blend does not
    band = (d > 25.0) & (d < 85.0)
    hard = np.where(d <= 60.0, n_db, f_db)
    assert _max_step(hard, band) > 9.0
    assert _max_step(gain, band) < 2.5


def test_calibration_removes_the_offset_per_site():
    scene = _open_scene()
    site = _site(scene.grid, 50, 50)
    fallback = replace(BASELINES["3gpp-uma"], reach_m=90.0)
    net = ShiftedModel(fallback, -7.0, reach_m=60.0)
    model = BlendedModel(net, fallback, blend_m=20.0)
    assert model.calibration_offset_db(scene, site) == pytest.approx(-7.0, abs=1e-4)
    gain = model.path_gain_db(scene, site, scene.grid)
    x, y = scene.grid.cell_centers()
    d = np.hypot(x - site.x, y - site.y)
    f_db = fallback.path_gain_db(scene, site, scene.grid)
    reached = d <= 90.0
    np.testing.assert_allclose(gain[reached], f_db[reached] - 7.0, atol=1e-3)  # seamless
    # the offset is clamped and needs enough ring cells
    clamped = BlendedModel(ShiftedModel(fallback, -50.0, 60.0), fallback, blend_m=20.0)
    assert clamped.calibration_offset_db(scene, site) == pytest.approx(-20.0)
    few = BlendedModel(net, fallback, blend_m=20.0, min_ring_cells=10**6)
    assert few.calibration_offset_db(scene, site) == 0.0
    # the same offset from a smaller scene that still holds the site's square (another tile)
    cropped = scene.crop(10, 15, 80, 75)
    assert model.calibration_offset_db(cropped, site) == pytest.approx(
        model.calibration_offset_db(scene, site), abs=1e-6
    )
    with pytest.raises(InputError, match="blend_m"):
        BlendedModel(net, fallback, blend_m=61.0)


def test_tiled_prediction_equals_untiled():
    from radiomap_geo.nets import NetworkModel, build_network
    from radiomap_geo.predict import predict_coverage

    torch.manual_seed(0)
    channels = ["building_height", "tx_height", "distance", "antenna_gain"]
    net = NetworkModel.from_network(
        build_network("unet", len(channels), base=4, depth=2),
        channels,
        metres_per_pixel=2.0,
        frequency_mhz=3500.0,
        reach_m=20.0,
        device="cpu",
    )
    fallback = replace(BASELINES["3gpp-uma"], reach_m=40.0)
    grid = make_grid(112)
    minx, miny, maxx, maxy = grid.bounds
    rng = np.random.default_rng(3)
    blocks = []
    for _ in range(25):
        x0, y0 = rng.uniform(minx, maxx - 20), rng.uniform(miny, maxy - 20)
        blocks.append(box(x0, y0, x0 + rng.uniform(6, 20), y0 + rng.uniform(6, 20)))
    buildings = gpd.GeoDataFrame(
        {"height_m": rng.uniform(6, 30, len(blocks))}, geometry=blocks, crs=grid.crs
    )
    heights = rasterize_buildings(buildings, grid)
    records = []
    for i, (r, c) in enumerate([(20, 25), (60, 70), (95, 40), (50, 100)]):
        while heights[r, c] > 0:
            c += 1
        x, y = grid.xy(r, c)
        records.append({"site_id": f"s{i}", "x": float(x), "y": float(y), "height_m": 12.0})
    sites = Sites.from_records(records, grid.crs)

    def run(tile_size, cache_size):
        model = BlendedModel(net, fallback, blend_m=8.0, cache_size=cache_size)
        return predict_coverage(
            grid, sites, buildings, model=model, per_site=True, tile_size=tile_size
        )

    whole = run(512, 64)
    tiled = run(24, 0)
    cached = run(24, 64)
    halo_cells = (40.0 + net.context_m) / 2.0
    assert 24 + 2 * halo_cells < grid.width  # tiles really see less than the whole scene
    for name in whole.band_names:
        a, b, c = whole[name], tiled[name], cached[name]
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        np.testing.assert_allclose(a, b, atol=1e-4, equal_nan=True, err_msg=name)
        np.testing.assert_allclose(a, c, atol=1e-4, equal_nan=True, err_msg=name)
    # every outdoor cell within the fallback's reach of a site has a value
    x, y = grid.cell_centers()
    near = np.zeros(grid.shape, bool)
    for s in sites:
        near |= np.hypot(x - s.x, y - s.y) <= 39.0
    assert np.isfinite(whole["rsrp_dbm"][near & (heights <= 0)]).all()
