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


def _values_csv(tmp_path, values) -> str:
    path = tmp_path / "m.csv"
    path.write_text("lon,lat,v\n" + "".join(f"{LON},{LAT},{v}\n" for v in values))
    return str(path)


@pytest.mark.parametrize(
    ("kind", "unit", "values", "needle"),
    [
        # RSRP in W, and +50 dBm (the audit's case): a phone never reports above -44 dBm
        ("rsrp", None, [-80, 0.00001, 50], "rows 2, 3: column 'v' holds 1e-05..50 dBm"),
        ("rsrp", None, [-80, -300], "row 2: column 'v' holds -300 dBm, impossible for rsrp"),
        ("rx-power", "dbm", [-60, 43], "row 2: column 'v' holds 43 dBm, impossible for rx-power"),
        ("path-gain", None, [-90, 120], "row 2: column 'v' holds 120 dB, impossible for path-gain"),
        ("e-field", "dbuv/m", [100, 170], "row 2: column 'v' holds 170 dBuV/m"),
        ("e-field", "v/m", [0.5, 350], "row 2: column 'v' holds 350 V/m, impossible for e-field"),
    ],
)
def test_values_the_kind_cannot_take_are_refused_naming_rows(tmp_path, kind, unit, values, needle):
    with pytest.raises(InputError) as err:
        read_measurements(_values_csv(tmp_path, values), "v", value_kind=kind, unit=unit)
    text = str(err.value)
    assert needle in text, text
    assert "--value-kind" in text and "--value-unit" in text
    assert err.value.parameter == "value_unit"


def test_limits_of_each_kind_are_stated_and_edge_values_kept(tmp_path):
    with pytest.raises(InputError) as err:
        read_measurements(_values_csv(tmp_path, [-10]), "v")
    assert "accepted -180..-20 dBm" in str(err.value) and "-140..-44 dBm" in str(err.value)
    with pytest.raises(InputError, match="a path loss is its negative"):
        read_measurements(_values_csv(tmp_path, [0.5]), "v", value_kind="path-gain")
    with pytest.raises(InputError, match="accepted 1e-09..200 V/m"):
        read_measurements(_values_csv(tmp_path, [201]), "v", value_kind="e-field", unit="v/m")
    cases = [
        ("rsrp", None, [-44.0, -140.0, -20.0]),
        ("rx-power", None, [30.0, -150.0]),
        ("path-gain", None, [0.0, -250.0]),
        ("e-field", "v/m", [61.0, 1e-6]),
        ("e-field", "dbuv/m", [166.0, 0.0]),
    ]
    for kind, unit, values in cases:
        m = read_measurements(_values_csv(tmp_path, values), "v", value_kind=kind, unit=unit)
        assert len(m) == len(values)
    assert m.values[0] == pytest.approx(166.0)


@pytest.mark.parametrize(
    ("header", "row", "needle"),
    [
        (
            "lon,lat",
            "385800,6672000",
            "rows 1, 2: columns lon/lat hold values like 385800, 6672000",
        ),
        ("x,y", "385800,6672000", "columns x/y hold values like 385800, 6672000"),
        ("lon,lat", f"{LON},95", "columns lon/lat hold values like 24.94, 95"),
    ],
)
def test_csv_coordinates_that_are_not_degrees_are_named(tmp_path, header, row, needle):
    path = tmp_path / "m.csv"
    path.write_text(f"{header},rsrp_dbm\n{row},-80\n{row},-85\n")
    with pytest.raises(InputError) as err:
        read_measurements(path)
    text = str(err.value)
    assert needle in text, text
    assert "not degrees" in text and "longitude/latitude in degrees (EPSG:4326)" in text
    assert "GeoPackage/GeoJSON with its CRS" in text and "inside the grid" not in text
    assert err.value.parameter == "measurements"


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
