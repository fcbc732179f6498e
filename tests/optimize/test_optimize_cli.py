"""``radiomap-geo optimize`` end to end on the crafted street scene, and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

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


def _arg(args, flag):
    return args[args.index(flag) + 1]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["", "overwrite"])
@pytest.mark.parametrize(
    ("outputs", "words"),
    [
        (
            ["-o", "{o}/o6.gpkg", "--report", "{o}/o6.gpkg"],
            "--report: {o}/o6.gpkg is also the --output",
        ),
        (["-o", "{o}/o.gpkg", "--report", "{o}/sub/../o.gpkg"], "is also the --output file"),
        (["-o", "{tx}"], "--output: {tx} is the --tx-file input: writing there would replace it"),
        (
            ["-o", "{o}/o.gpkg", "--report", "{buildings}"],
            "--report: {buildings} is the --buildings",
        ),
        (
            ["-o", "{o}/o.gpkg", "--report", "{o}/o.png", "--preview"],
            "--preview: the preview PNG {o}/o.png is also the --report file",
        ),
    ],
    ids=[
        "report-is-output",
        "resolves-to-output",
        "output-is-tx-file",
        "report-is-buildings",
        "preview-is-report",
    ],
)
def test_an_output_equal_to_another_output_or_an_input_is_refused(
    tmp_path, street_files, outputs, words, overwrite
):
    """Before: exit 0 with the report written over the optimised sites (or an input)."""
    names = {
        "o": tmp_path,
        "tx": _arg(street_files, "--tx-file"),
        "buildings": _arg(street_files, "--buildings"),
    }
    inputs = {p: Path(p).read_bytes() for p in (names["tx"], names["buildings"])}
    args = [a.format(**names) for a in outputs]
    result = _run([*street_files, "--budget", "1", *args, *overwrite])
    assert result.exit_code == 1, result.output
    assert words.format(**names) in result.output
    assert "wrote" not in result.output and "Traceback" not in result.output
    assert {p.name for p in tmp_path.iterdir()} == {"buildings.gpkg", "sites.gpkg"}
    assert all(Path(p).read_bytes() == data for p, data in inputs.items())


@pytest.mark.parametrize(
    ("model", "reads"), [("unet-ndsm", "an nDSM"), ("unet-ortho", "an orthophoto and an nDSM")]
)
def test_a_model_that_reads_rasters_is_refused_naming_the_usable_ones(
    tmp_path, street_files, model, reads
):
    """Before: 'this model needs a normalised surface model: pass --ndsm' (optimize has none)."""
    out = tmp_path / "out.gpkg"
    result = _run([*street_files, "-o", out, "--model", model])
    assert result.exit_code == 1, result.output
    assert f"Error: --model: model '{model}' reads {reads}, and the optimisation takes no " in (
        result.output
    )
    assert "refused for now): use one of the networks unet-obs, " in result.output
    assert "or with method random one of 3gpp-uma, " in result.output
    assert "--ndsm" not in result.output and "Traceback" not in result.output
    listed = result.output.split("use one of", 1)[1]
    assert "unet-ndsm" not in listed and "unet-ortho" not in listed
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (
            ["--objective", "percentile", "--threshold-db", "5"],
            "--threshold-db does not apply to --objective percentile: it is read only with "
            "--objective sinr-coverage; drop --threshold-db or change --objective",
        ),
        (["--threshold-dbm", "-90"], "--threshold-dbm does not apply to --objective percentile"),
        (
            ["--objective", "sinr-coverage", "--percentile", "10"],
            "--percentile does not apply to --objective sinr-coverage",
        ),
        (
            ["--objective", "rsrp-coverage", "--threshold-db", "3"],
            "--threshold-db does not apply to --objective rsrp-coverage",
        ),
        (
            ["--objective", "sinr-coverage", "--temperature", "2"],
            "--temperature does not apply to --objective sinr-coverage: it is read only with "
            "--objective percentile",
        ),
        (["--slope", "2"], "--slope does not apply to --objective percentile"),
        (["--noise-figure", "5"], "--noise-figure does not apply to --objective percentile"),
        (
            ["--method", "random", "--starts", "2"],
            "--starts does not apply to --method random: it is read only with --method gradient "
            "or both; drop --starts or change --method",
        ),
        (["--method", "random", "--learning-rate", "0.1"], "--learning-rate does not apply"),
        (
            ["--method", "random", "--temperature", "2"],
            "--temperature does not apply to --method random",
        ),
        (
            ["--method", "random", "--objective", "rsrp-coverage", "--slope", "2"],
            "--slope does not apply to --method random",
        ),
        (
            ["--method", "gradient", "--seed", "3"],
            "--seed does not apply to --method gradient: it is read only with --method random "
            "or both, or --starts 2 or more",
        ),
        (["--power-span", "3"], "--power-span does not apply to --params azimuth,tilt"),
        (["--samples", "1000"], "--samples does not apply without --verify"),
    ],
)
def test_an_option_the_objective_or_method_does_not_read_is_refused(
    tmp_path, street_files, extra, words
):
    """Before: exit 0, the option silently ignored."""
    out = tmp_path / "out.gpkg"
    result = _run([*street_files, "-o", out, "--budget", "2", *extra])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert not out.exists() and list(tmp_path.glob("out*")) == []


def test_options_the_run_reads_are_accepted(tmp_path, street_files):
    out, report = tmp_path / "out.gpkg", tmp_path / "report.json"
    extra = "--objective sinr-coverage --threshold-db 5 --slope 2 --noise-figure 7 --method "
    extra += "gradient --starts 2 --seed 3 --learning-rate 0.1 --params azimuth,power "
    extra += "--power-span 3 --budget 2"
    result = _run([*street_files, *extra.split(), "-o", out, "--report", report])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["options"]["threshold_db"] == 5.0 and data["options"]["slope_db"] == 2.0
    assert data["options"]["seed"] == 3 and data["options"]["starts"] == 2
    assert data["options"]["limits"]["power_span_db"] == 3.0
    assert data["options"]["run"]["noise_figure_db"] == 7.0
    assert set(data["methods"]) == {"gradient"}


def test_the_default_cell_size_is_the_default_networks():
    """The command's --resolution default is the one the QGIS algorithm and the model use."""
    from radiomap_geo.cli.optimize import optimize
    from radiomap_geo.models.registry import get_model
    from radiomap_geo.optimize import RESOLUTION_M

    default = next(p for p in optimize.params if p.name == "resolution").default
    assert default == RESOLUTION_M == get_model().native_resolution_m
