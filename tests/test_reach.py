import math

import numpy as np
import pytest

from radiomap_geo.api import BBox, Grid, load_buildings
from radiomap_geo.coverage import CoverageAccumulator, noise_power_dbm
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.models.registry import get_model
from radiomap_geo.rasterize import rasterize_buildings
from radiomap_geo.reach import (
    can_skip,
    nearest_first,
    received_upper_bound_dbm,
    tile_distance_m,
    weakest_best_dbm,
)
from radiomap_geo.sites import Site, Sites


def test_bound_is_never_below_what_the_model_gives(sample_pbf):
    grid = Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), resolution=2.0)
    scene = SceneInputs(grid, rasterize_buildings(load_buildings(grid, sample_pbf), grid))
    x, y = grid.xy(200, 200)
    for name in ("3gpp-uma", "3gpp-umi", "free-space"):
        model = get_model(name)
        for site in (Site("a", x, y, 25.0, antenna="tr38901", azimuth_deg=40.0),
                     Site("b", x, y, 6.0, power_dbm=10.0)):  # fmt: skip
            rx = site.power_dbm + model.path_gain_db(scene, site, grid)
            cx, cy = grid.cell_centers()
            d = np.hypot(cx - site.x, cy - site.y)
            for ring in (50.0, 200.0, 400.0):
                bound = received_upper_bound_dbm(model, site, ring)
                assert np.nanmax(rx[d >= ring]) <= bound + 1e-3


def test_skipping_never_changes_best_server_or_rsrp(sample_pbf):
    """Two 43 dBm macro sites and six -20 dBm beacons: beacons far from a tile are skipped."""
    grid = Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), resolution=2.0)
    scene = SceneInputs(grid, rasterize_buildings(load_buildings(grid, sample_pbf), grid))
    outdoor = ~scene.building_mask
    spots = [(60, 60), (340, 330), (30, 380), (380, 20), (200, 200), (100, 300), (300, 120),
             (20, 200)]  # fmt: skip
    items = []
    for n, (row, col) in enumerate(spots):
        row, col = next((r, c) for r in range(row, 403) for c in [col] if outdoor[r, c])
        x, y = grid.xy(row, col)
        macro = n < 2
        items.append(Site(f"s{n}", x, y, 25.0 if macro else 4.0,
                          power_dbm=43.0 if macro else -20.0))  # fmt: skip
    sites = Sites(items, grid.crs)
    model = get_model("3gpp-uma")
    gains = [model.path_gain_db(scene, site, grid) for site in sites]
    noise = noise_power_dbm(20.0, 7.0)
    skipped = 0
    full = CoverageAccumulator(grid.shape, noise, 0.0)
    for i, site in enumerate(sites):
        full.add(i, site.site_id, site.power_dbm, gains[i])
    pruned_bands = {}
    for tile in grid.tiles(64):
        core = grid.window(*tile.core)
        r, c, h, w = tile.core
        acc = CoverageAccumulator(core.shape, noise, 0.0)
        for i in nearest_first(sites, range(len(sites)), core):
            bound = received_upper_bound_dbm(model, sites[i], tile_distance_m(sites[i], core))
            if can_skip(bound, noise, weakest_best_dbm(acc.best_mw, outdoor[r : r + h, c : c + w])):
                skipped += 1
                continue
            acc.add(i, sites[i].site_id, sites[i].power_dbm, gains[i][r : r + h, c : c + w])
        for name, values in acc.bands(invalid=~outdoor[r : r + h, c : c + w]).items():
            pruned_bands.setdefault(name, np.full(grid.shape, np.nan, np.float32))
            pruned_bands[name][r : r + h, c : c + w] = values
    assert skipped > 20  # the test exercises skipping
    reference = full.bands(invalid=~outdoor)
    # The best server is the same site, or one delivering exactly as much (a tie of two
    # identical sites at the same distance, broken by the order the sites were added).
    differ = np.argwhere(pruned_bands["best_server"] != reference["best_server"])
    for row, col in differ:
        if np.isnan(reference["best_server"][row, col]):
            assert np.isnan(pruned_bands["best_server"][row, col])
            continue
        a, b = (
            int(band[row, col]) - 1
            for band in (pruned_bands["best_server"], reference["best_server"])
        )
        assert sites[a].power_dbm + gains[a][row, col] == sites[b].power_dbm + gains[b][row, col]
    assert np.nanmax(np.abs(pruned_bands["rsrp_dbm"] - reference["rsrp_dbm"])) <= 0.1
    assert np.nanmax(np.abs(pruned_bands["sinr_db"] - reference["sinr_db"])) <= 0.1


def test_skip_rule():
    assert can_skip(-130.0, -94.0, -100.0)
    assert not can_skip(-120.0, -94.0, -100.0)  # only 26 dB below the noise
    assert not can_skip(-130.0, -94.0, -140.0)  # could be the best server somewhere
    assert weakest_best_dbm(np.array([1e-10, 1e-12])) == pytest.approx(-120.0)
    assert weakest_best_dbm(np.array([1e-10, 0.0])) == -math.inf


def test_skip_site_looks_at_the_tile_only_when_the_bound_is_low(sample_pbf):
    from radiomap_geo.reach import skip_site

    grid = Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), resolution=2.0)
    core = grid.window(0, 0, 64, 64)
    x, y = grid.xy(390, 390)  # ~700 m from the tile
    model = get_model("3gpp-uma")
    beacon = Site("beacon", x, y, 4.0, power_dbm=-20.0)
    macro = Site("macro", x, y, 25.0, power_dbm=43.0)
    strong = np.full(core.shape, 1e-9)  # -90 dBm everywhere
    assert skip_site(model, beacon, core, -94.0, strong, 1.5)
    assert not skip_site(model, macro, core, -94.0, strong, 1.5)
    assert not skip_site(model, beacon, core, -94.0, np.where(strong > 0, 0.0, 0.0), 1.5)
