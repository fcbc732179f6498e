"""A crafted scene for the optimisation tests: one street through a block of 15 m buildings."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from radiomap_geo.grid import Grid, to_crs
from radiomap_geo.sites import Site, Sites

#: Helsinki, UTM 35N: 96 x 96 cells of 2 m.
ORIGIN = (385_000.0, 6_672_000.0)
SIZE = 96
RES = 2.0
STREET_ROWS = slice(30, 36)  # 12 m wide, east-west, north of the site
SITE_ROW, SITE_COL = 44, 48


@pytest.fixture(scope="session")
def street_grid() -> Grid:
    x0, y0 = ORIGIN
    return Grid(
        to_crs("EPSG:32635"), Affine(RES, 0.0, x0, 0.0, -RES, y0 + SIZE * RES), (SIZE, SIZE)
    )


@pytest.fixture(scope="session")
def street_heights() -> np.ndarray:
    """15 m buildings everywhere but the street: the street is the only outdoor area."""
    heights = np.full((SIZE, SIZE), 15.0, np.float32)
    heights[STREET_ROWS, :] = 0.0
    return heights


def rooftop_site(grid: Grid, azimuth_deg: float, antenna: str = "tr38901", **more) -> Sites:
    """One sector 3 m above the roof south of the street, pointing at ``azimuth_deg``."""
    x, y = (float(v) for v in grid.xy(SITE_ROW, SITE_COL))
    site = Site("s1", x, y, 18.0, antenna=antenna, azimuth_deg=azimuth_deg, tilt_deg=0.0, **more)
    return Sites((site,), grid.crs)
