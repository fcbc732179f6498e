"""Hampel filters: crafted outliers are caught, clean data is left alone."""

from __future__ import annotations

import numpy as np

from radiomap_geo.measurements import hampel


def test_position_filter_removes_gps_jumps_only():
    rng = np.random.default_rng(0)
    lat = 45.41 + rng.normal(0, 1e-4, 200)
    lon = -75.70 + rng.normal(0, 1e-4, 200)
    lat[[5, 17]] += 0.01  # ~1 km north
    lon[40] -= 0.02
    out = hampel.position_outliers(lat, lon)
    assert set(np.flatnonzero(out)) >= {5, 17, 40}
    assert out.sum() <= 6  # the paper's 4.5 MAD rule: a few per cent of Gaussian data at most


def test_rsrp_filter_flags_spikes_along_walk_not_trends():
    trend = np.linspace(-70, -110, 120).round()  # walking away: a steady fall is no outlier
    values = trend.copy()
    values[[30, 75]] += [25, -20]
    out = hampel.rsrp_outliers(values, np.zeros(120), np.arange(120))
    assert list(np.flatnonzero(out)) == [30, 75]
    assert not hampel.rsrp_outliers(trend, np.zeros(120), np.arange(120)).any()


def test_constant_integer_readings_are_not_outliers():
    values = np.full(20, -90.0)
    values[10] = -93.0  # 3 dB: below the 6 dB floor, MAD of the window is 0
    assert not hampel.windowed_hampel(values).any()
    assert not hampel.global_hampel(values).any()


def test_walks_filtered_separately_in_time_order():
    values = np.array([-80.0, -81, -80, -79, -80, -100, -101, -100, -99, -100])
    groups = np.array([0] * 5 + [1] * 5)
    order = np.array([4, 3, 2, 1, 0, 0, 1, 2, 3, 4])
    assert not hampel.rsrp_outliers(values, groups, order).any()
