import logging

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from radiomap_geo.errors import InputError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.sites import Sites
from radiomap_geo.sparse.exposure import e_field_vpm
from radiomap_geo.sparse.model import MeasurementModel, measurement_metadata, save_measurement_model
from radiomap_geo.sparse.networks import NETWORKS, build_generator
from radiomap_geo.sparse.predict import predict_with_measurements

BBOX = "24.940,60.167,24.944,60.169"


@pytest.fixture(scope="module")
def scene():
    grid = Grid.from_bbox(BBox.parse(BBOX), 2.0)
    minx, miny, maxx, maxy = grid.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    blocks = [box(cx + 30, cy - 30, cx + 60, cy + 30), box(cx - 80, cy + 20, cx - 40, cy + 60)]
    buildings = gpd.GeoDataFrame({"height_m": [25.0, 15.0]}, geometry=blocks, crs=grid.crs)
    sites = Sites.from_records(
        [{"site_id": "A", "x": cx, "y": cy, "height_m": 20.0, "power_dbm": 43.0}], grid.crs
    )
    return grid, buildings, sites, (cx, cy)


def _untrained(network: str, name: str, folder) -> MeasurementModel:
    """An untrained measurement model file at 2 m, 3.5 GHz, read back."""
    spec = NETWORKS[network]
    net = build_generator(spec.arch, len(spec.channels), **spec.arch_kwargs)
    meta = measurement_metadata(spec, net, metres_per_pixel=2.0, frequency_mhz=3500.0, name=name)
    return MeasurementModel.from_file(save_measurement_model(net, meta, folder))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An (untrained) emgan-geo file: enough for the plumbing and the bad-input checks."""
    return _untrained("emgan-geo", "t", tmp_path_factory.mktemp("w"))


def _points(scene, values, offsets, crs=None, **columns):
    grid, _, _, (cx, cy) = scene
    frame = gpd.GeoDataFrame(
        {"rsrp_dbm": values, **columns},
        geometry=[Point(cx + dx, cy + dy) for dx, dy in offsets],
        crs=grid.crs,
    )
    return frame.to_crs(crs) if crs else frame


def _write(frame, path):
    frame.to_file(path)
    return path


def test_bands_and_exposure_from_measurements_in_another_crs(tmp_path, scene, model):
    grid, buildings, sites, _ = scene
    offs = [(-60, -60), (-20, -70), (10, -40), (-70, 0), (0, 70), (70, 70), (-30, -30)]
    path = _write(_points(scene, [-80.0] * len(offs), offs, crs="EPSG:4326"), tmp_path / "m.gpkg")
    result = predict_with_measurements(grid, sites, buildings, path, measurement_model=model)
    for band in ("rsrp_dbm", "rx_power_dbm", "best_server", "sinr_db", "e_field_vpm"):
        assert band in result.bands
    assert "rsrp_std_db" in result.bands  # NaN: this file has no calibration
    outdoor = np.isfinite(result["rx_power_dbm"])
    assert outdoor.mean() > 0.5
    expected = e_field_vpm(result["rx_power_dbm"][outdoor].astype(np.float64), 3500.0)
    np.testing.assert_allclose(result["e_field_vpm"][outdoor], expected, rtol=1e-4)
    assert result.metadata["measurements_dropped_outside"] == 0


def test_points_outside_are_dropped_with_a_count(tmp_path, scene, model, caplog):
    grid, buildings, sites, _ = scene
    offs = [(-60, -60), (10, -40), (5000, 5000)]
    path = _write(_points(scene, [-80.0, -85.0, -90.0], offs), tmp_path / "m.gpkg")
    with caplog.at_level(logging.WARNING):
        result = predict_with_measurements(grid, sites, buildings, path, measurement_model=model)
    assert result.metadata["measurements_dropped_outside"] == 1
    assert "1 of 3 points lie outside" in caplog.text


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("lon,lat,rsrp_dbm\n24.941,60.168,-80\n24.942,60.168,nan\n", "row 2"),
        ("lon,lat,rsrp_dbm\n24.941,60.168,-80\n24.942,60.168,strong\n", "row 2"),
        ("lon,lat,rsrp_dbm\n", "empty|no point|no rows"),
    ],
)
def test_bad_values_stop_naming_the_rows(tmp_path, scene, model, body, needle):
    grid, buildings, sites, _ = scene
    path = tmp_path / "m.csv"
    path.write_text(body)
    with pytest.raises(InputError, match=needle):
        predict_with_measurements(grid, sites, buildings, path, measurement_model=model)


def test_unknown_site_wrong_unit_and_all_outside_are_refused(tmp_path, scene, model):
    grid, buildings, sites, _ = scene
    frame = _points(scene, [-80.0, -82.0], [(-60, -60), (10, -40)], site_id=["A", "B"])
    with pytest.raises(InputError, match="site_id values \\['B'\\]"):
        predict_with_measurements(
            grid, sites, buildings, _write(frame, tmp_path / "s.gpkg"), measurement_model=model
        )
    frame = _points(scene, [-80.0, -82.0], [(-60, -60), (10, -40)])
    with pytest.raises(InputError) as err:
        predict_with_measurements(
            grid,
            sites,
            buildings,
            _write(frame, tmp_path / "u.gpkg"),
            value_unit="v/m",
            measurement_model=model,
        )
    assert err.value.parameter == "value_unit"
    far = _points(scene, [-80.0], [(9000, 9000)])
    with pytest.raises(InputError, match="none of the 1 points"):
        predict_with_measurements(
            grid, sites, buildings, _write(far, tmp_path / "f.gpkg"), measurement_model=model
        )


def test_a_coverage_network_is_not_a_measurement_model():
    from radiomap_geo.errors import WeightsError
    from radiomap_geo.models.registry import shipped_models

    entry = shipped_models().get("unet-obs")
    if entry is None:
        pytest.skip("no shipped unet-obs")
    with pytest.raises(WeightsError, match="not a measurement model"):
        MeasurementModel.from_file(entry["path"], entry["sha256"])


def test_regression_kriging_as_measurement_model_honours_the_points(tmp_path, scene):
    grid, buildings, sites, _ = scene
    offs = [(-60, -60), (-20, -70), (10, -40), (-70, 0), (0, 70), (70, 70), (-30, -30)]
    values = [-80.0, -85.0, -78.0, -90.0, -95.0, -99.0, -82.0]
    path = _write(_points(scene, values, offs), tmp_path / "m.gpkg")
    result = predict_with_measurements(
        grid, sites, buildings, path, measurement_model="regression-kriging"
    )
    assert result.metadata["measurement_model"] == "regression-kriging"
    x, y = _points(scene, values, offs).geometry.x, _points(scene, values, offs).geometry.y
    got = [result.value_at("rsrp_dbm", float(a), float(b)) for a, b in zip(x, y)]
    finite = np.isfinite(got)
    assert finite.sum() >= 5
    assert np.abs(np.asarray(got)[finite] - np.asarray(values)[finite]).max() < 1.0


# --- the audit's cases through the CLI, on the bundled Helsinki sample ------------------------

HELSINKI_BBOX = "24.9415,60.1684,24.9450,60.1700"  # around sites hel-01 and hel-02


def _helsinki_sites(repo_root, folder, power_dbm=None):
    """The sample's two sites inside HELSINKI_BBOX (hel-01 at ``power_dbm`` when given)."""
    sites = gpd.read_file(repo_root / "sample_data" / "sites.gpkg")
    sites = sites[sites["site_id"].isin(["hel-01", "hel-02"])].copy()
    if power_dbm is not None:
        sites.loc[sites["site_id"] == "hel-01", "power_dbm"] = power_dbm
    path = folder / "sites.gpkg"
    sites.to_file(path)
    return path


