"""``radiomap-geo measurements``: inputs never overwritten, options and output names checked first,
plain messages, and fitted models that match none of a run's sites refused (real Ottawa walks).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from pyproj import Transformer

from radiomap_geo.cli.main import cli
from radiomap_geo.errors import InputError
from radiomap_geo.measurements.modelfile import load_fitted_model

MEASUREMENTS = ["measurements"]


def _run(*args: object):
    return CliRunner().invoke(cli, [*MEASUREMENTS, *map(str, args)])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    for word in words:
        assert word in result.output, result.output


@pytest.fixture(scope="module")
def ottawa(shared_data, tmp_path_factory) -> Path:
    """The uOttawa walks imported, their towers located, an LDPL model fitted (about 10 s)."""
    walks = sorted((shared_data / "ottawa_lte_walks" / "uottawa").glob("*.csv"))
    if not walks:
        pytest.skip("Ottawa walks not present")
    work = tmp_path_factory.mktemp("ottawa")
    steps = [
        ["import", *walks, "-o", work / "meas.gpkg"],
        ["locate", work / "meas.gpkg", "-o", work / "towers.gpkg", "--quiet"],
        ["fit", work / "meas.gpkg", "--towers", work / "towers.gpkg", "--method", "ldpl"],
    ]
    steps[-1] += ["-o", work / "model.pt"]
    for args in steps:
        result = _run(*args)
        assert result.exit_code == 0, result.output
    return work


@pytest.fixture
def inputs(ottawa) -> dict[str, str]:
    """The digests of the fixture's files, checked unchanged after each refusal."""
    return {name: _digest(ottawa / name) for name in ("meas.gpkg", "towers.gpkg", "model.pt")}


def _unchanged(ottawa: Path, inputs: dict[str, str]) -> None:
    assert {name: _digest(ottawa / name) for name in inputs} == inputs


# 1. an output path that is an input path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["locate", "{m}", "-o", "{m}", "--overwrite", "--quiet"], ["MEASUREMENTS"]),
        (["locate", "{m}", "-o", "{d}/sub/../meas.gpkg", "--overwrite"], ["MEASUREMENTS"]),
        (["fit", "{m}", "--towers", "{t}", "-o", "{t}", "--overwrite"], ["--towers"]),
        (["fit", "{m}", "--towers", "{t}", "-o", "{m}", "--overwrite"], ["MEASUREMENTS"]),
        (["import", "{t}", "-o", "{t}", "--overwrite"], ["FILES"]),
    ],
)
def test_an_input_is_never_the_output(ottawa, inputs, args, words):
    (ottawa / "sub").mkdir(exist_ok=True)
    spelled = [a.format(m=ottawa / "meas.gpkg", t=ottawa / "towers.gpkg", d=ottawa) for a in args]
    result = _run(*spelled)
    _refused(result, "Error: --output", "is the same file as", *words, "choose another output")
    _unchanged(ottawa, inputs)


def test_a_link_to_an_input_is_the_same_file(ottawa, inputs, tmp_path):
    link = tmp_path / "link.gpkg"
    link.symlink_to(ottawa / "meas.gpkg")
    result = _run("locate", ottawa / "meas.gpkg", "-o", link, "--overwrite", "--quiet")
    _refused(result, "--output", "MEASUREMENTS")
    assert link.is_symlink()
    _unchanged(ottawa, inputs)


def test_the_service_refuses_the_same_paths_for_other_front_ends(ottawa, inputs):
    from radiomap_geo.measurements.service import run_fit, run_import, run_locate

    meas, towers = ottawa / "meas.gpkg", ottawa / "towers.gpkg"
    calls = [
        (lambda: run_locate(meas, meas, overwrite=True), "measurements"),
        (lambda: run_fit(meas, towers, towers, method="ldpl", overwrite=True), "towers"),
        (lambda: run_import([towers], towers, overwrite=True), "files"),
    ]
    for call, name in calls:
        with pytest.raises(InputError, match=f"same file as the {name} path") as err:
            call()
        assert err.value.parameter == "output"
    _unchanged(ottawa, inputs)


# 2. numeric options checked before any work, with the ranges predict accepts


