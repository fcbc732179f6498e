"""Baselines against closed-form values at reference distances."""

import numpy as np
import pytest

from radiomap_geo.models import baselines as b


def test_free_space_at_reference_points():
    # 1 km at 1 GHz: 92.45 dB (20 log10(4 pi d f / c)).
    assert b.free_space_loss(np.array(1000.0), 1000.0) == pytest.approx(92.45, abs=0.01)
    # +6.02 dB per doubling of distance.
    assert b.free_space_loss(np.array(2000.0), 1000.0) - 92.45 == pytest.approx(6.02, abs=0.01)


def test_log_distance_slope():
    near = b.log_distance_loss(np.array(10.0), 3500.0, exponent=3.0)
    far = b.log_distance_loss(np.array(100.0), 3500.0, exponent=3.0)
    assert far - near == pytest.approx(30.0)
    assert b.log_distance_loss(np.array(1.0), 3500.0) == pytest.approx(
        b.free_space_loss(np.array(1.0), 3500.0)
    )


def test_cost231_hata_reference_value():
    # f = 1800 MHz, hb = 30 m, hm = 1.5 m, d = 1 km, metropolitan: 46.3 + 33.9*3.2553
    # - 13.82*1.4771 - a(hm) + 3 with a(hm) = (1.1*3.2553-0.7)*1.5 - (1.56*3.2553-0.8) = 0.0464
    expected = 46.3 + 33.9 * np.log10(1800) - 13.82 * np.log10(30) - 0.0464 + 3.0
    value = b.cost231_hata_loss(np.array(1000.0), 1800.0, 30.0, 1.5)
    assert value == pytest.approx(expected, abs=0.01)
    assert value == pytest.approx(139.2, abs=0.05)
    # Slope per decade: 44.9 - 6.55 log10(30) = 35.22 dB.
    ten = b.cost231_hata_loss(np.array(10_000.0), 1800.0, 30.0, 1.5)
    assert ten - value == pytest.approx(35.22, abs=0.01)


def test_umi_los_reference_values():
    # fc = 3.5 GHz, hBS = 10 m, hUT = 1.5 m: d'BP = 4*9*0.5*3.5e9/c = 210.1 m.
    d3d = np.hypot(100.0, 8.5)
    expected = 32.4 + 21 * np.log10(d3d) + 20 * np.log10(3.5)
    assert b.umi_los_loss(np.array(100.0), 3500.0, 10.0, 1.5) == pytest.approx(expected)
    d3d = np.hypot(500.0, 8.5)
    d_bp = 4 * 9 * 0.5 * 3.5e9 / 299_792_458.0
    expected = 32.4 + 40 * np.log10(d3d) + 20 * np.log10(3.5) - 9.5 * np.log10(d_bp**2 + 8.5**2)
    assert b.umi_los_loss(np.array(500.0), 3500.0, 10.0, 1.5) == pytest.approx(expected)


def test_umi_nlos_reference_value():
    d3d = np.hypot(200.0, 8.5)
    nlos = 35.3 * np.log10(d3d) + 22.4 + 21.3 * np.log10(3.5)
    assert b.umi_nlos_loss(np.array(200.0), 3500.0, 10.0, 1.5) == pytest.approx(nlos)
    assert nlos == pytest.approx(115.2, abs=0.1)


def test_uma_reference_values():
    d3d = np.hypot(300.0, 23.5)
    los = 28.0 + 22 * np.log10(d3d) + 20 * np.log10(3.5)
    assert b.uma_los_loss(np.array(300.0), 3500.0, 25.0, 1.5) == pytest.approx(los)
    nlos = 13.54 + 39.08 * np.log10(d3d) + 20 * np.log10(3.5)
    assert b.uma_nlos_loss(np.array(300.0), 3500.0, 25.0, 1.5) == pytest.approx(nlos)
    assert nlos - los > 20  # NLOS is much weaker at 300 m


def test_nlos_never_beats_los():
    d = np.linspace(10, 3000, 200)
    assert (b.umi_nlos_loss(d, 3500.0, 10.0, 1.5) >= b.umi_los_loss(d, 3500.0, 10.0, 1.5)).all()
    assert (b.uma_nlos_loss(d, 3500.0, 25.0, 1.5) >= b.uma_los_loss(d, 3500.0, 25.0, 1.5)).all()