def _run_cli(tmp_path, repo_root, body, *more, power_dbm=None):
    """``predict --measurements`` of a CSV ``body``; the result and the output folder."""
    from click.testing import CliRunner

    from radiomap_geo.cli.main import cli

    points = tmp_path / "m.csv"
    points.write_text(body)
    out = tmp_path / "out"
    out.mkdir()
    args = [
        "predict",
        "--bbox", HELSINKI_BBOX,
        "--tx-file", str(_helsinki_sites(repo_root, tmp_path, power_dbm)),
        "--buildings", str(repo_root / "sample_data" / "helsinki.osm.pbf"),
        "--measurements", str(points),
        "-o", str(out / "out.tif"),
        "--quiet",
        *more,
    ]  # fmt: skip
    return CliRunner().invoke(cli, args), out


@pytest.mark.parametrize(
    ("body", "more", "needles"),
    [
        (  # +50 dBm RSRP: no phone reports that (the audit's wrong map)
            "lon,lat,rsrp_dbm\n24.943,60.169,-80\n24.944,60.169,50\n",
            (),
            ["row 2: column 'rsrp_dbm' holds 50 dBm, impossible for rsrp", "--value-kind"],
        ),
        (  # a path loss given as path gain
            "lon,lat,pl\n24.943,60.169,-90\n24.944,60.169,118\n24.944,60.1692,121\n",
            ("--value-column", "pl", "--value-kind", "path-gain"),
            ["rows 2, 3: column 'pl' holds 118..121 dB, impossible for path-gain"],
        ),
        (  # 350 V/m: far above any exposure limit
            "lon,lat,e\n24.943,60.169,0.5\n24.944,60.169,350\n",
            ("--value-column", "e", "--value-kind", "e-field", "--value-unit", "v/m"),
            ["row 2: column 'e' holds 350 V/m, impossible for e-field", "200 V/m"],
        ),
        (  # UTM metres in the lon/lat columns
            "lon,lat,rsrp_dbm\n385800,6672000,-80\n385900,6672050,-85\n",
            (),
            ["columns lon/lat hold values like 385800, 6672000: not degrees", "EPSG:4326"],
        ),
    ],
)
def test_impossible_values_and_coordinates_stop_the_cli_and_leave_nothing(
    tmp_path, repo_root, body, more, needles
):
    result, out = _run_cli(tmp_path, repo_root, body, *more)
    assert result.exit_code == 1, result.output
    for needle in needles:
        assert needle in result.output, result.output
    assert "Traceback" not in result.output and "inside the grid" not in result.output
    assert list(out.iterdir()) == []