@pytest.mark.parametrize("height", ["-5", "0", "500.5", "nan"])
def test_locate_refuses_a_height_predict_would_refuse(ottawa, tmp_path, height):
    out = tmp_path / "deep" / "towers.gpkg"
    result = _run("locate", ottawa / "meas.gpkg", "-o", out, "--height", height)
    _refused(result, "Error: --height: antenna height", "(0, 500] m")
    assert not out.parent.exists()  # not even its folder


def test_the_height_range_is_the_one_of_sites_tables(ottawa):
    from radiomap_geo.errors import SitesError
    from radiomap_geo.measurements.drive_test import read_drive_test
    from radiomap_geo.measurements.locate import HEIGHT_RANGE_M, check_height, locate_towers
    from radiomap_geo.sites import Site

    low, high = HEIGHT_RANGE_M
    assert check_height(high) == 500.0
    Site("s", 0.0, 0.0, high).validate()
    for bad in (low, high + 0.1):
        with pytest.raises(SitesError):
            Site("s", 0.0, 0.0, bad).validate()
        with pytest.raises(InputError) as err:
            check_height(bad)
        assert err.value.parameter == "height_m"
    samples = read_drive_test(ottawa / "meas.gpkg").samples
    with pytest.raises(InputError, match="antenna height -5"):
        locate_towers(samples, height_m=-5.0)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["import", "{w}", "-o", "{o}.gpkg", "--bin-size", "inf"], "--bin-size: bin size"),
        (["import", "{w}", "-o", "{o}.gpkg", "--bin-size", "-10"], "--bin-size: bin size"),
        (["fit", "{m}", "--towers", "{t}", "-o", "{o}.pt", "--latent-dim", "0"], "--latent-dim"),
    ],
)
def test_numeric_options_are_checked_first(ottawa, shared_data, tmp_path, args, words):
    walk = sorted((shared_data / "ottawa_lte_walks" / "uottawa").glob("*.csv"))[0]
    out = tmp_path / "deep" / "out"
    values = {"w": walk, "m": ottawa / "meas.gpkg", "t": ottawa / "towers.gpkg", "o": out}
    result = _run(*[a.format(**values) for a in args])
    _refused(result, f"Error: {words}")
    assert not out.parent.exists()


def test_vae_epochs_and_min_samples_are_checked(ottawa, tmp_path):
    from radiomap_geo.measurements.service import run_fit

    with pytest.raises(InputError, match="VAE epochs must be >= 1, got 0") as err:
        run_fit(ottawa / "meas.gpkg", ottawa / "towers.gpkg", tmp_path / "m.pt", vae_epochs=0)
    assert err.value.parameter == "vae_epochs" and not (tmp_path / "m.pt").exists()
    args = ["crossval", ottawa / "meas.gpkg", "--towers", ottawa / "towers.gpkg"]
    result = _run(*args, "--min-samples", "-1")
    assert result.exit_code == 2 and "--min-samples" in result.output


# 3. output names the writer cannot write


@pytest.mark.parametrize(
    ("args", "name", "words"),
    [
        (["import", "{w}"], "i6.csv", "must end in .gpkg; use e.g. i6.gpkg"),
        (["import", "{w}"], "i7.geojson", "must end in .gpkg"),
        (["fit", "{m}", "--towers", "{t}"], "f5.txt", "must end in .pt; use e.g. f5.pt"),
        (["fit", "{m}", "--towers", "{t}"], "f6", "must end in .pt"),
        (["locate", "{m}"], "t.txt", ".gpkg, .geojson, .json, .fgb or .csv"),
        (["locate", "{m}"], "t.shp", ".gpkg, .geojson, .json, .fgb or .csv"),
    ],
)
def test_an_output_name_the_command_cannot_write_is_refused(
    ottawa, shared_data, tmp_path, args, name, words
):
    walk = sorted((shared_data / "ottawa_lte_walks" / "uottawa").glob("*.csv"))[0]
    values = {"w": walk, "m": ottawa / "meas.gpkg", "t": ottawa / "towers.gpkg"}
    out = tmp_path / name
    result = _run(*[a.format(**values) for a in args], "-o", out)
    _refused(result, f"Error: --output: cannot write {out}", words)
    assert list(tmp_path.iterdir()) == []


