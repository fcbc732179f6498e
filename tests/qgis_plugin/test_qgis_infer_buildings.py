"""``radiomapgeo:inferbuildings`` through ``processing.run`` on the real Delft data.

The measurements are the ones the predict-from-measurements test uses (six RSRP values around
the Delft site "ne", written in EPSG:4326); the results are checked against the core's own run
(what ``radiomap-geo infer-buildings`` computes) on the grid the parameters ask for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("qgis.core")

from qgis_support import (  # noqa: E402
    DELFT_BOX,
    MEASURED_LEVELS,
    run_in_task,
    write_measurements,
)

pytestmark = pytest.mark.qgis

ALG = "radiomapgeo:inferbuildings"
RESOLUTION = 2.0


def _params(delft, tmp_path, measurements=None, **extra) -> dict:
    if measurements is None:
        measurements = write_measurements(tmp_path / "m.gpkg", MEASURED_LEVELS, ["ne"] * 6)
    return {
        "MEASUREMENTS": measurements,
        "VALUE_FIELD": "level",
        "SITES": delft["sites"],
        "EXTENT": delft["extent"],
        "CRS": "EPSG:28992",
        "RESOLUTION": RESOLUTION,
        "OUTPUT_PROBABILITY": str(tmp_path / "probability.tif"),
        "OUTPUT_FOOTPRINTS": str(tmp_path / "footprints.gpkg"),
        **extra,
    }


@pytest.fixture(scope="module")
def core_result(delft, tmp_path_factory):
    """The core's inference and footprints on the requested grid, without QGIS."""
    from radiomap_geo.inputs import make_grid
    from radiomap_geo.measurements.points import read_measurements
    from radiomap_geo.radiocycle.infer import infer_buildings
    from radiomap_geo.radiocycle.outputs import building_polygons

    path = write_measurements(
        tmp_path_factory.mktemp("core") / "m.gpkg", MEASURED_LEVELS, ["ne"] * 6
    )
    grid = make_grid(DELFT_BOX, RESOLUTION, bbox_crs="EPSG:28992", crs="EPSG:28992")
    result = infer_buildings(read_measurements(path, value_column="level"), delft["sites"], grid)
    return result, building_polygons(result.mask, result.probability, grid)


def test_raster_on_the_requested_grid_and_valid_footprints(
    qgis_app, delft, feedback, tmp_path, core_result
):
    import processing
    import rasterio
    from qgis.core import QgsPointXY, QgsRasterLayer, QgsRectangle, QgsVectorLayer

    expected, expected_polygons = core_result
    params = _params(delft, tmp_path)
    results = processing.run(ALG, params, feedback=feedback)
    assert results["OUTPUT_PROBABILITY"] == params["OUTPUT_PROBABILITY"]
    assert feedback.progress_values and max(feedback.progress_values) == pytest.approx(100.0)

    minx, miny, maxx, maxy = DELFT_BOX
    with rasterio.open(params["OUTPUT_PROBABILITY"]) as ds:
        assert ds.crs.to_epsg() == 28992
        assert (ds.width, ds.height) == ((maxx - minx) / RESOLUTION, (maxy - miny) / RESOLUTION)
        assert tuple(ds.transform)[:6] == (RESOLUTION, 0.0, minx, 0.0, -RESOLUTION, maxy)
        assert ds.descriptions == ("building_probability", "building_mask", "path_gain_db")
        probability, mask = ds.read(1), ds.read(2)
    np.testing.assert_allclose(probability, expected.probability, atol=1e-6)
    assert np.array_equal(mask == 1, probability >= 0.5)

    # A pixel lands where it should, as QGIS reads the file: the most probable cell's centre.
    raster = QgsRasterLayer(params["OUTPUT_PROBABILITY"], "probability")
    row, col = np.unravel_index(np.argmax(expected.probability), expected.probability.shape)
    x, y = minx + (col + 0.5) * RESOLUTION, maxy - (row + 0.5) * RESOLUTION
    value, found = raster.dataProvider().sample(QgsPointXY(x, y), 1)
    assert found and value == pytest.approx(float(expected.probability[row, col]), abs=1e-6)

    footprints = QgsVectorLayer(results["OUTPUT_FOOTPRINTS"], "footprints", "ogr")
    assert footprints.isValid() and footprints.crs().authid() == "EPSG:28992"
    assert {"mean_probability", "area_m2"} <= set(footprints.fields().names())
    features = list(footprints.getFeatures())
    assert len(features) == len(expected_polygons) > 0
    area = QgsRectangle(minx, miny, maxx, maxy)
    on_mask = []
    for feature in features:
        geometry = feature.geometry()
        assert not geometry.isEmpty() and geometry.isGeosValid(), feature.id()
        assert area.contains(geometry.boundingBox())
        assert feature["area_m2"] == pytest.approx(geometry.area(), rel=1e-4)
        point = geometry.pointOnSurface().asPoint()
        on_mask.append(raster.dataProvider().sample(point, 2)[0] == 1.0)
    # The footprints lie on the mask band (simplification may move an edge by half a cell).
    assert np.mean(on_mask) >= 0.8, on_mask


