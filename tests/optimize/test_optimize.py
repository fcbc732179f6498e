"""optimize_sites on a crafted scene, its domains, and every bad input of the contract."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from radiomap_geo.errors import InputError
from radiomap_geo.optimize import Limits, OptimizeOptions, optimize_sites
from radiomap_geo.optimize.domain import bounds, roof_clearance_tilt
from radiomap_geo.optimize.scenario import away_azimuth, buildings_from_heights
from radiomap_geo.rasterize import rasterize_buildings
from tests.optimize.conftest import rooftop_site


def _street_polygon(grid):
    minx, _, maxx, maxy = grid.bounds
    # rows 30..35 of a 2 m grid: 60..72 m below the top edge
    return gpd.GeoDataFrame(geometry=[box(minx, maxy - 72, maxx, maxy - 60)], crs=grid.crs)


def test_antenna_turns_towards_the_street(street_grid, street_heights):
    """The sector starts pointing south, away from the street to its north, and turns to it."""
    sites = rooftop_site(street_grid, azimuth_deg=180.0)
    options = OptimizeOptions(
        objective="percentile",
        percentile=50.0,
        params=("azimuth",),
        method="gradient",
        budget=12,
        learning_rate=0.1,
        limits=Limits(azimuth_span_deg=180.0),
    )
    result = optimize_sites(street_grid, sites, heights=street_heights, options=options)
    search = result.searches["gradient"]
    azimuth = result.optimised["gradient"][0].azimuth_deg
    off_north = abs((azimuth + 180.0) % 360.0 - 180.0)
    assert off_north < 90.0, f"ended at {azimuth} degrees"
    assert search.best_value > search.start_value + 3.0  # dBm on the street's median
    assert len(search.curve) == 12 and search.evaluations == 12
    assert int(result.cells.sum()) == 6 * 96  # only the street is outdoor


def test_random_search_gets_the_same_budget(street_grid, street_heights):
    sites = rooftop_site(street_grid, azimuth_deg=180.0)
    options = OptimizeOptions(objective="sinr-coverage", method="both", budget=3, seed=1)
    result = optimize_sites(street_grid, sites, heights=street_heights, options=options)
    report = result.report()
    evaluations = {m: v["network_evaluations"] for m, v in report["methods"].items()}
    assert evaluations == {"gradient": 3, "random": 3}
    for method in ("gradient", "random"):
        curve = report["methods"][method]["curve"]
        assert curve[0]["objective"] == report["methods"][method]["objective_start"]
        assert report["methods"][method]["objective_best"] == max(p["objective"] for p in curve)
        site = result.optimised[method][0]
        assert 120.0 <= site.azimuth_deg <= 240.0 and 0.0 <= site.tilt_deg <= 12.0


def test_target_area_restricts_the_cells(street_grid, street_heights):
    sites = rooftop_site(street_grid, azimuth_deg=0.0)
    minx, _, _, maxy = street_grid.bounds
    west = gpd.GeoDataFrame(
        geometry=[box(minx, maxy - 72, minx + 40, maxy - 60)], crs=street_grid.crs
    )
    options = OptimizeOptions(method="random", budget=1)
    result = optimize_sites(
        street_grid, sites, heights=street_heights, options=options, target_area=west
    )
    assert int(result.cells.sum()) == 6 * 20


def test_roof_rule_caps_the_tilt(street_grid, street_heights):
    site = rooftop_site(street_grid, azimuth_deg=0.0)[0]
    # 3 m above the roof, the roof ends 16 m north at the street: atan(3 / 16) = 10.6 degrees
    cap = roof_clearance_tilt(street_heights, street_grid, site, [0.0])
    assert cap == pytest.approx(np.degrees(np.arctan2(3.0, 17.0)), abs=1.0)
    _, low, high = bounds([site], street_heights, street_grid, Limits(azimuth_span_deg=10))
    assert low[0, 1] == 0.0
    assert 0.9 * cap < high[0, 1] <= cap + 1e-9  # the worst azimuth of +-10 degrees


def test_start_outside_the_domain_is_moved_with_a_warning(street_grid, street_heights, caplog):
    site = rooftop_site(street_grid, azimuth_deg=0.0)[0]
    from dataclasses import replace

    steep = replace(site, tilt_deg=40.0)
    with caplog.at_level(logging.WARNING):
        start, _, high = bounds([steep], street_heights, street_grid, Limits())
    assert start[0, 1] == high[0, 1] < 40.0
    assert "tilt_deg 40.00 is outside its domain" in caplog.text


def test_reference_orientation_points_away_from_the_building(street_grid):
    heights = np.zeros(street_grid.shape, np.float32)
    heights[40:60, 40:60] = 12.0  # a square building; mast at its east edge
    x, y = (float(v) for v in street_grid.xy(50, 59))
    assert away_azimuth(heights, street_grid, x, y) == pytest.approx(90.0, abs=5.0)


def test_buildings_from_heights_round_trip(street_heights, street_grid):
    heights = street_heights.copy()
    heights[60:70, 10:20] = 22.5
    frame = buildings_from_heights(heights, street_grid)
    np.testing.assert_allclose(rasterize_buildings(frame, street_grid), heights)


# -- bad inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "parameter", "words"),
    [
        (OptimizeOptions(objective="coverage"), "objective", "unknown objective 'coverage'"),
        (OptimizeOptions(budget=0), "budget", "budget 0"),
        (OptimizeOptions(method="annealing"), "method", "unknown method"),
        (OptimizeOptions(params=("azimuth", "height")), "params", "choose from"),
        (OptimizeOptions(limits=Limits(tilt_min_deg=10, tilt_max_deg=5)), "tilt_max_deg", "tilt"),
    ],
)
def test_bad_options(street_grid, street_heights, options, parameter, words):
    with pytest.raises(InputError, match=words) as info:
        optimize_sites(
            street_grid, rooftop_site(street_grid, 0.0), heights=street_heights, options=options
        )
    assert info.value.parameter == parameter


def test_isotropic_site_with_azimuth_optimised(street_grid, street_heights):
    sites = rooftop_site(street_grid, 0.0, antenna="iso")
    with pytest.raises(InputError, match=r"\['s1'\] have no directional antenna") as info:
        optimize_sites(street_grid, sites, heights=street_heights)
    assert info.value.parameter == "params"
    # tilt alone is fine for an isotropic antenna only if fixed: fixing it leaves nothing
    with pytest.raises(InputError, match="every site is fixed"):
        optimize_sites(
            street_grid, sites, heights=street_heights, options=OptimizeOptions(fixed=("s1",))
        )


def test_empty_target_area(street_grid, street_heights):
    minx, miny, _, _ = street_grid.bounds
    far = gpd.GeoDataFrame(
        geometry=[box(minx - 500, miny - 500, minx - 400, miny - 400)], crs=street_grid.crs
    )
    with pytest.raises(InputError, match="contains no outdoor cell") as info:
        optimize_sites(
            street_grid, rooftop_site(street_grid, 0.0), heights=street_heights, target_area=far
        )
    assert info.value.parameter == "target_area"


def test_baseline_with_gradient_is_refused_but_random_search_runs(street_grid, street_heights):
    sites = rooftop_site(street_grid, 0.0)
    with pytest.raises(InputError, match="no gradient") as info:
        optimize_sites(
            street_grid,
            sites,
            heights=street_heights,
            model="3gpp-uma",
            options=OptimizeOptions(method="gradient"),
        )
    assert info.value.parameter == "method"
    result = optimize_sites(
        street_grid,
        sites,
        heights=street_heights,
        model="3gpp-uma",
        options=OptimizeOptions(method="random", budget=4),
    )
    assert result.searches["random"].best_value >= result.searches["random"].start_value


def test_multi_start_and_power(street_grid, street_heights):
    sites = rooftop_site(street_grid, azimuth_deg=180.0, power_dbm=40.0)
    options = OptimizeOptions(
        objective="rsrp-coverage",
        params=("azimuth", "tilt", "power"),
        method="gradient",
        budget=4,
        starts=2,
        seed=3,
    )
    result = optimize_sites(street_grid, sites, heights=street_heights, options=options)
    curve = result.searches["gradient"].curve
    assert [p["run"] for p in curve] == [0, 0, 1, 1]
    site = result.optimised["gradient"][0]
    assert 30.0 <= site.power_dbm <= 40.0  # never above the given power
    with pytest.raises(InputError, match="starts 5") as info:
        optimize_sites(
            street_grid, sites, heights=street_heights, options=OptimizeOptions(budget=4, starts=5)
        )
    assert info.value.parameter == "starts"
