import numpy as np
import pytest
import shapely

from radiomap_geo.dataset.procedural import (
    PROCEDURAL_CRS,
    CityStyle,
    nominal_origin,
    procedural_city,
)
from radiomap_geo.grid import to_crs


def test_same_seed_same_city():
    a, b = procedural_city(7), procedural_city(7)
    assert len(a) == len(b) > 0
    assert np.array_equal(a["height_m"].to_numpy(), b["height_m"].to_numpy())
    assert all(x.equals_exact(y, 0.0) for x, y in zip(a.geometry, b.geometry))
    assert a.attrs["style"] == b.attrs["style"]


def test_different_seeds_differ():
    a, b = procedural_city(1), procedural_city(2)
    assert a.attrs["style"] != b.attrs["style"] or len(a) != len(b)


def test_city_is_georeferenced_and_clipped():
    bounds = (500_000.0, 5_500_000.0, 500_128.0, 5_500_064.0)
    city = procedural_city(3, bounds, crs="EPSG:25832")
    assert city.crs == to_crs("EPSG:25832")
    minx, miny, maxx, maxy = city.total_bounds
    assert minx >= bounds[0] - 1e-6 and maxx <= bounds[2] + 1e-6
    assert miny >= bounds[1] - 1e-6 and maxy <= bounds[3] + 1e-6
    default = procedural_city(3)
    assert default.crs == to_crs(PROCEDURAL_CRS)
    x0, y0 = nominal_origin(3)
    assert default.total_bounds[0] >= x0 and default.total_bounds[2] <= x0 + 256


def test_heights_and_geometries_are_sane():
    for seed in range(10):
        city = procedural_city(seed)
        assert (city["height_m"] > 0).all()
        assert (city["height_m"] < 200).all()
        assert set(city.geom_type) <= {"Polygon"}
        assert shapely.is_valid(city.geometry.to_numpy()).all()
        assert (city.area >= 4.0).all()


def test_courtyards_and_squares_appear():
    holes = 0
    covers = []
    for seed in range(20):
        city = procedural_city(seed)
        holes += sum(len(g.interiors) for g in city.geometry)
        covers.append(city.area.sum() / 256.0**2)
    assert holes >= 5  # perimeter blocks with courtyards are common
    # from sparse villas to dense blocks
    assert min(covers) < 0.2 and max(covers) > 0.3


def test_open_square_style_leaves_space():
    rng = np.random.default_rng(0)
    base = CityStyle.random(rng)
    squares = CityStyle(**{**base.__dict__, "weights": (1.0, 0, 0, 0, 0, 0)})
    city = procedural_city(5, style=squares)
    assert city.area.sum() / 256.0**2 < 0.05  # only kiosks at most


@pytest.mark.parametrize("seed", [0, 11])
def test_style_is_recorded(seed):
    style = procedural_city(seed).attrs["style"]
    assert set(style["weights"]) == {"square", "perimeter", "solid", "rows", "detached", "tower"}
    assert style["block_min_m"] < style["block_max_m"]
