"""``radiomap-geo predict-measurements`` / ``measurement-models`` on the bundled Helsinki sample."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from radiomap_geo.cli.main import cli
from radiomap_geo.sparse.model import read_measurement_index

BBOX = "24.9415,60.1684,24.9450,60.1700"  # around sites hel-01 and hel-02


def _sites(repo_root, folder):
    """The sample's two sites inside BBOX."""
    import geopandas as gpd

    path = folder / "sites.gpkg"
    if not path.exists():
        sites = gpd.read_file(repo_root / "sample_data" / "sites.gpkg")
        sites[sites["site_id"].isin(["hel-01", "hel-02"])].to_file(path)
    return path


def _args(repo_root, out, measurements, *more, command="predict-measurements"):
    return [
        command,
        "--bbox", BBOX,
        "--tx-file", str(_sites(repo_root, out.parent.parent)),
        "--buildings", str(repo_root / "sample_data" / "helsinki.osm.pbf"),
        "--resolution", "2",
        "--measurements", str(measurements),
        "-o", str(out),
        "--quiet",
        *more,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("lon,lat,rsrp_dbm\n24.943,60.169,-80\n24.944,60.169,\n", "row 2"),
        ("lon,lat,rsrp_dbm,site_id\n24.943,60.169,-80,hel-99\n", "hel-99"),
        ("lon,lat,level\n24.943,60.169,-80\n", "rsrp_dbm"),
    ],
)
def test_bad_measurement_files_stop_cleanly_and_leave_nothing(tmp_path, repo_root, body, needle):
    points = tmp_path / "m.csv"
    points.write_text(body)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "out.tif"
    result = CliRunner().invoke(cli, _args(repo_root, out, points))
    assert result.exit_code == 1, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.skipif("emgan-geo" not in read_measurement_index(), reason="no shipped model")
@pytest.mark.parametrize("command", ["predict", "predict-measurements"])
def test_predict_measurements_writes_exposure_and_uncertainty(tmp_path, repo_root, command):
    import rasterio

    points = tmp_path / "m.csv"
    rows = [f"{24.9420 + 0.0003 * i},{60.1688 + 0.0001 * (i % 5)},{-85 - i}" for i in range(12)]
    points.write_text("lon,lat,rsrp_dbm\n" + "\n".join(rows) + "\n")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "out.tif"
    args = _args(repo_root, out, points, "--value-kind", "rsrp", command=command)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        names = list(ds.descriptions)
        assert {"rsrp_dbm", "rx_power_dbm", "e_field_vpm", "rsrp_std_db"} <= set(names)
        assert ds.tags()["measurement_model"] == "emgan-geo"
    with rasterio.open(out) as ds:
        std = ds.read(names.index("rsrp_std_db") + 1)
        e = ds.read(names.index("e_field_vpm") + 1)
    assert 0.5 < float(np.nanmedian(std)) < 20.0 and float(np.nanmin(e)) >= 0.0
    again = CliRunner().invoke(cli, _args(repo_root, out, points, command=command))
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_measurement_models_lists_the_default_first():
    result = CliRunner().invoke(cli, ["measurement-models"])
    assert result.exit_code == 0
    if read_measurement_index():
        assert result.output.splitlines()[0].startswith("emgan-geo")
