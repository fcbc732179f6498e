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


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An (untrained) emgan-geo file: enough for the plumbing and the bad-input checks."""
    spec = NETWORKS["emgan-geo"]
    net = build_generator(spec.arch, len(spec.channels), **spec.arch_kwargs)
    meta = measurement_metadata(spec, net, metres_per_pixel=2.0, frequency_mhz=3500.0, name="t")
    path = save_measurement_model(net, meta, tmp_path_factory.mktemp("w"))
    return MeasurementModel.from_file(path)


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
