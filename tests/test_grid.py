import numpy as np
import pytest
from pyproj import CRS, Transformer

from radiomap_geo.errors import AreaTooLargeError, BBoxError, CRSError
from radiomap_geo.grid import BBox, Grid, utm_crs_for

HELSINKI = "24.938,60.166,24.950,60.172"


def test_utm_zone_is_picked_from_the_box_centre():
    assert utm_crs_for(BBox.parse(HELSINKI)) == CRS.from_epsg(32635)
    assert utm_crs_for(BBox.parse("4.36,52.00,4.38,52.01")) == CRS.from_epsg(32631)  # Delft
    assert utm_crs_for(BBox.parse("-58.40,-34.62,-58.36,-34.60")) == CRS.from_epsg(32721)


def test_grid_bounds_are_snapped_to_whole_cells():
    grid = Grid.from_bbox(BBox.parse(HELSINKI), 5.0)
    minx, miny, maxx, maxy = grid.bounds
    for value in grid.bounds:
        assert value % 5.0 == pytest.approx(0.0, abs=1e-6)
    assert (maxx - minx) / 5.0 == grid.width
    assert (maxy - miny) / 5.0 == grid.height
    # The box is about 665 m x 668 m.
    assert 660 <= maxx - minx <= 700 and 660 <= maxy - miny <= 700


def test_same_box_in_4326_and_3857_gives_the_same_grid():
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x0, y0 = to_merc.transform(24.938, 60.166)
    x1, y1 = to_merc.transform(24.950, 60.172)
    a = Grid.from_bbox(BBox.parse(HELSINKI), 2.0)
    b = Grid.from_bbox(BBox.parse((x0, y0, x1, y1), crs="EPSG:3857"), 2.0)
    assert a == b


def test_explicit_working_crs():
    grid = Grid.from_bbox(BBox.parse(HELSINKI), 10.0, crs="EPSG:3067")
    assert grid.crs == CRS.from_epsg(3067)


def test_xy_and_rowcol_round_trip():
    grid = Grid.from_bbox(BBox.parse(HELSINKI), 5.0)
    rows, cols = np.array([0, 10, grid.height - 1]), np.array([0, 20, grid.width - 1])
    x, y = grid.xy(rows, cols)
    r, c = grid.rowcol(x, y)
    assert (r == rows).all() and (c == cols).all()
    # The first cell centre sits half a cell inside the top-left corner.
    assert x[0] == grid.bounds[0] + 2.5 and y[0] == grid.bounds[3] - 2.5


@pytest.mark.parametrize(
    "text, message",
    [
        ("24.95,60.166,24.938,60.172", "swapped"),
        ("24.938,60.172,24.950,60.166", "swapped"),
        ("24.938,60.166,24.938,60.172", "empty"),
        ("24.938,60.166,24.950", "four numbers"),
        ("a,b,c,d", "numbers"),
        ("385575,6671660,386265,6672355", "not longitudes"),
        ("60.166,124.938,60.172,124.950", "not latitudes"),
    ],
)
def test_bad_boxes_are_explained(text, message):
    with pytest.raises(BBoxError, match=message):
        BBox.parse(text)


def test_geographic_working_crs_is_refused():
    with pytest.raises(CRSError, match="geographic"):
        Grid.from_bbox(BBox.parse(HELSINKI), 5.0, crs="EPSG:4326")


def test_unknown_crs_is_explained():
    with pytest.raises(CRSError, match="unknown CRS"):
        BBox.parse(HELSINKI, crs="EPSG:999999")


def test_oversized_area_stops_with_its_size():
    with pytest.raises(AreaTooLargeError, match="allow large areas") as info:
        Grid.from_bbox(BBox.parse("24.0,60.0,25.0,60.5"), 1.0)
    assert "km" in str(info.value) and info.value.parameter == "allow_large"
    big = Grid.from_bbox(BBox.parse("24.0,60.0,25.0,60.5"), 1.0, max_cells=None)
    assert big.height * big.width > 1e9


def test_tiles_cover_every_cell_exactly_once():
    grid = Grid.from_bbox(BBox.parse(HELSINKI), 5.0)
    hits = np.zeros(grid.shape, int)
    for tile in grid.tiles(50, halo=7):
        hits[tile.slices] += 1
        assert tile.grid.shape == (tile.core[2] + 14, tile.core[3] + 14)
        assert tile.offset == (7, 7)
        assert tile.grid.offset_in(grid) == (tile.core[0] - 7, tile.core[1] - 7)
    assert (hits == 1).all()


@pytest.mark.parametrize(
    ("crs", "low", "high"),
    [
        ("EPSG:3857", 1.00, 1.02),  # Web Mercator at 60 N: k = 1 / cos(60) = 2
        ("EPSG:32631", 0.016, 0.019),  # UTM 31 (3 E) for Helsinki (25 E)
        ("EPSG:32635", 0.0, 0.0005),  # the right zone: within k0 = 0.9996
        ("EPSG:3067", 0.0, 0.0005),  # ETRS-TM35FIN
    ],
)
def test_scale_error_of_the_working_crs(crs, low, high):
    from radiomap_geo.grid import scale_error, to_crs

    assert low <= scale_error(to_crs(crs), BBox.parse(HELSINKI)) <= high


def test_distorting_crs_is_refused_or_warned(caplog):
    from radiomap_geo.errors import CRSError

    with pytest.raises(CRSError, match="distorts distances by 10") as info:
        Grid.from_bbox(BBox.parse(HELSINKI), 5.0, crs="EPSG:3857")
    assert info.value.parameter == "crs" and "EPSG:32635" in str(info.value)
    with caplog.at_level("WARNING"):
        grid = Grid.from_bbox(BBox.parse(HELSINKI), 5.0, crs="EPSG:32633")
    assert grid.crs.to_epsg() == 32633 and "distorts distances by 0.3" in caplog.text


def test_resolution_larger_than_the_area_is_refused():
    from radiomap_geo.errors import BBoxError

    with pytest.raises(BBoxError, match="larger than the area") as info:
        Grid.from_bbox(BBox.parse(HELSINKI), 2000.0)
    assert info.value.parameter == "resolution"
