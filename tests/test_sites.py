import geopandas as gpd
import pandas as pd
import pytest
from pyproj import CRS
from shapely.geometry import Point, box

from radiomap_geo.errors import SitesError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.sites import read_sites


def _write(tmp_path, frame, name="sites.gpkg"):
    path = tmp_path / name
    frame.to_file(path)
    return path


def _frame(**columns):
    geometry = columns.pop("geometry", [Point(24.944, 60.169)])
    return gpd.GeoDataFrame(columns, geometry=geometry, crs="EPSG:4326")


def test_defaults_fill_optional_columns(tmp_path):
    sites = read_sites(_write(tmp_path, _frame(height_m=[25.0])), crs="EPSG:32635")
    site = sites[0]
    assert site.site_id == "site-1"
    assert (site.power_dbm, site.frequency_mhz, site.antenna) == (43.0, 3500.0, "iso")
    assert sites.crs == CRS.from_epsg(32635)
    # 24.944E 60.169N is about 385 900 E, 6 672 000 N in UTM 35N.
    assert site.x == pytest.approx(385_900, abs=150) and site.y == pytest.approx(6_672_000, abs=150)


def test_csv_with_lon_lat(tmp_path):
    path = tmp_path / "sites.csv"
    pd.DataFrame(
        {
            "site_id": ["a"],
            "lon": [24.944],
            "lat": [60.169],
            "height_m": [30],
            "antenna": ["tr38901"],
            "azimuth_deg": [120],
            "tilt_deg": [6],
        }
    ).to_csv(path, index=False)
    site = read_sites(path)[0]
    assert (site.x, site.y, site.azimuth_deg, site.antenna) == (24.944, 60.169, 120.0, "tr38901")


@pytest.mark.parametrize(
    "columns, message",
    [
        ({"power_dbm": [43.0]}, "lacks required column"),
        ({"height_m": [-5.0]}, "height_m=-5.0"),
        ({"height_m": [25.0], "frequency_mhz": [3.5]}, "GHz"),
        ({"height_m": [25.0], "antenna": ["dish"]}, "unknown antenna"),
        ({"height_m": [25.0], "power_dbm": ["lots"]}, "not a number"),
    ],
)
def test_bad_tables_are_explained(tmp_path, columns, message):
    with pytest.raises(SitesError, match=message):
        read_sites(_write(tmp_path, _frame(**columns)))


def test_polygons_and_duplicates_are_refused(tmp_path):
    polygons = _frame(height_m=[25.0], geometry=[box(24.94, 60.16, 24.95, 60.17)])
    with pytest.raises(SitesError, match="points"):
        read_sites(_write(tmp_path, polygons, "p.gpkg"))
    twins = _frame(
        site_id=["a", "a"],
        height_m=[25.0, 30.0],
        geometry=[Point(24.944, 60.169), Point(24.945, 60.169)],
    )
    with pytest.raises(SitesError, match="unique"):
        read_sites(_write(tmp_path, twins, "t.gpkg"))


def test_missing_file_and_csv_without_coordinates(tmp_path):
    with pytest.raises(SitesError, match="does not exist"):
        read_sites(tmp_path / "nope.gpkg")
    path = tmp_path / "bad.csv"
    path.write_text("site_id,height_m\na,20\n")
    with pytest.raises(SitesError, match="'lon' and 'lat'"):
        read_sites(path)


@pytest.mark.parametrize(
    "row, message",
    [
        ("a,abc,60.169,20", r"row 1: lon = 'abc' is not a number"),
        ("a,,60.169,20", r"row 1: lon is empty"),
        ("a,385900,6672000,20", r"row 1: lon = 385900 is not in degrees"),
        ("a,24.944,95,20", r"row 1: lat = 95 is not in degrees"),
    ],
)
def test_csv_coordinates_that_are_not_degrees_are_named(tmp_path, row, message):
    path = tmp_path / "sites.csv"
    path.write_text(f"site_id,lon,lat,height_m\n{row}\n")
    with pytest.raises(SitesError, match=message):
        read_sites(path)


def test_sites_outside_the_area_are_named(tmp_path):
    grid = Grid.from_bbox(BBox.parse("24.938,60.166,24.950,60.172"), 5.0)
    frame = _frame(
        site_id=["in", "out"],
        height_m=[20.0, 20.0],
        geometry=[Point(24.944, 60.169), Point(24.99, 60.169)],
    )
    sites = read_sites(_write(tmp_path, frame), crs=grid.crs)
    with pytest.raises(SitesError, match=r"1 of 2 sites.*'out'"):
        sites.require_inside(grid)
