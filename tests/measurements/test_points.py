"""The measurement point reader: formats, CRSs, units, bad rows, gridding."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import LineString, Point

from radiomap_geo.errors import InputError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.measurements.points import read_measurements

LON, LAT = 24.94, 60.168


@pytest.fixture
def grid() -> Grid:
    return Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), resolution=10.0)


def _frame(values, crs="EPSG:4326", **columns) -> gpd.GeoDataFrame:
    pts = [Point(LON + 0.001 * i, LAT) for i in range(len(values))]
    table = gpd.GeoDataFrame({"rsrp_dbm": values, **columns}, geometry=pts, crs="EPSG:4326")
    return table.to_crs(crs)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp"])
def test_vector_formats_in_any_crs_land_on_the_same_cell(tmp_path, grid, suffix):
    path = tmp_path / f"m{suffix}"
    _frame([-80.0, -90.0], crs="EPSG:3857", site_id=["a", "b"]).to_file(path)
    m = read_measurements(path)
    assert m.crs.to_epsg() == 3857 and list(m.site_ids) == ["a", "b"]
    gridded = m.to_grid(grid)
    x, y = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True).transform(LON, LAT)
    row, col = grid.rowcol(x, y)
    first = gridded.site_ids == "a"
    assert (gridded.rows[first][0], gridded.cols[first][0]) == (row, col)
    assert gridded.values[first][0] == pytest.approx(-80.0)


def test_csv_lonlat_and_duplicates_averaged(tmp_path, grid):
    path = tmp_path / "m.csv"
    path.write_text(
        f"lon,lat,rsrp_dbm\n{LON},{LAT},-80\n{LON},{LAT},-90\n{LON + 0.002},{LAT},-70\n"
    )
    gridded = read_measurements(path).to_grid(grid)
    assert len(gridded) == 2
    values, counts = gridded.to_array()
    assert np.nanmin(values) == pytest.approx(-85.0)
    assert counts.max() == 2 and counts.sum() == 3


def test_points_outside_grid_dropped_with_count(tmp_path, grid, caplog):
    path = tmp_path / "m.csv"
    path.write_text(f"lon,lat,rsrp_dbm\n{LON},{LAT},-80\n25.5,60.5,-90\n")
    with caplog.at_level(logging.WARNING):
        gridded = read_measurements(path).to_grid(grid)
    assert len(gridded) == 1 and gridded.dropped_outside == 1
    assert "1 of 2 points lie outside" in caplog.text


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("-80\n\n-70", "row 2: empty or NaN value in column 'rsrp_dbm'"),
        ("-80\nabc\n-70", "row 2: non-numeric values in column 'rsrp_dbm'"),
        ("-80\n-70\nNaN", "row 3: empty or NaN value"),
    ],
)
def test_bad_values_name_rows(tmp_path, body, needle):
    path = tmp_path / "m.csv"
    lines = [f"{LON},{LAT},{v}" if v else f"{LON},{LAT}," for v in body.split("\n")]
    path.write_text("lon,lat,rsrp_dbm\n" + "\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        read_measurements(path)
    assert needle in str(err.value)
    assert err.value.parameter == "value_column"


def test_unknown_unit_and_kind(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(f"lon,lat,e\n{LON},{LAT},0.5\n")
    with pytest.raises(InputError, match="does not fit value kind 'rsrp'") as err:
        read_measurements(path, value_column="e", unit="v/m")
    assert err.value.parameter == "value_unit"
    with pytest.raises(InputError, match="unknown value kind"):
        read_measurements(path, value_column="e", value_kind="power")
    m = read_measurements(path, value_column="e", value_kind="e-field", unit="V/m")
    assert m.values[0] == pytest.approx(20 * np.log10(0.5) + 120)


def test_implausible_values_for_unit_refused(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(f"lon,lat,rsrp_dbm\n{LON},{LAT},-80\n{LON},{LAT},0.00001\n{LON},{LAT},500\n")
    with pytest.raises(InputError, match="row 3: column 'rsrp_dbm' lies outside"):
        read_measurements(path)


def test_empty_file_missing_column_and_non_points(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="is empty"):
        read_measurements(empty)
    header_only = tmp_path / "h.csv"
    header_only.write_text("lon,lat,rsrp_dbm\n")
    with pytest.raises(InputError, match="has no points"):
        read_measurements(header_only)
    with pytest.raises(InputError, match="no column 'signal'") as err:
        read_measurements(_write_one(tmp_path), "signal")
    assert err.value.parameter == "value_column"
    lines = gpd.GeoDataFrame(
        {"rsrp_dbm": [-80.0]}, geometry=[LineString([(LON, LAT), (LON + 0.001, LAT)])], crs=4326
    )
    lines.to_file(tmp_path / "l.gpkg")
    with pytest.raises(InputError, match="row 1: not points"):
        read_measurements(tmp_path / "l.gpkg")


def _write_one(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text(f"lon,lat,rsrp_dbm\n{LON},{LAT},-80\n")
    return path


def test_unknown_site_ids_named(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(f"lon,lat,rsrp_dbm,site_id\n{LON},{LAT},-80,a\n{LON},{LAT},-80,zz\n")
    m = read_measurements(path)
    with pytest.raises(InputError, match="row 2: site_id values \\['zz'\\]"):
        m.require_sites(["a", "b"])


def test_opencellid_file_reads_as_points(shared_file):
    path = shared_file("ottawa_lte_walks/uottawa/OpenCellID_20210109_114717_meas_ainf_d0_n121.csv")
    m = read_measurements(path, value_column="signal")
    assert len(m) == 121 and m.crs.to_epsg() == 4326
    assert -140 < m.values.min() < m.values.max() < -40
