"""The way-round channel: the shortest outdoor path's excess over the direct distance."""

import numpy as np
import pytest

from radiomap_geo.detour import detour_m, outdoor_paths_m
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.nets.symmetry import transform_array
from radiomap_geo.rasterize import DETOUR_CAP_M, feature_stack
from radiomap_geo.sites import Site


def _corner_street():
    """40 x 40 cells of 2 m: a block fills rows 0-29, cols 10-39; streets are cols 0-9 (N-S)
    and rows 30-39 (E-W). The antenna at cell (5, 5) sees the N-S street only."""
    outdoor = np.ones((40, 40), bool)
    outdoor[:30, 10:] = False
    rows, cols = np.mgrid[0:40, 0:40]
    direct = 2.0 * np.hypot(rows - 5, cols - 5)
    return outdoor, outdoor & (cols < 10), direct


def test_the_way_round_a_corner():
    outdoor, seen, direct = _corner_street()
    extra = detour_m(outdoor, seen, direct, 2.0)
    # (35, 35) via the block's corner at (29.5, 9.5): 25.4 + 26.0 cells = 102.8 m, direct 84.9 m
    assert extra[35, 35] == pytest.approx(17.9, abs=1.5)
    assert extra[5, 5] == 0 and extra[35, 5] == 0  # seen
    assert extra[0, 20] == 0  # inside the block
    # the further round the corner, the longer the way round
    along = extra[35, 12:40]
    assert np.all(np.diff(along) >= -1e-3) and along[-1] > along[0] + 10


def test_outdoor_paths_go_round_the_block():
    outdoor, _, _ = _corner_street()
    start = np.ravel_multi_index((5, 5), outdoor.shape)
    paths = outdoor_paths_m(outdoor, [start], 2.0)[0].reshape(outdoor.shape)
    assert paths[5, 5] == 0 and paths[35, 5] == pytest.approx(60.0, rel=0.03)
    # (35, 35) only round the corner: 102.8 m against 84.9 m in a straight line
    assert paths[35, 35] == pytest.approx(102.8, rel=0.03)
    assert np.isinf(paths[0, 20])  # inside the block


def test_straight_lines_are_at_most_3_percent_long():
    outdoor = np.ones((101, 101), bool)
    seen = np.zeros_like(outdoor)
    seen[50, 50] = True
    rows, cols = np.mgrid[0:101, 0:101]
    direct = np.hypot(rows - 50, cols - 50)
    excess = detour_m(outdoor, seen, direct, 1.0, cap_m=1e9)
    far = direct > 10
    assert np.max(excess[far] / direct[far]) < 0.03
    assert np.max(excess[far] / direct[far]) > 0.02  # 22.5 degrees: the graph's worst case


def test_closed_courtyards_and_no_view_read_the_cap():
    outdoor, seen, direct = _corner_street()
    outdoor[10:20, 20:30] = True  # a courtyard inside the block, no way in
    extra = detour_m(outdoor, seen, direct, 2.0, cap_m=150.0)
    assert np.all(extra[10:20, 20:30] == 150.0)
    nothing = detour_m(outdoor, np.zeros_like(seen), direct, 2.0, cap_m=150.0)
    assert np.all(nothing[outdoor] == 150.0) and np.all(nothing[~outdoor] == 0)


def test_no_shortcut_between_the_corners_of_two_blocks():
    # two blocks touching at a corner only: no step may slip between them
    outdoor = np.ones((6, 6), bool)
    outdoor[0:3, 0:3] = False
    outdoor[3:6, 3:6] = False
    seen = np.zeros_like(outdoor)
    seen[0, 5] = True
    rows, cols = np.mgrid[0:6, 0:6]
    direct = np.hypot(rows - 0, cols - 5)
    extra = detour_m(outdoor, seen, direct, 1.0, cap_m=1e9)
    assert np.all(extra[3:, :3] == 1e9)  # the other street is closed off
    assert np.all(extra[:3, 3:] < 1.0)  # the antenna's own is reached
    outdoor[3, 3] = True  # open one side of the diagonal step: now it leads through
    assert detour_m(outdoor, seen, direct, 1.0, cap_m=1e9)[5, 0] < 5.0


def test_the_channel_turns_with_the_map():
    grid = Grid.from_bbox(BBox.parse((500000, 6670000, 500080, 6670080), crs="EPSG:32635"), 2.0)
    rng = np.random.default_rng(5)
    heights = np.zeros(grid.shape, np.float32)
    for _ in range(12):
        r, c = rng.integers(0, 34, size=2)
        heights[r : r + rng.integers(3, 7), c : c + rng.integers(3, 7)] = 20.0
    heights[18:22, 18:22] = 0.0  # keep the antenna's foot outdoors
    site = Site("s", 500041.0, 6670039.0, 4.0)  # the centre cell of the 40 x 40 grid
    detour = feature_stack(SceneInputs(grid, heights), site, ["detour"])[0]
    assert detour.max() > 0.05 and 0.0 <= detour.min() and detour.max() <= DETOUR_CAP_M / 100
    turned = feature_stack(SceneInputs(grid, np.rot90(heights).copy()), site, ["detour"])[0]
    close = np.isclose(turned, transform_array(detour, 1, False), atol=0.02)
    assert close.mean() > 0.97  # line-of-sight rounding on cell boundaries moves a few starts
