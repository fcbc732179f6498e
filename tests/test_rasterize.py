import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Polygon, box

from radiomap_geo.errors import InputError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.rasterize import CHANNELS, feature_stack, rasterize_buildings
from radiomap_geo.sites import Site


@pytest.fixture(scope="module")
def grid():
    return Grid.from_bbox(BBox.parse((500000, 6670000, 500200, 6670200), crs="EPSG:32635"), 2.0)


def test_buildings_land_on_their_cells_and_keep_courtyards(grid):
    outer = [(500020, 6670020), (500100, 6670020), (500100, 6670100), (500020, 6670100)]
    court = [(500040, 6670040), (500080, 6670040), (500080, 6670080), (500040, 6670080)]
    frame = gpd.GeoDataFrame(
        {"height_m": [12.0, 30.0]},
        geometry=[Polygon(outer, [court]), box(500150, 6670150, 500160, 6670160)],
        crs=grid.crs,
    )
    heights = rasterize_buildings(frame.to_crs("EPSG:4326"), grid)  # any CRS in
    at = lambda x, y: heights[grid.rowcol(x, y)]  # noqa: E731
    assert at(500030, 6670030) == 12.0
    assert at(500060, 6670060) == 0.0  # courtyard
    assert at(500155, 6670155) == 30.0
    assert at(500010, 6670010) == 0.0
    # Area: (80^2 - 40^2) + 10^2 m^2 at 4 m^2 per cell.
    assert (heights > 0).sum() == pytest.approx((6400 - 1600 + 100) / 4, rel=0.03)


def test_feature_channels(grid):
    site = Site("s", 500100.0, 6670100.0, 20.0, antenna="tr38901", azimuth_deg=90.0, tilt_deg=0)
    scene = SceneInputs(grid, np.zeros(grid.shape, np.float32))
    names = ["tx", "distance", "azimuth_cos", "antenna_gain", "anchor_x", "anchor_y"]
    stack = feature_stack(scene, site, names)
    assert stack.shape == (6, *grid.shape) and stack.dtype == np.float32
    row, col = grid.rowcol(site.x, site.y)
    assert stack[0].sum() == 1 and stack[0][row, col] == 1
    east = grid.rowcol(site.x + 60, site.y)
    west = grid.rowcol(site.x - 60, site.y)
    assert stack[2][east] == pytest.approx(1.0, abs=0.01)
    assert stack[2][west] == pytest.approx(-1.0, abs=0.01)
    assert stack[3][east] > stack[3][west] + 2.0  # gain/10: >20 dB front-to-back
    assert stack[4][east] == pytest.approx(0.61, abs=0.02)  # (61 m east) / 100
    assert stack[1][east] == pytest.approx(np.hypot(61.0, 18.5) / 100, abs=0.02)


def test_missing_inputs_are_explained(grid):
    site = Site("s", 500100.0, 6670100.0, 20.0)
    scene = SceneInputs(grid, np.zeros(grid.shape, np.float32))
    with pytest.raises(InputError, match="--ortho"):
        feature_stack(scene, site, ["ortho_r"])
    with pytest.raises(InputError, match="unknown input channels"):
        feature_stack(scene, site, ["colour"])
    assert "building_height" in CHANNELS and "ndsm" in CHANNELS


def test_physics_prior_channels(grid):
    """Line of sight over the building raster and the free-space gain (dB/100)."""
    heights = np.zeros(grid.shape, np.float32)
    wall = grid.rowcol(np.array([500120.0]), np.array([6670100.0]))
    heights[:, wall[1][0] : wall[1][0] + 3] = 30.0  # a 6 m thick, 30 m tall wall running N-S
    site = Site("s", 500100.0, 6670100.0, 10.0)
    stack = feature_stack(SceneInputs(grid, heights), site, ["los", "free_space_db"])
    assert stack[0][grid.rowcol(500110.0, 6670100.0)] == 1.0  # in front of the wall
    assert stack[0][grid.rowcol(500150.0, 6670100.0)] == 0.0  # behind it
    # 3.5 GHz at 50 m (3-D 50.9 m): -77.5 dB.
    assert stack[1][grid.rowcol(500051.0, 6670100.0)] * 100 == pytest.approx(-77.45, abs=0.2)


def test_obstruction_channels_measure_the_wall_and_its_diffraction(grid):
    heights = np.zeros(grid.shape, np.float32)
    wall = grid.rowcol(np.array([500120.0]), np.array([6670100.0]))
    heights[:, wall[1][0] : wall[1][0] + 3] = 30.0  # 6 m thick, 30 m tall, running N-S
    site = Site("s", 500100.0, 6670100.0, 10.0)
    depth, knife = feature_stack(
        SceneInputs(grid, heights), site, ["building_depth", "knife_edge_db"]
    )
    front, behind = grid.rowcol(500110.0, 6670100.0), grid.rowcol(500150.0, 6670100.0)
    assert depth[front] == 0.0 and knife[front] == 0.0
    assert depth[behind] * 100 == pytest.approx(6.0, abs=1.5)  # metres of wall crossed
    # excess 23.4 m at 20 m / 30 m from the ends, 3.5 GHz: nu = 32.6, J = 43.2 dB (P.526)
    assert knife[behind] * 10 == pytest.approx(43.2, abs=1.0)
    # a taller antenna clears the wall for far cells: less loss than from 10 m
    high = Site("h", 500100.0, 6670100.0, 60.0)
    knife_high = feature_stack(SceneInputs(grid, heights), high, ["knife_edge_db"])[0]
    assert knife_high[behind] < knife[behind]


def test_shared_ray_walk_gives_the_same_line_of_sight(grid):
    rng = np.random.default_rng(3)
    heights = np.zeros(grid.shape, np.float32)
    for _ in range(40):  # random blocks 4-20 m on a side, 3-40 m tall
        r, c = rng.integers(0, grid.height - 10), rng.integers(0, grid.width - 10)
        h, w = rng.integers(2, 10, size=2)
        heights[r : r + h, c : c + w] = rng.uniform(3, 40)
    scene = SceneInputs(grid, heights)
    for height in (1.6, 12.0, 35.0):
        site = Site("s", 500000.0 + rng.uniform(20, 180), 6670000.0 + rng.uniform(20, 180), height)
        alone = feature_stack(scene, site, ["los"])[0]
        shared = feature_stack(scene, site, ["los", "knife_edge_db", "building_depth"])
        np.testing.assert_array_equal(shared[0], alone)
        assert 0.05 < alone.mean() < 0.95  # a real mix of lit and shadowed cells
        np.testing.assert_array_equal(shared[2], feature_stack(scene, site, ["building_depth"])[0])


def test_knife_edge_reference_values():
    from radiomap_geo.los import knife_edge_loss_db

    # ITU-R P.526: J(0) = 6.02 dB; J(-0.78) ~ 0; large nu -> 13 + 20 log10(nu)
    values = knife_edge_loss_db(np.array([-1.0, 0.0, 10.0, 1e6]))
    assert values[0] == 0.0 and values[3] == 60.0
    assert values[1] == pytest.approx(6.03, abs=0.05)
    assert values[2] == pytest.approx(13.0 + 20.0, abs=0.3)


def test_every_channel_is_described_for_model_cards():
    from radiomap_geo.rasterize import CHANNEL_DESCRIPTIONS, CHANNELS

    assert set(CHANNEL_DESCRIPTIONS) == set(CHANNELS)
    assert all(text.strip() for text in CHANNEL_DESCRIPTIONS.values())