def test_outputs_are_styled_when_loaded(qgis_app, delft, feedback, tmp_path):
    """runAndLoadResults: probability ramp below, footprint outlines above, both switched on."""
    import processing
    from qgis.core import QgsProject, QgsSingleBandPseudoColorRenderer, QgsSingleSymbolRenderer

    project = QgsProject.instance()
    before = set(project.mapLayers())
    try:
        processing.runAndLoadResults(ALG, _params(delft, tmp_path), feedback=feedback)
        nodes = [
            node for node in project.layerTreeRoot().findLayers() if node.layer().id() not in before
        ]
        names = [Path(node.layer().source().split("|")[0]).name for node in nodes]
        assert names == ["footprints.gpkg", "probability.tif"]
        assert all(node.isVisible() for node in nodes)
        footprints, probability = (node.layer() for node in nodes)
        ramp = probability.renderer()
        assert isinstance(ramp, QgsSingleBandPseudoColorRenderer) and ramp.band() == 1
        assert (ramp.classificationMin(), ramp.classificationMax()) == (0.0, 1.0)
        assert "RadioCycle model 'radiocycle'" in probability.abstract()
        outline = footprints.renderer()
        assert isinstance(outline, QgsSingleSymbolRenderer)
        fill = outline.symbol().symbolLayer(0)
        assert fill.brushStyle() == 0 and fill.strokeColor().name() == "#d62728"  # no fill
        assert "no heights" in footprints.abstract()
    finally:
        project.removeMapLayers([i for i in project.mapLayers() if i not in before])


def test_runs_in_worker_threads_as_the_desktop_does(qgis_app, delft, feedback, tmp_path):
    """A background task (no FlagNoThreading), rerun at once: the same raster both times."""
    import rasterio
    from qgis.core import QgsApplication, QgsProcessingAlgorithm

    algorithm = QgsApplication.processingRegistry().algorithmById(ALG)
    assert not algorithm.flags() & QgsProcessingAlgorithm.FlagNoThreading
    assert algorithm.flags() & QgsProcessingAlgorithm.FlagCanCancel
    probabilities = []
    for run in ("first", "rerun"):
        folder = tmp_path / run
        folder.mkdir()
        ok, results = run_in_task(ALG, _params(delft, folder), feedback)
        assert ok, feedback.text
        with rasterio.open(results["OUTPUT_PROBABILITY"]) as ds:
            probabilities.append(ds.read(1))
    np.testing.assert_array_equal(*probabilities)


def _memory_points(field_type: str, values) -> object:
    """A point layer in memory with one ``level`` field of ``field_type`` (no file behind)."""
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    layer = QgsVectorLayer(f"Point?crs=EPSG:28992&field=level:{field_type}", "walk", "memory")
    features = []
    for i, value in enumerate(values):
        feature = QgsFeature(layer.fields())
        feature.setAttributes([value])
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(84950.0 + 10 * i, 447550.0)))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


@pytest.mark.parametrize(
    ("field_type", "values", "message"),
    [
        ("double", [], r"'Measurements \(points\)' \(MEASUREMENTS\): .*'walk' has no points"),
        (
            "string",
            ["strong", "weak", "-80"],
            r"\(VALUE_FIELD\): .*'walk'.*non-numeric values in column 'level'",
        ),
    ],
    ids=["empty layer", "text field"],
)
def test_bad_measurements_say_what_is_wrong_and_leave_no_files(
    qgis_app, delft, feedback, tmp_path, field_type, values, message
):
    import processing
    from qgis.core import QgsProcessingException

    layer = _memory_points(field_type, values)
    params = _params(delft, tmp_path, measurements=layer)
    with pytest.raises(QgsProcessingException, match=message):
        processing.run(ALG, params, feedback=feedback)
    assert not list(tmp_path.glob("probability*")) and not list(tmp_path.glob("footprints*"))


def test_cancel_stops_before_writing(qgis_app, delft, feedback, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    feedback.cancel()
    with pytest.raises(QgsProcessingException, match="Cancelled by the user"):
        processing.run(ALG, _params(delft, tmp_path), feedback=feedback)
    assert not list(tmp_path.glob("probability*")) and not list(tmp_path.glob("footprints*"))


@pytest.mark.parametrize("footprints", ["probability.tif", "other.tif"])
def test_footprints_output_that_is_a_raster_is_refused(
    qgis_app, delft, feedback, tmp_path, footprints
):
    import processing
    from qgis.core import QgsProcessingException

    (tmp_path / "other.tif").write_bytes(b"kept")
    params = _params(delft, tmp_path, OUTPUT_FOOTPRINTS=str(tmp_path / footprints))
    words = "also the probability raster" if footprints == "probability.tif" else "vector format"
    with pytest.raises(QgsProcessingException, match=f"OUTPUT_FOOTPRINTS.*{words}") as info:
        processing.run(ALG, params, feedback=feedback)
    assert "Traceback" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gpkg", "other.tif"]
    assert (tmp_path / "other.tif").read_bytes() == b"kept"


def test_default_cell_size_is_the_models(qgis_app):
    from qgis.core import QgsApplication

    from radiomap_geo.radiocycle.weights import DEFAULT_MODEL, available

    algorithm = QgsApplication.processingRegistry().algorithmById(ALG)
    trained = available()[DEFAULT_MODEL]["metadata"]["resolution_m"]
    assert algorithm.parameterDefinition("RESOLUTION").defaultValue() == trained