def test_every_output_name_that_is_allowed_is_read_back(ottawa, tmp_path):
    # locate writes every towers format it accepts as a --tx-file that fit and predict read
    from radiomap_geo.measurements.locate import read_towers
    from radiomap_geo.measurements.service import TOWERS_SUFFIXES, _write_towers
    from radiomap_geo.sites import read_sites

    towers = read_towers(ottawa / "towers.gpkg")
    for suffix in TOWERS_SUFFIXES:
        path = tmp_path / f"towers{suffix}"
        _write_towers(towers, path, overwrite=False)
        assert len(read_sites(path)) == len(towers) == 35
        assert sorted(read_towers(path)["site_id"]) == sorted(towers["site_id"])


# 4. an empty drive test: a plain message, built as every other


def test_an_empty_drive_test_is_named_plainly(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    out = tmp_path / "e.gpkg"
    result = _run("import", empty, "-o", out)
    _refused(result, f"Error: FILES: the drive-test files ['{empty}'] hold no rows: give files")
    assert "('the drive-test" not in result.output and not out.exists()
    from radiomap_geo.measurements.drive_test import import_drive_tests

    with pytest.raises(InputError) as err:
        import_drive_tests([empty])
    assert err.value.parameter == "files" and len(err.value.args) == 1


# 5. a fitted model none of whose cells is a site of the run


def _box_around(ottawa: Path, cell: str) -> tuple[str, tuple[float, float]]:
    towers = gpd.read_file(ottawa / "towers.gpkg").set_index("site_id")
    lon, lat = towers.geometry[cell].x, towers.geometry[cell].y
    to_utm = Transformer.from_crs(4326, 32618, always_xy=True)
    x, y = to_utm.transform(lon, lat)
    back = Transformer.from_crs(32618, 4326, always_xy=True)
    west, south = back.transform(x - 300, y - 300)
    east, north = back.transform(x + 300, y + 300)
    return f"{west},{south},{east},{north}", (lon, lat)


def _sites_csv(path: Path, rows: list[tuple[str, float, float]]) -> Path:
    lines = ["site_id,lon,lat,height_m"] + [f"{i},{lon},{lat},25" for i, lon, lat in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _predict(ottawa: Path, bbox: str, sites: Path, out: Path):
    args = ["predict", "--model", f"fitted:{ottawa / 'model.pt'}", "--tx-file", sites]
    args += ["--bbox", bbox, "--open-ground", "--resolution", "10", "--quiet", "-o", out]
    return CliRunner().invoke(cli, list(map(str, args)))


def test_a_fitted_model_matching_no_site_is_refused_before_any_output(ottawa, tmp_path):
    model, _ = load_fitted_model(ottawa / "model.pt")
    cell = sorted(model.cells)[0]
    bbox, (lon, lat) = _box_around(ottawa, cell)
    sites = _sites_csv(
        tmp_path / "other.csv", [("my-a", lon, lat), ("my-b", lon + 0.001, lat + 0.001)]
    )
    out = tmp_path / "x.tif"
    result = _predict(ottawa, bbox, sites, out)
    _refused(
        result,
        "Error: --tx-file: no site of this run is a cell of the fitted model fitted:model.pt",
        "'my-a', 'my-b'",
        cell,
        f"({len(model.cells)} cells)",
        "give the towers table the model was fitted with",
    )
    assert list(tmp_path.iterdir()) == [sites]


def test_a_fitted_model_matching_some_sites_warns_about_the_others(ottawa, tmp_path, caplog):
    model, _ = load_fitted_model(ottawa / "model.pt")
    cell = sorted(model.cells)[0]
    bbox, (lon, lat) = _box_around(ottawa, cell)
    sites = _sites_csv(tmp_path / "mixed.csv", [(cell, lon, lat), ("my-b", lon + 0.001, lat)])
    out = tmp_path / "y.tif"
    caplog.set_level(logging.WARNING)
    result = _predict(ottawa, bbox, sites, out)
    assert result.exit_code == 0, result.output
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("'my-b'" in w and "not fitted cells" in w for w in warnings) == 1
    assert not any("not a fitted cell" in w for w in warnings)  # said once, not per tile
    with rasterio.open(out) as src:
        rsrp = src.read(list(src.descriptions).index("rsrp_dbm") + 1)
    assert 0.2 < np.isfinite(rsrp).mean() and -140 < np.nanmax(rsrp) < -30
