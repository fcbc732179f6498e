"""``radiomap-geo predict-measurements`` / ``measurement-models`` on the bundled Helsinki sample."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from radiomap_geo.cli.main import cli
from radiomap_geo.sparse.model import DEFAULT_MEASUREMENT_MODEL as DEFAULT
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


def _args(repo_root, out, measurements, *more, command="predict-measurements", tx=True):
    sites = ["--tx-file", str(_sites(repo_root, out.parent.parent))] if tx else []
    return [
        command,
        "--bbox", BBOX,
        *sites,
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


@pytest.mark.skipif(DEFAULT not in read_measurement_index(), reason="no shipped model")
@pytest.mark.parametrize("command", ["predict", "predict-measurements"])
def test_predict_measurements_writes_exposure_and_uncertainty(tmp_path, repo_root, command):
    import rasterio

    points = _twelve_points(tmp_path)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "out.tif"
    args = _args(repo_root, out, points, "--value-kind", "rsrp", command=command)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        names = list(ds.descriptions)
        assert {"rsrp_dbm", "rx_power_dbm", "e_field_vpm", "rsrp_std_db"} <= set(names)
        assert ds.tags()["measurement_model"] == DEFAULT
    with rasterio.open(out) as ds:
        std = ds.read(names.index("rsrp_std_db") + 1)
        e = ds.read(names.index("e_field_vpm") + 1)
    assert 0.5 < float(np.nanmedian(std)) < 20.0 and float(np.nanmin(e)) >= 0.0
    again = CliRunner().invoke(cli, _args(repo_root, out, points, command=command))
    assert again.exit_code != 0 and "--overwrite" in again.output


def _twelve_points(folder):
    points = folder / "m.csv"
    rows = [f"{24.9420 + 0.0003 * i},{60.1688 + 0.0001 * (i % 5)},{-85 - i}" for i in range(12)]
    points.write_text("lon,lat,rsrp_dbm\n" + "\n".join(rows) + "\n")
    return points


@pytest.mark.skipif(DEFAULT not in read_measurement_index(), reason="no shipped model")
def test_predict_measurements_preview_shows_the_corrected_rsrp(tmp_path, repo_root, monkeypatch):
    import rasterio
    from PIL import Image

    import radiomap_geo.io.preview as preview

    shown = {}
    real = preview.write_preview

    def spy(path, result, **kw):
        shown.update(rsrp=result.bands["rsrp_dbm"].copy(), title=kw.get("title"))
        return real(path, result, **kw)

    monkeypatch.setattr(preview, "write_preview", spy)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "out.tif"
    args = _args(repo_root, out, _twelve_points(tmp_path), "--preview", command="predict")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    png = out.with_suffix(".png")
    assert f"wrote {png}" in result.output
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (880, 770)  # 8 x 7 in at 110 dpi
    with rasterio.open(out) as ds:
        rsrp = ds.read(list(ds.descriptions).index("rsrp_dbm") + 1)
    np.testing.assert_array_equal(shown["rsrp"], rsrp)  # the corrected band, not the geometry's
    assert "corrected by measurements" in shown["title"] and DEFAULT in shown["title"]


@pytest.mark.skipif("emgan" not in read_measurement_index(), reason="no shipped model")
def test_predict_measurements_without_tx_file_maps_the_total_site_free(tmp_path, repo_root):
    import rasterio

    from radiomap_geo.inputs import make_grid, prepare_inputs
    from radiomap_geo.predict import SceneSource

    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "out.tif"
    args = _args(repo_root, out, _twelve_points(tmp_path), "--preview", command="predict", tx=False)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    grid = make_grid(BBOX, 2.0)
    with rasterio.open(out) as ds:
        assert list(ds.descriptions) == ["rx_power_dbm", "rsrp_dbm", "rsrp_std_db", "e_field_vpm"]
        assert ds.crs == grid.crs and ds.shape == grid.shape
        assert ds.transform.almost_equals(grid.transform)
        assert ds.tags()["measurement_model"] == "emgan"
        bands = {name: ds.read(i + 1) for i, name in enumerate(ds.descriptions)}
    buildings = prepare_inputs(grid, None, repo_root / "sample_data" / "helsinki.osm.pbf").buildings
    outdoor = SceneSource(buildings).building_height(grid) <= 0
    assert 0.1 < outdoor.mean() < 0.9
    for name, band in bands.items():
        assert np.isfinite(band[outdoor]).all(), name
        assert np.isnan(band[~outdoor]).all(), name
    assert -140 < float(np.nanmedian(bands["rsrp_dbm"])) < -40
    assert float(np.nanmin(bands["e_field_vpm"])) > 0.0
    assert out.with_suffix(".png").stat().st_size > 0


@pytest.mark.parametrize(
    ("more", "code", "words"),
    [
        ((), 2, ["--tx-file", "--measurements"]),  # no --measurements: the sites are required
        (("--measurement-model", "emgan-geo"), 1, ["--measurement-model", "--tx-file", "emgan"]),
        (("--measurement-model", "radiocycle"), 1, ["--measurement-model", "--tx-file"]),
    ],
)
def test_predict_without_tx_file_refuses_what_needs_the_sites(
    tmp_path, repo_root, more, code, words
):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "out.tif"
    args = _args(repo_root, out, _twelve_points(tmp_path), *more, command="predict", tx=False)
    if not more:  # plain predict: drop --measurements and its file
        i = args.index("--measurements")
        del args[i : i + 2]
    result = CliRunner().invoke(cli, [*args, "--preview"])
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, (SystemExit, type(None))), repr(result.exception)
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output
    assert list((tmp_path / "out").iterdir()) == []


def test_measurement_models_lists_the_default_first():
    result = CliRunner().invoke(cli, ["measurement-models"])
    assert result.exit_code == 0
    if read_measurement_index():
        assert result.output.splitlines()[0].startswith(DEFAULT)


def test_train_measurements_continues_a_shipped_model_on_a_cosine_schedule(
    tmp_path, repo_root, monkeypatch
):
    from radiomap_geo.sparse.model import MeasurementModel

    monkeypatch.chdir(tmp_path)  # the geometry-prediction cache goes to ./runs
    start = read_measurement_index()[DEFAULT]["path"]
    args = ["train-measurements", str(repo_root / "data" / "radiomaps"), "--network", DEFAULT,
            "-o", str(tmp_path / "out"), "--steps", "2", "--batch-size", "2", "--max-maps", "2",
            "--lr", "1e-4", "--lr-schedule", "cosine", "--init-weights", str(start), "--quiet",
            "--second-traces", str(repo_root / "data" / "radiomaps-train-second")]  # fmt: skip
    if not (repo_root / "data" / "radiomaps-train-second" / "manifest.json").is_file():
        pytest.skip("no dataset traced twice")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "finished 2 steps" in result.output
    (weights,) = (tmp_path / "out" / DEFAULT).glob(f"{DEFAULT}-*.pt")
    training = MeasurementModel.from_file(weights).metadata["training"]
    assert training["init_weights"] == str(start) and training["lr_schedule"] == "cosine"
    assert training["lr"] == 1e-4 and training["steps_done"] == 2
    data = MeasurementModel.from_file(weights).metadata["training_data"]
    assert data["second_traces"].endswith("radiomaps-train-second") and data["maps"] == 2
    bad = CliRunner().invoke(cli, ["step" if a == "cosine" else a for a in args])
    assert bad.exit_code == 2 and "'step' is not one of 'constant', 'cosine'" in bad.output


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (
            "train-measurements",
            ["--out", "--steps", "--batch-size", "--max-maps", "--lr", "--seed"],
        ),
        ("ship-measurement-model", ["--to", "--val-maps", "--test-maps"]),
        ("evaluate-measurements", ["--split", "--max-maps", "--seed"]),
    ],
)
def test_measurement_commands_explain_their_options(command, flags):
    params = {p.opts[-1]: p for p in cli.commands[command].params}
    for flag in flags:
        assert len(params[flag].help or "") > 20, flag
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    if command == "train-measurements":
        assert "[default: runs/sparse]" in result.output
    if command == "evaluate-measurements":
        assert "test split;" not in result.output and "--split" in result.output.split("Options")[0]
