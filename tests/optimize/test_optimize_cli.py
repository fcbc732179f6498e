"""``radiomap-geo optimize`` end to end on the crafted street scene, and its bad inputs."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from click.testing import CliRunner
from shapely.geometry import Point, box

from radiomap_geo.cli.main import cli
from radiomap_geo.optimize.scenario import buildings_from_heights
from tests.optimize.conftest import SITE_COL, SITE_ROW


@pytest.fixture
def street_files(tmp_path, street_grid, street_heights):
    """Buildings and a two-sector sites table (with an extra column) as GeoPackages."""
    buildings = tmp_path / "buildings.gpkg"
    buildings_from_heights(street_heights, street_grid).to_file(buildings, driver="GPKG")
    x, y = (float(v) for v in street_grid.xy(SITE_ROW, SITE_COL))
    sites = gpd.GeoDataFrame(
        {
            "site_id": ["a", "b"],
            "height_m": [18.0, 18.0],
            "antenna": ["tr38901", "tr38901"],
            "azimuth_deg": [180.0, 300.0],
            "tilt_deg": [2.0, 2.0],
            "operator": ["acme", "acme"],
        },
        geometry=[Point(x, y), Point(x + 1.0, y)],
        crs=street_grid.crs,
    )
    sites_path = tmp_path / "sites.gpkg"
    sites.to_file(sites_path, driver="GPKG")
    minx, miny, maxx, maxy = street_grid.bounds
    common = [
        "--bbox",
        f"{minx},{miny},{maxx},{maxy}",
        "--bbox-crs",
        "EPSG:32635",
        "--crs",
        "EPSG:32635",
        "--tx-file",
        sites_path,
        "--buildings",
        buildings,
        "--quiet",
    ]
    return [str(v) for v in common]


def _run(args):
    return CliRunner().invoke(cli, ["optimize", *[str(a) for a in args]])


def test_optimize_writes_sites_report_and_preview(tmp_path, street_files):
    out, report = tmp_path / "out.gpkg", tmp_path / "report.json"
    result = _run([*street_files, "--budget", "3", "-o", out, "--report", report, "--preview"])
    assert result.exit_code == 0, result.output
    table = gpd.read_file(out)
    assert list(table["operator"]) == ["acme", "acme"] and list(table["site_id"]) == ["a", "b"]
    assert 120.0 <= table["azimuth_deg"][0] <= 240.0
    data = json.loads(report.read_text())
    assert set(data["methods"]) == {"gradient", "random"}
    assert data["methods"]["gradient"]["network_evaluations"] == 6  # 3 steps x 2 sectors
    assert data["target_cells"] == 6 * 96
    assert out.with_suffix(".png").stat().st_size > 10_000
    # never overwritten without --overwrite
    again = _run([*street_files, "--budget", "1", "-o", out])
    assert again.exit_code != 0 and "--overwrite" in again.output


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--objective", "coverage"], "'coverage' is not one of"),
        (["--budget", "0"], "--budget: budget 0"),
        (
            ["--model", "3gpp-uma", "--method", "gradient"],
            "--method: model '3gpp-uma' has no gradient",
        ),
        (["--params", "azimuth,height"], "--params: parameters"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, street_files, extra, words):
    out = tmp_path / "out.gpkg"
    result = _run([*street_files, "-o", out, *extra])
    assert result.exit_code != 0
    assert words in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.glob("out*")) == []


def test_isotropic_site_and_empty_target_area(tmp_path, street_files, street_grid):
    sites = gpd.read_file(street_files[street_files.index("--tx-file") + 1])
    sites.loc[1, "antenna"] = "iso"
    iso = tmp_path / "iso.gpkg"
    sites.to_file(iso, driver="GPKG")
    args = list(street_files)
    args[args.index("--tx-file") + 1] = str(iso)
    result = _run([*args, "-o", tmp_path / "o1.gpkg"])
    assert (
        result.exit_code != 0
        and "--params: site(s) ['b'] have no directional antenna" in result.output
    )
    minx, miny = street_grid.bounds[:2]
    far = tmp_path / "far.geojson"
    gpd.GeoDataFrame(
        geometry=[box(minx - 900, miny - 900, minx - 800, miny - 800)], crs=street_grid.crs
    ).to_file(far, driver="GeoJSON")
    result = _run([*street_files, "-o", tmp_path / "o2.gpkg", "--target-area", far])
    assert (
        result.exit_code != 0
        and "--target-area: the target area contains no outdoor" in result.output
    )
    assert not (tmp_path / "o1.gpkg").exists() and not (tmp_path / "o2.gpkg").exists()