def test_received_power_above_what_the_site_can_deliver_names_the_site(tmp_path, repo_root):
    # hel-01 at -10 dBm: even a 30 dBi antenna gives at most 20 dBm; 25 dBm is impossible there
    body = (
        "lon,lat,rx,site_id\n24.943,60.169,-60,hel-02\n24.944,60.169,25,hel-01\n"
        "24.9445,60.169,-30,hel-01\n"
    )
    more = ("--value-column", "rx", "--value-kind", "rx-power")
    result, out = _run_cli(tmp_path, repo_root, body, *more, power_dbm=-10.0)
    assert result.exit_code == 1, result.output
    assert "row 2: rx-power values up to 25 dBm for site 'hel-01'" in result.output
    assert "power_dbm -10 dBm + at most 30 dB antenna gain = 20 dBm" in result.output
    assert "Traceback" not in result.output and list(out.iterdir()) == []


def test_rsrp_above_the_site_power_is_refused_for_a_single_site(scene, model):
    grid, buildings, _, (cx, cy) = scene
    weak = Sites.from_records(
        [{"site_id": "W", "x": cx, "y": cy, "height_m": 20.0, "power_dbm": -30.0}], grid.crs
    )
    # RSRP -25 dBm is received power -25 + 27.9 = 2.9 dBm > -30 + 30 dB: impossible from W
    frame = _points(scene, [-80.0, -25.0], [(-60, -60), (10, -40)])
    with pytest.raises(InputError) as err:
        predict_with_measurements(grid, weak, buildings, frame, measurement_model=model)
    assert "row 2: rsrp values up to -25 dBm (received power up to 2.9 dBm)" in str(err.value)
    assert "site 'W'" in str(err.value) and err.value.parameter == "measurements"


