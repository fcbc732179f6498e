"""Dihedral test-time augmentation: exact for equivariant networks, equivariant for any network."""

import numpy as np
import pytest
import torch
from affine import Affine
from pyproj import CRS

from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.nets import NetworkModel, build_network
from radiomap_geo.nets.augment import transform_array, transform_scene, transform_site
from radiomap_geo.nets.tta import inverse_transform, mean_power_db, symmetries
from radiomap_geo.sites import Site

# Scalar fields on the cells (no boresight-relative direction): an equivariant network's output
# turns with the map.
SCALAR_CHANNELS = ["building_height", "distance", "free_space_db", "tx_height"]
ALL_CHANNELS = SCALAR_CHANNELS + ["anchor_x", "anchor_y", "azimuth_cos", "azimuth_sin"]


def scene_and_site(antenna: str = "iso") -> tuple[SceneInputs, Site]:
    """A 32 x 32 scene of random blocks with the site off-centre (no symmetry at all)."""
    rng = np.random.default_rng(3)
    heights = np.zeros((32, 32), np.float32)
    for _ in range(6):
        r, c = rng.integers(0, 26, 2)
        heights[r : r + rng.integers(2, 7), c : c + rng.integers(2, 7)] = rng.uniform(6, 30)
    heights[10:13, 20:23] = 0.0  # keep the site cell outdoors
    grid = Grid(CRS.from_epsg(32635), Affine(2.0, 0, 385000.0, 0, -2.0, 6672064.0), (32, 32))
    x, y = grid.xy(11, 21)
    site = Site("s", x, y, 12.0, antenna=antenna, azimuth_deg=70.0, tilt_deg=4.0)
    return SceneInputs(grid, heights, rx_height_m=1.5), site


def model_of(net, channels, tta: int) -> NetworkModel:
    return NetworkModel.from_network(
        net,
        channels,
        metres_per_pixel=2.0,
        frequency_mhz=3500.0,
        reach_m=40.0,
        device="cpu",
        tta=tta,
    )


def test_inverse_undoes_every_symmetry():
    a = np.arange(12.0).reshape(3, 4)
    for sym in symmetries(8, "iso"):
        assert np.array_equal(inverse_transform(transform_array(a, *sym), sym), a)


def test_mirrors_only_for_symmetric_patterns():
    assert len(symmetries(8, "iso")) == 8
    assert symmetries(4, "iso") == [(k, False) for k in range(4)]
    assert symmetries(1, "tr38901") == [(0, False)]
    with pytest.raises(ValueError):
        symmetries(3, "iso")
    with pytest.raises(InputError, match="symmetries"):
        model_of(build_network("cnn", 4, depth=2, width=4, kernel_size=1), SCALAR_CHANNELS, 2)


def test_power_mean_of_equal_maps_is_the_map_and_of_two_is_3db_below_the_stronger():
    maps = np.array([[[-90.0, -200.0]], [[-90.0, -200.0]]])
    assert np.allclose(mean_power_db(maps), [[-90.0, -200.0]], atol=1e-4)
    pair = np.array([[[-80.0]], [[-200.0]]])
    assert mean_power_db(pair)[0, 0] == pytest.approx(-80.0 - 10 * np.log10(2), abs=1e-3)


def test_an_equivariant_network_gives_the_same_map_with_and_without_tta():
    """A pointwise (1x1) network commutes with the symmetries: TTA must change nothing."""
    torch.manual_seed(0)
    net = build_network("cnn", len(SCALAR_CHANNELS), depth=3, width=8, kernel_size=1)
    scene, site = scene_and_site()
    plain = model_of(net, SCALAR_CHANNELS, 1).predict_window(scene, site)
    augmented = model_of(net, SCALAR_CHANNELS, 8).predict_window(scene, site)
    assert np.nanstd(plain) > 0.1  # a map with structure, not a constant
    np.testing.assert_allclose(augmented, plain, atol=2e-3)


@pytest.mark.parametrize("antenna", ["iso", "tr38901"])
def test_tta_makes_any_network_equivariant(antenna):
    """Turning the scene (and the site with it) turns the TTA map, for a non-equivariant net."""
    torch.manual_seed(1)
    net = build_network("cnn", len(ALL_CHANNELS), depth=3, width=8, kernel_size=3)
    scene, site = scene_and_site(antenna)
    tta = 8 if antenna == "iso" else 4  # mirrors are exact only for symmetric patterns
    model = model_of(net, ALL_CHANNELS, tta)
    base = model.predict_window(scene, site)
    plain = model_of(net, ALL_CHANNELS, 1)
    for k, flip in symmetries(tta, antenna)[1:]:
        turned_scene = transform_scene(scene, k, flip)
        turned_site = transform_site(site, scene.grid, k, flip)
        turned = model.predict_window(turned_scene, turned_site)
        np.testing.assert_allclose(turned, transform_array(base, k, flip), atol=2e-3)
        # ... which the plain network is not (so the check above has teeth)
        off = plain.predict_window(turned_scene, turned_site) - transform_array(
            plain.predict_window(scene, site), k, flip
        )
        assert np.abs(off).max() > 0.05
