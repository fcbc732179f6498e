"""The differentiable antenna gain against the numpy pattern and against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radiomap_geo.antenna import get_pattern, read_msi
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.optimize.gain import TorchPattern, bearing_and_depression, relative_angles
from radiomap_geo.rasterize import antenna_gain_map, feature_stack, site_offsets
from radiomap_geo.sites import Site


@pytest.fixture
def msi_file(tmp_path):
    """An asymmetric MSI pattern: narrower to the right, electrical down-tilt 4 degrees."""
    angles = np.arange(360)
    wrapped = (angles + 180) % 360 - 180
    horizontal = np.minimum(
        np.where(wrapped > 0, 12 * (wrapped / 50.0) ** 2, 12 * (wrapped / 80.0) ** 2), 25
    )
    vertical = np.minimum(12 * ((wrapped - 4) / 10.0) ** 2, 20)
    lines = ["NAME test-panel", "GAIN 15.5 dBi", "HORIZONTAL 360"]
    lines += [f"{a} {v:.2f}" for a, v in zip(angles, horizontal)]
    lines += ["VERTICAL 360"] + [f"{a} {v:.2f}" for a, v in zip(angles, vertical)]
    path = tmp_path / "panel.msi"
    path.write_text("\n".join(lines) + "\n")
    return path


def _maps(grid, site, rx_height=1.5):
    bearing, depression, below = bearing_and_depression(*site_offsets(grid, site, rx_height))
    return bearing, depression, below


@pytest.mark.parametrize("antenna", ["tr38901", "msi"])
def test_torch_gain_equals_numpy_pattern(street_grid, antenna, msi_file):
    spec = str(msi_file) if antenna == "msi" else antenna
    site = Site(
        "s",
        *(float(v) for v in street_grid.xy(40, 50)),
        20.0,
        antenna=spec,
        azimuth_deg=37.5,
        tilt_deg=6.3,
    )
    expected = antenna_gain_map(street_grid, site, 1.5)
    bearing, depression, below = _maps(street_grid, site)
    h, v = relative_angles(bearing, depression, below, torch.tensor(37.5), torch.tensor(6.3))
    got = TorchPattern(get_pattern(spec)).gain_dbi(h, v).numpy()
    assert expected.std() > 3  # the pattern really varies over the map
    np.testing.assert_allclose(got, expected, atol=2e-3)


@pytest.mark.parametrize("antenna", ["tr38901", "msi"])
def test_gain_gradient_matches_finite_differences(street_grid, antenna, msi_file):
    spec = str(msi_file) if antenna == "msi" else antenna
    pattern = TorchPattern(get_pattern(spec))
    site = Site("s", *(float(v) for v in street_grid.xy(40, 50)), 20.0, antenna=spec)
    bearing, depression, below = _maps(street_grid, site)
    weights = torch.rand(bearing.shape, generator=torch.Generator().manual_seed(0))

    def score(az: torch.Tensor, tilt: torch.Tensor) -> torch.Tensor:
        h, v = relative_angles(bearing.double(), depression.double(), below, az, tilt)
        return (weights.double() * pattern.gain_dbi(h, v)).sum()

    for az0, tilt0 in ((37.3, 5.2), (181.7, 2.4), (300.1, 9.6)):
        az = torch.tensor(az0, dtype=torch.float64, requires_grad=True)
        tilt = torch.tensor(tilt0, dtype=torch.float64, requires_grad=True)
        score(az, tilt).backward()
        eps = 1e-3  # the cuts are linear between whole degrees: central differences are exact
        with torch.no_grad():
            d_az = (score(az + eps, tilt) - score(az - eps, tilt)) / (2 * eps)
            d_tilt = (score(az, tilt + eps) - score(az, tilt - eps)) / (2 * eps)
        assert abs(float(az.grad)) > 1.0 and abs(float(tilt.grad)) > 1.0
        assert float(az.grad) == pytest.approx(float(d_az), rel=2e-2)
        assert float(tilt.grad) == pytest.approx(float(d_tilt), rel=2e-2)


def test_read_msi_fixture_is_what_the_pattern_reads(msi_file):
    pattern = read_msi(msi_file)
    assert pattern.max_gain_dbi == 15.5
    assert pattern.horizontal_db[25] > pattern.horizontal_db[335]  # narrower clockwise


def test_surrogate_channels_equal_the_numpy_channels(street_grid, street_heights):
    """The channels recomputed in torch are the ones predict feeds the network."""
    from radiomap_geo.models.registry import get_model
    from radiomap_geo.optimize.surrogate import ORIENTATION_CHANNELS, NetworkSurrogate, network_of

    net = network_of(get_model(None))
    scene = SceneInputs(street_grid, street_heights)
    site = Site(
        "s",
        *(float(v) for v in street_grid.xy(44, 48)),
        18.0,
        antenna="tr38901",
        azimuth_deg=123.4,
        tilt_deg=4.5,
    )
    surrogate = NetworkSurrogate(net, scene, [site])
    assert set(surrogate.slots) == set(ORIENTATION_CHANNELS) & set(net.channels)
    bearing, depression, below = surrogate.bearing, surrogate.depression, surrogate.below
    h, v = relative_angles(
        bearing, depression, below, torch.tensor([[[123.4]]]), torch.tensor([[[4.5]]])
    )
    pattern = torch.stack([surrogate.patterns[0].gain_dbi(h[0], v[0])])
    x = surrogate._inputs(h, pattern)[0].numpy()
    expected = feature_stack(scene, site, net.channels)
    rows, cols = expected.shape[1:]
    np.testing.assert_allclose(x[:, :rows, :cols], expected, atol=2e-3)


def test_the_surrogate_carries_the_default_networks_ray_count_correction(
    street_grid, street_heights
):
    """The differentiable path gain equals what predict computes, output correction included."""
    from radiomap_geo.models.registry import get_model
    from radiomap_geo.nets.model import window_scene
    from radiomap_geo.optimize.surrogate import NetworkSurrogate, network_of

    net = network_of(get_model(None))
    assert net.output_correction is not None  # the shipped default carries one
    scene = SceneInputs(street_grid, street_heights)
    site = Site("s", *(float(v) for v in street_grid.xy(44, 48)), 18.0, antenna="iso")
    surrogate = NetworkSurrogate(net, scene, [site])
    got = surrogate.gain_db(torch.tensor([0.0]), torch.tensor([0.0]))[0].numpy()
    multiple = net.net.size_multiple
    rows, cols = (-(-n // multiple) * multiple for n in street_grid.shape)
    expected = net.predict_window(window_scene(scene, 0, 0, rows, cols), site)
    expected = np.maximum(expected, net.scaling.floor_db)[: got.shape[0], : got.shape[1]]
    # bfloat16 inference in predict against float32 here: within a few tenths of a dB
    assert np.abs(got - expected).mean() < 0.3
    net.output_correction, saved = None, net.output_correction
    try:
        plain = NetworkSurrogate(net, scene, [site]).gain_db(
            torch.tensor([0.0]), torch.tensor([0.0])
        )
    finally:
        net.output_correction = saved
    assert (got - plain[0].numpy()).mean() > 0.3  # the correction moved the map up
