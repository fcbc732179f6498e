"""Small scenes and sites for the network tests (kept tiny: 2 shared CPU cores)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from affine import Affine
from pyproj import CRS

from radiomap_geo.grid import Grid
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.sites import Site

UTM = CRS.from_epsg(32635)


def make_grid(rows: int = 32, cols: int = 32, res: float = 2.0) -> Grid:
    return Grid(UTM, Affine(res, 0.0, 500_000.0, 0.0, -res, 6_700_000.0), (rows, cols))


def random_scene(grid: Grid, seed: int = 0, blocks: int = 6) -> SceneInputs:
    rng = np.random.default_rng(seed)
    heights = np.zeros(grid.shape, np.float32)
    for _ in range(blocks):
        r, c = rng.integers(0, grid.height - 4), rng.integers(0, grid.width - 4)
        h, w = rng.integers(2, 5, size=2)
        heights[r : r + h, c : c + w] = rng.uniform(5, 30)
    return SceneInputs(grid=grid, building_height=heights)


def site_at_cell(grid: Grid, row: int, col: int, **kw) -> Site:
    x, y = grid.xy(row, col)
    return Site(
        site_id=kw.pop("site_id", "s"),
        x=float(x),
        y=float(y),
        height_m=kw.pop("height_m", 20.0),
        **kw,
    )


@pytest.fixture(autouse=True)
def _torch_quiet():
    """Deterministic and single-threaded (tiny tensors; the machine is shared)."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def geo():
    """The helpers above: ``geo.make_grid``, ``geo.random_scene``, ``geo.site_at_cell``."""
    return SimpleNamespace(
        make_grid=make_grid, random_scene=random_scene, site_at_cell=site_at_cell
    )
