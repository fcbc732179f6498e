"""``radiomapgeo:fitmeasurements`` through ``processing.run`` in a headless QGIS."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qgis.core")

pytestmark = pytest.mark.qgis

ALG = "radiomapgeo:fitmeasurements"
TOWER = (431000.0, 5030000.0)  # UTM 18N (Ottawa)


def _points(path, with_signal=True):
    import geopandas as gpd
    from pyproj import Transformer

    rng = np.random.default_rng(3)
    xs, ys = np.meshgrid(np.arange(-240, 240, 8.0), [-120.0, 60.0, 160.0])
    x, y = xs.ravel() + TOWER[0], ys.ravel() + TOWER[1]
    d = np.sqrt((x - TOWER[0]) ** 2 + (y - TOWER[1]) ** 2 + 25.0**2)
    lon, lat = Transformer.from_crs(32618, 4326, always_xy=True).transform(x, y)
    table = {
        "mcc": 302,
        "mnc": 720,
        "lac": 29100,
        "cellid": 2561,
        "ta": np.floor(d / 78.12),
        "measured_at": 1610209931784 + 5000 * np.arange(len(x)),
    }
    if with_signal:
        table["signal"] = np.round(-20 - 33 * np.log10(d) + rng.normal(0, 2, len(d)))
    gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(lon, lat), crs=4326).to_file(path)
    return str(path)


def test_fit_locates_towers_and_writes_a_loadable_model(qgis_app, feedback, tmp_path):
    import processing
    from pyproj import Transformer

    from radiomap_geo.measurements.modelfile import load_fitted_model
    from radiomap_geo.sites import read_sites

    outputs = {"OUTPUT_MODEL": str(tmp_path / "m.pt"), "OUTPUT_TOWERS": str(tmp_path / "t.gpkg")}
    params = {"MEASUREMENTS": _points(tmp_path / "walk.gpkg"), "METHOD": "ldpl", **outputs}
    results = processing.run(ALG, params, feedback=feedback)
    assert {k: results[k] for k in outputs} == outputs
    model, digest = load_fitted_model(outputs["OUTPUT_MODEL"])
    assert model.method == "ldpl" and "302-720-29100-2561" in model.cells and len(digest) == 64
    site = read_sites(outputs["OUTPUT_TOWERS"])[0]  # the towers table is a valid sites table
    x, y = Transformer.from_crs(4326, 32618, always_xy=True).transform(site.x, site.y)
    assert np.hypot(x - TOWER[0], y - TOWER[1]) < 40.0


def test_missing_signal_column_names_the_layer(qgis_app, feedback, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    params = {
        "MEASUREMENTS": _points(tmp_path / "nosignal.gpkg", with_signal=False),
        "OUTPUT_MODEL": str(tmp_path / "m.pt"),
        "OUTPUT_TOWERS": str(tmp_path / "t.gpkg"),
    }
    with pytest.raises(QgsProcessingException, match="MEASUREMENTS.*signal column"):
        processing.run(ALG, params, feedback=feedback)
    assert not (tmp_path / "m.pt").exists()


def _fails(params, feedback, match):
    """Run, expect a readable QgsProcessingException matching ``match``; return its text."""
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=match) as info:
        processing.run(ALG, params, feedback=feedback)
    message = str(info.value)
    assert "Traceback" not in message and "Traceback" not in feedback.text
    return message


def test_empty_layer_is_refused_up_front(qgis_app, feedback, tmp_path):
    import geopandas as gpd

    empty = gpd.read_file(_points(tmp_path / "walk.gpkg")).iloc[:0]
    empty.to_file(tmp_path / "empty.gpkg")
    out = tmp_path / "out"
    params = {
        "MEASUREMENTS": str(tmp_path / "empty.gpkg"),
        "OUTPUT_MODEL": str(out / "m.pt"),
        "OUTPUT_TOWERS": str(out / "t.gpkg"),
    }
    message = _fails(params, feedback, "MEASUREMENTS.*'empty'.*no features")
    assert "pyogrio" not in message and "fid" not in message
    assert not out.exists() or not list(out.iterdir())


def test_text_fid_field_is_no_obstacle(qgis_app, feedback, tmp_path):
    """A CSV layer with a text 'fid' column (a GeoPackage refuses one) fits like any other."""
    import geopandas as gpd
    import processing
    from qgis.core import QgsVectorLayer

    frame = gpd.read_file(_points(tmp_path / "walk.gpkg"))
    frame.insert(0, "fid", [f"row{i}" for i in range(len(frame))])
    frame["lon"], frame["lat"] = frame.geometry.x, frame.geometry.y
    frame.drop(columns="geometry").to_csv(tmp_path / "walk.csv", index=False)
    uri = f"file://{tmp_path / 'walk.csv'}?delimiter=,&xField=lon&yField=lat&crs=EPSG:4326"
    layer = QgsVectorLayer(uri, "walk csv", "delimitedtext")
    assert layer.isValid() and layer.featureCount() == len(frame)
    params = {
        "MEASUREMENTS": layer,
        "METHOD": "ldpl",
        "OUTPUT_MODEL": str(tmp_path / "m.pt"),
        "OUTPUT_TOWERS": str(tmp_path / "t.gpkg"),
    }
    processing.run(ALG, params, feedback=feedback)
    assert (tmp_path / "m.pt").exists() and (tmp_path / "t.gpkg").exists()


def test_unexpected_error_is_one_line_without_traceback(qgis_app, feedback):
    """Any error that is not the library's (a bug) reaches the user as one line."""
    import processing
    from qgis.core import QgsProcessingException
    from radiomap_geo_qgis.algorithms.common import RadiomapAlgorithm

    class Broken(RadiomapAlgorithm):
        NAME = DISPLAY_NAME = "broken"

        def initAlgorithm(self, config=None):  # noqa: N802
            pass

        def process(self, api, parameters, context, feedback):
            raise RuntimeError("first line\nsecond line")

    with pytest.raises(QgsProcessingException) as info:
        processing.run(Broken(), {}, feedback=feedback)
    message = str(info.value)
    assert "RuntimeError: first line" in message and "bug" in message
    assert "Traceback" not in message and "second line" not in message
    assert "Traceback" not in feedback.text


