"""NetworkModel behind the PathGainModel contract, through the prediction engine."""

import geopandas as gpd
import numpy as np
import pytest
import torch
from shapely.geometry import box

from radiomap_geo.errors import InputError
from radiomap_geo.models.base import PathGainModel
from radiomap_geo.nets import NetworkModel, build_network, make_metadata, save_weights
from radiomap_geo.nets.model import window_scene
from radiomap_geo.predict import predict_coverage
from radiomap_geo.rasterize import antenna_gain_map, rasterize_buildings
from radiomap_geo.sites import Sites

CHANNELS = ["building_height", "tx", "distance", "antenna_gain"]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = build_network("unet", len(CHANNELS), base=4, depth=2)
    return NetworkModel.from_network(
        net, CHANNELS, metres_per_pixel=2.0, frequency_mhz=3500.0, reach_m=30.0, device="cpu"
    )


def test_plugs_into_the_engine_with_nan_beyond_reach(model, geo):
    assert isinstance(model, PathGainModel)
    grid = geo.make_grid(48, 48, 2.0)
    minx, miny, maxx, maxy = grid.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    buildings = gpd.GeoDataFrame(
        {"height_m": [20.0]}, geometry=[box(cx + 6, cy - 10, cx + 16, cy + 10)], crs=grid.crs
    )
    sites = Sites.from_records(
        [{"site_id": "a", "x": cx + 1, "y": cy + 1, "height_m": 15}], grid.crs
    )
    result = predict_coverage(grid, sites, buildings, model=model, per_site=True, tile_size=24)
    gain = result["path_gain_db:a"]
    x, y = grid.cell_centers()
    dist = np.hypot(x - (cx + 1), y - (cy + 1))
    indoor = rasterize_buildings(buildings, grid) > 0
    assert indoor.sum() > 20
    assert np.isfinite(gain[(dist <= 28.0) & ~indoor]).all()
    assert np.isfinite(result["rsrp_dbm"][(dist <= 28.0) & ~indoor]).all()
    assert np.isnan(gain[dist > 30.0]).all()
    assert np.isnan(result["rsrp_dbm"][dist > 30.0]).all()
    assert np.isnan(result["rsrp_dbm"][indoor]).all()  # buildings are nodata


def test_direct_call_matches_window_prediction(model, geo):
    grid = geo.make_grid(40, 40, 2.0)
    scene = geo.random_scene(grid)
    site = geo.site_at_cell(grid, 20, 20)
    target = grid.window(4, 6, 30, 30)
    out = model.path_gain_db(scene, site, target)
    assert out.shape == (30, 30) and out.dtype == np.float32
    half, size = model.window_cells()
    full = model.predict_window(window_scene(scene, 20 - half, 20 - half, size, size), site)
    # Cell (10, 10) of the target is scene cell (14, 16): window cell (14-5, 16-5).
    assert out[10, 10] == pytest.approx(full[14 - 20 + half, 16 - 20 + half])


def test_resolution_is_checked_or_resampled(model, geo):
    grid = geo.make_grid(30, 30, 3.0)  # trained on 2 m cells
    scene = geo.random_scene(grid)
    site = geo.site_at_cell(grid, 15, 15)
    with pytest.raises(InputError, match="trained on 2 m cells"):
        model.path_gain_db(scene, site, grid)
    resampling = NetworkModel(model.net, model.metadata, resolution_mode="resample", device="cpu")
    out = resampling.path_gain_db(scene, site, grid)
    x, y = grid.cell_centers()
    dist = np.hypot(x - site.x, y - site.y)
    assert np.isfinite(out[dist <= 27]).all() and np.isnan(out[dist > 30]).all()
    with pytest.raises(InputError, match="up to a factor 2"):
        resampling.path_gain_db(
            geo.random_scene(geo.make_grid(10, 10, 5.0)),
            geo.site_at_cell(geo.make_grid(10, 10, 5.0), 5, 5),
            geo.make_grid(10, 10, 5.0),
        )
    # Within 1 % the trained resolution is used as is.
    ok = geo.make_grid(30, 30, 2.01)
    assert np.isfinite(
        model.path_gain_db(geo.random_scene(ok), geo.site_at_cell(ok, 15, 15), ok)
    ).any()


def test_frequency_correction_and_refusals(model, geo):
    grid = geo.make_grid(32, 32, 2.0)
    scene = geo.random_scene(grid)
    base = geo.site_at_cell(grid, 16, 16, frequency_mhz=3500.0)
    from dataclasses import replace

    at_7g = model.path_gain_db(scene, replace(base, frequency_mhz=7000.0), grid)
    at_3g5 = model.path_gain_db(scene, base, grid)
    reached = np.isfinite(at_3g5)
    assert reached.sum() > 500 and np.array_equal(reached, np.isfinite(at_7g))
    np.testing.assert_allclose((at_7g - at_3g5)[reached], -20 * np.log10(2.0), atol=1e-4)
    with pytest.raises(InputError, match="outside what it can predict") as refused:
        model.path_gain_db(scene, replace(base, frequency_mhz=28000.0), grid)
    message = str(refused.value)  # which site, what range, what to do
    assert f"site {base.site_id!r}" in message and "from 1750 to 7000 MHz" in message
    assert "3gpp-uma" in message and refused.value.parameter == "sites"
    strict = NetworkModel(model.net, model.metadata, frequency_mode="strict", device="cpu")
    with pytest.raises(InputError, match="strict"):
        strict.path_gain_db(scene, replace(base, frequency_mhz=3700.0), grid)
    tall = type(scene)(grid=grid, building_height=scene.building_height, rx_height_m=10.0)
    with pytest.raises(InputError, match="receivers 1.5 m"):
        model.path_gain_db(tall, base, grid)


def test_from_weights_and_reach_override(model, tmp_path, geo):
    meta = make_metadata(
        model.net, CHANNELS, metres_per_pixel=2.0, frequency_mhz=3500.0, reach_m=30.0
    )
    path = save_weights(model.net, meta, tmp_path, "tiny")
    loaded = NetworkModel.from_weights(path, device="cpu", reach_m=20.0)
    assert loaded.name == f"net:unet-{path.stem.rsplit('-', 1)[1]}"
    assert loaded.reach_m == 20.0
    grid = geo.make_grid(32, 32, 2.0)
    site = geo.site_at_cell(grid, 16, 16)
    out = loaded.path_gain_db(geo.random_scene(grid), site, grid)
    x, y = grid.cell_centers()
    assert np.isnan(out[np.hypot(x - site.x, y - site.y) > 20.0]).all()
    with pytest.raises(InputError, match="trained for up to 30 m"):
        NetworkModel.from_weights(path, reach_m=100.0)


def test_antenna_pattern_is_added_only_for_isotropic_training(model, geo):
    grid = geo.make_grid(32, 32, 2.0)
    scene = geo.random_scene(grid)
    site = geo.site_at_cell(grid, 16, 16, antenna="tr38901", azimuth_deg=90.0)
    meta = dict(model.metadata, antenna_pattern="add_direct_ray")
    added = NetworkModel(model.net, meta, device="cpu").path_gain_db(scene, site, grid)
    learned = model.path_gain_db(scene, site, grid)
    reached = np.isfinite(learned)
    assert reached.sum() > 500
    np.testing.assert_allclose(
        (added - learned)[reached], antenna_gain_map(grid, site, 1.5)[reached], atol=1e-4
    )
