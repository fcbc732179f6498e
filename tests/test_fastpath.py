import pickle

import numpy as np
import pytest

from radiomap_geo.api import BBox, Grid, load_buildings, read_sites
from radiomap_geo.fastpath import TabulatedEmpirical, accelerated, table_error_db
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.models.baselines import BASELINES
from radiomap_geo.rasterize import rasterize_buildings
from radiomap_geo.sites import Site


@pytest.fixture(scope="module")
def helsinki(sample_pbf, sample_dir):
    grid = Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), resolution=2.0)
    heights = rasterize_buildings(load_buildings(grid, sample_pbf), grid)
    sites = read_sites(sample_dir / "sites.gpkg", crs=grid.crs)
    return SceneInputs(grid, heights), sites


@pytest.mark.parametrize("name", ["3gpp-uma", "3gpp-umi", "free-space", "cost231-hata"])
def test_tabulated_model_gives_the_formulas_values(helsinki, name):
    scene, sites = helsinki
    model = BASELINES[name]
    fast = TabulatedEmpirical(model)
    target = scene.grid.window(30, 40, 300, 250)
    for site in [*sites, Site("sector", sites[0].x, sites[0].y, 25.0, antenna="tr38901",
                              azimuth_deg=200.0, tilt_deg=8.0)]:  # fmt: skip
        exact = model.path_gain_db(scene, site, target)
        quick = fast.path_gain_db(scene, site, target)
        np.testing.assert_array_equal(np.isnan(exact), np.isnan(quick))
        assert np.nanmax(np.abs(exact - quick)) <= 0.05
        assert table_error_db(model, site) <= 0.05


def test_reach_cuts_at_the_same_cells(helsinki):
    scene, sites = helsinki
    model = BASELINES["3gpp-uma"].__class__(**{**BASELINES["3gpp-uma"].__dict__, "reach_m": 150.0})
    exact = model.path_gain_db(scene, sites[0], scene.grid)
    quick = TabulatedEmpirical(model).path_gain_db(scene, sites[0], scene.grid)
    np.testing.assert_array_equal(np.isnan(exact), np.isnan(quick))
    assert 0 < np.isfinite(quick).mean() < 0.5


def test_accelerated_swaps_only_the_empirical_part():
    uma = BASELINES["3gpp-uma"]
    fast = accelerated(uma)
    assert isinstance(fast, TabulatedEmpirical) and fast.name == uma.name
    assert fast.reach_m == uma.reach_m and fast.description == uma.description
    assert pickle.loads(pickle.dumps(fast)) == fast  # Dask ships it to process workers

    class Blend:
        fallback = uma

    blend = Blend()
    assert accelerated(blend) is blend and isinstance(blend.fallback, TabulatedEmpirical)
    other = object()
    assert accelerated(other) is other


def test_windowed_blend_gives_the_blends_values_and_sources(helsinki):
    import copy

    from radiomap_geo.fastpath import WindowedBlend
    from radiomap_geo.models.registry import get_model

    scene, sites = helsinki
    blend = get_model(None)  # the default network with its calibrated fallback
    fast = accelerated(copy.copy(blend))
    assert isinstance(fast, WindowedBlend) and accelerated(fast) is fast
    assert fast.name == blend.name and fast.context_m == blend.context_m
    for target in (scene.grid, scene.grid.window(10, 200, 120, 180)):
        for site in sites:
            exact, exact_source = blend.path_gain_and_source(scene, site, target)
            quick, quick_source = fast.path_gain_and_source(scene, site, target)
            np.testing.assert_array_equal(np.isnan(exact), np.isnan(quick))
            assert np.nanmax(np.abs(exact - quick)) <= 0.05
            np.testing.assert_array_equal(exact_source, quick_source)