def test_one_file_for_both_outputs_is_refused_before_writing(qgis_app, feedback, tmp_path):
    params = {
        "MEASUREMENTS": _points(tmp_path / "walk.gpkg"),
        "METHOD": "ldpl",
        "OUTPUT_MODEL": str(tmp_path / "same.gpkg"),
        "OUTPUT_TOWERS": str(tmp_path / "same.gpkg"),
    }
    _fails(params, feedback, "OUTPUT_MODEL.*OUTPUT_TOWERS.*same file")
    assert not (tmp_path / "same.gpkg").exists()


def test_input_layer_as_model_output_leaves_no_towers(qgis_app, feedback, tmp_path):
    walk = _points(tmp_path / "walk.gpkg")
    before = (tmp_path / "walk.gpkg").read_bytes()
    params = {
        "MEASUREMENTS": walk,
        "METHOD": "ldpl",
        "OUTPUT_MODEL": walk,
        "OUTPUT_TOWERS": str(tmp_path / "t.gpkg"),
    }
    message = _fails(params, feedback, "OUTPUT_MODEL")
    assert "same file" in message and "MEASUREMENTS" in message
    assert not (tmp_path / "t.gpkg").exists()
    assert (tmp_path / "walk.gpkg").read_bytes() == before


def test_towers_output_as_input_layer_is_refused(qgis_app, feedback, tmp_path):
    walk = _points(tmp_path / "walk.gpkg")
    params = {
        "MEASUREMENTS": walk,
        "METHOD": "ldpl",
        "OUTPUT_MODEL": str(tmp_path / "m.pt"),
        "OUTPUT_TOWERS": walk,
    }
    _fails(params, feedback, "OUTPUT_TOWERS.*same file.*MEASUREMENTS")
    assert not (tmp_path / "m.pt").exists()


def test_messages_and_metadata_name_the_layer_not_temporary_files(qgis_app, feedback, tmp_path):
    import processing

    from radiomap_geo.measurements.modelfile import load_fitted_model

    params = {
        "MEASUREMENTS": _points(tmp_path / "nosignal.gpkg", with_signal=False),
        "OUTPUT_MODEL": str(tmp_path / "m.pt"),
        "OUTPUT_TOWERS": str(tmp_path / "t.gpkg"),
    }
    message = _fails(params, feedback, "signal column")
    assert "radiomap-fit-" not in message
    assert f"'nosignal' ({tmp_path / 'nosignal.gpkg'})" in message
    assert not (tmp_path / "t.gpkg").exists()

    walk = _points(tmp_path / "walk.gpkg")
    params = {**params, "MEASUREMENTS": walk, "METHOD": "ldpl"}
    processing.run(ALG, params, feedback=feedback)
    model, _ = load_fitted_model(params["OUTPUT_MODEL"])
    assert model.metadata["measurements"] == f"the layer 'walk' ({walk})"


def test_known_towers_layer_is_used_and_written_back(qgis_app, feedback, tmp_path):
    import processing

    from radiomap_geo.sites import read_sites

    walk = _points(tmp_path / "walk.gpkg")
    first = {"OUTPUT_MODEL": str(tmp_path / "a.pt"), "OUTPUT_TOWERS": str(tmp_path / "a.gpkg")}
    processing.run(ALG, {"MEASUREMENTS": walk, "METHOD": "ldpl", **first}, feedback=feedback)
    params = {
        "MEASUREMENTS": walk,
        "TOWERS": first["OUTPUT_TOWERS"],
        "METHOD": "ldpl",
        "OUTPUT_MODEL": str(tmp_path / "b.pt"),
        "OUTPUT_TOWERS": str(tmp_path / "b.gpkg"),
    }
    processing.run(ALG, params, feedback=feedback)
    assert [s.site_id for s in read_sites(params["OUTPUT_TOWERS"])] == [
        s.site_id for s in read_sites(first["OUTPUT_TOWERS"])
    ]