def test_unknown_measurement_model_lists_every_valid_name(tmp_path, repo_root):
    from radiomap_geo.radiocycle.weights import available, is_radiocycle
    from radiomap_geo.sparse.model import read_measurement_index

    body = "lon,lat,rsrp_dbm\n24.943,60.169,-80\n"
    result, out = _run_cli(tmp_path, repo_root, body, "--measurement-model", "foo")
    assert result.exit_code == 1, result.output
    text = result.output
    assert "unknown measurement model 'foo'" in text
    expected = ["regression-kriging", "kriging", "idw", "knn", "random-forest", "net:PATH.pt"]
    expected += list(read_measurement_index())
    expected += [name for name in available() if is_radiocycle(name)]
    for name in expected:
        assert name in text, (name, text)
    assert "geometry" not in text  # not a measurement model for predict
    assert "Traceback" not in text and list(out.iterdir()) == []


def test_evaluate_still_resolves_baselines_and_refuses_unknown_names():
    from radiomap_geo.sparse.baselines import BASELINES
    from radiomap_geo.sparse.evaluate import resolve_method

    assert resolve_method("geometry") is BASELINES["geometry"]
    assert resolve_method("kriging") is BASELINES["kriging"]
    with pytest.raises(InputError, match="unknown measurement model 'foo'"):
        resolve_method("foo")


@pytest.fixture(scope="module")
def site_free_model_file(tmp_path_factory):
    """An (untrained) site-free emgan file at 2 m: enough for the written bands and tags."""
    return _untrained("emgan", "f", tmp_path_factory.mktemp("wf"))


@pytest.mark.parametrize("with_sites", [True, False])
def test_written_uncertainty_and_field_bands_carry_units_and_descriptions(
    tmp_path, scene, model, site_free_model_file, with_sites
):
    import rasterio

    grid, buildings, sites, _ = scene
    offs = [(-60, -60), (-20, -70), (10, -40), (-70, 0), (0, 70)]
    frame = _points(scene, [-80.0, -84.0, -78.0, -90.0, -95.0], offs)
    chosen = model if with_sites else site_free_model_file
    result = predict_with_measurements(
        grid, sites if with_sites else None, buildings, frame, measurement_model=chosen
    )
    path = result.write(tmp_path / "m.tif")
    with rasterio.open(path) as ds:
        names = list(ds.descriptions)
        tags = ds.tags()
        units = {name: ds.tags(i + 1).get("units") for i, name in enumerate(names)}
        assert ds.units[names.index("rsrp_std_db")] == "dB"
    assert units["rsrp_std_db"] == "dB" and units["e_field_vpm"] == "V/m"
    assert units["rsrp_dbm"] == "dBm"
    assert tags["description_rsrp_std_db"].startswith("1-sigma uncertainty")
    assert "dB" in tags["description_rsrp_std_db"]
    assert tags["description_e_field_vpm"].startswith("total RMS electric field")
    assert "V/m" in tags["description_e_field_vpm"]


def test_the_api_predict_coverage_takes_measurements(scene):
    """Issue #10's notebook contract: predict_coverage(..., measurements=gdf) is the map corrected
    by them (the same as predict_with_measurements), model naming the geometry network."""
    from radiomap_geo.api import predict_coverage

    grid, buildings, sites, (cx, cy) = scene
    offs = [(-60, -60), (-20, -70), (10, -40), (-70, 0), (0, 70), (70, 70), (-30, -30)]
    points = _points(scene, [-80.0] * len(offs), offs)
    plain = predict_coverage(grid, sites, buildings, model="3gpp-umi")
    corrected = predict_coverage(
        grid, sites, buildings, model="3gpp-umi", measurements=points, measurement_model="idw"
    )
    direct = predict_with_measurements(
        grid, sites, buildings, points, measurement_model="idw", geometry_model="3gpp-umi"
    )
    assert "rsrp_std_db" not in plain.bands and "rsrp_std_db" in corrected.bands
    np.testing.assert_array_equal(corrected["rsrp_dbm"], direct["rsrp_dbm"])
    x, y = cx - 20, cy - 70  # a measured point: honoured by the correction
    assert corrected.value_at("rsrp_dbm", x, y) == pytest.approx(-80.0, abs=0.5)
    assert abs(plain.value_at("rsrp_dbm", x, y) + 80.0) > 1.0
    with pytest.raises(InputError, match="not \\['ndsm'\\]"):
        predict_coverage(grid, sites, buildings, measurements=points, ndsm="n.tif")
