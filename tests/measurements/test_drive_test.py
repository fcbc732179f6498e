"""Drive-test import: every format, malformed rows dropped and counted, bins, atomic output."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner

from radiomap_geo.cli.main import cli
from radiomap_geo.errors import InputError
from radiomap_geo.measurements.drive_test import import_drive_tests, read_drive_test

HEADER = "mcc,mnc,lac,cellid,lat,lon,signal,measured_at,rating,speed,direction,act,ta,psc,tac,pci"
GOOD = [
    "302,720,29100,9751830,45.4130222,-75.6979319,-86,1598796852000,12.9,4.06,64.1,LTE+,1,,29100,269",
    "302,720,29100,9751830,45.4130232,-75.6979329,-90,1598796859843,36.1,0.40,75.2,LTE+,1,,29100,269",
    "302,720,29100,9751831,45.4140864,-75.6976594,-95,1598796869843,36.1,0.40,75.2,LTE+,2,,29100,269",
]
BAD = [
    "302,720,29100,9751830,abc,-75.69,-86,1598796852000,1,1,1,LTE,1,,29100,269",  # position
    "302,720,29100,9751830,0,0,-86,1598796852000,1,1,1,LTE,1,,29100,269",  # null island
    "302,720,29100,9751830,45.41,-75.69,12,1598796852000,1,1,1,LTE,1,,29100,269",  # ASU, not dBm
    "302,720,29100,9751830,45.41,-75.69,,1598796852000,1,1,1,LTE,1,,29100,269",  # no signal
    "302,720,29100,,45.41,-75.69,-86,1598796852000,1,1,1,LTE,1,,29100,269",  # no cell
]


def _opencellid(tmp_path, rows, name="ocid.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_opencellid_csv_keeps_identity_and_counts_malformed_rows(tmp_path):
    path = _opencellid(tmp_path, GOOD + BAD + GOOD[:1])
    dt = import_drive_tests([path], filters=False)
    r = dt.report
    assert r.rows_read == 9 and r.removed["duplicates"] == 1 and r.kept == 3
    assert r.dropped == {
        "without a valid position": 2,
        "without a plausible RSRP (-140..-44 dBm)": 2,
        "without a cell id": 1,
    }
    s = dt.samples
    assert set(s.cell) == {"302-720-29100-9751830", "302-720-29100-9751831"}
    assert set(s.site) == {"302-720-38093"}  # eNodeB = cellid // 256
    assert list(s.ta) == [1, 1, 2] and s.pci.iloc[0] == 269
    assert str(s.time.iloc[0]) == "2020-08-30 14:14:12+00:00"
    assert s.speed.iloc[0] == pytest.approx(4.06)
    # The two samples of cell ...830 are 0.1 m apart: one 10 m bin, mean and variance of both.
    b = dt.bins[dt.bins.cell == "302-720-29100-9751830"]
    assert len(b) == 1 and b["count"].iloc[0] == 2
    assert b.rsrp_mean.iloc[0] == -88 and b.rsrp_var.iloc[0] == pytest.approx(8.0)
    assert dt.bins.crs.to_epsg() == 32618  # UTM 18N for Ottawa


def test_plain_csv_geojson_and_gpkg_in_other_crs(tmp_path):
    csv = tmp_path / "plain.csv"
    csv.write_text("lon,lat,rsrp_dbm,cellid\n-75.69,45.41,-80,2561\n-75.69,45.41,nan,2561\n")
    pts = gpd.GeoDataFrame(
        {"rsrp_dbm": [-85.0, -300.0], "cellid": [2562, 2562], "ta": [1, 1]},
        geometry=gpd.points_from_xy([-75.6901, -75.69], [45.4101, 45.41]),
        crs=4326,
    ).to_crs(3857)
    pts.to_file(tmp_path / "pts.gpkg")
    pts.to_crs(4326).to_file(tmp_path / "pts.geojson")
    dt = import_drive_tests([csv, tmp_path / "pts.gpkg", tmp_path / "pts.geojson"], filters=False)
    assert dt.report.dropped["without a plausible RSRP (-140..-44 dBm)"] == 3
    assert dt.report.removed["duplicates"] == 1  # the GeoJSON repeats the GeoPackage's point
    lon = dt.samples[dt.samples.cellid == 2562].geometry.x.iloc[0]
    assert lon == pytest.approx(-75.6901, abs=1e-7)  # EPSG:3857 read back to lon/lat


def test_unreadable_and_empty_inputs_are_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        import_drive_tests([tmp_path / "missing.csv"])
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="needs a position"):
        import_drive_tests([other])
    only_bad = _opencellid(tmp_path, BAD)
    with pytest.raises(InputError, match="no valid samples"):
        import_drive_tests([only_bad])


def test_cli_import_writes_layers_and_refuses_overwrite(tmp_path):
    path = _opencellid(tmp_path, GOOD + BAD)
    out = tmp_path / "m.gpkg"
    runner = CliRunner()
    result = runner.invoke(cli, ["measurements", "import", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 rows read" not in result.output and "8 rows read" in result.output
    dt = read_drive_test(out)
    assert len(dt.samples) == 3 and dt.bin_size == 10.0
    again = runner.invoke(cli, ["measurements", "import", str(path), "-o", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    bad = runner.invoke(
        cli,
        ["measurements", "import", str(path), "-o", str(tmp_path / "x.gpkg"), "--bin-size", "0"],
    )
    assert bad.exit_code == 1 and "--bin-size" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "x.gpkg").exists()


def test_ottawa_walks_import(shared_data):
    files = sorted((shared_data / "ottawa_lte_walks").glob("*/*.csv"))
    if not files:
        pytest.skip("Ottawa walks not present")
    dt = import_drive_tests(files)
    r = dt.report
    assert r.rows_read == 2621 and r.cells == 99
    outliers = r.removed["position_outliers"] + r.removed["rsrp_outliers"]
    assert 0 < outliers < 0.15 * r.rows_read
    assert (dt.bins["count"] >= 1).all() and np.isfinite(dt.bins.rsrp_mean).all()
