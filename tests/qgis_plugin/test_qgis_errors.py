"""Bad inputs end as a ``QgsProcessingException`` with a message a GIS user can act on."""

from __future__ import annotations

import re
import sys

import pytest

pytest.importorskip("qgis.core")

from qgis_support import DELFT_BOX, qgis_extent  # noqa: E402

pytestmark = pytest.mark.qgis

ALG = "radiomapgeo:predictcoverage"


def fails(params, feedback, match):
    """Run the algorithm, expect a readable error matching ``match``, return the message."""
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=match) as info:
        processing.run(ALG, params, feedback=feedback)
    message = str(info.value)
    assert "Traceback" not in message and "Traceback" not in feedback.text
    return message


def memory_sites(fields="field=height_m:double", points=(), crs="EPSG:28992"):
    """A memory point layer with ``points`` = [(x, y, [attributes])]."""
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    layer = QgsVectorLayer(f"Point?crs={crs}&{fields}", "test sites", "memory")
    features = []
    for x, y, attributes in points:
        feature = QgsFeature(layer.fields())
        feature.setAttributes(list(attributes))
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
        features.append(feature)
    if features:
        assert layer.dataProvider().addFeatures(features)[0]
    return layer


@pytest.fixture
def params(delft, outputs):
    return {
        "SITES": delft["sites"],
        "BUILDINGS": delft["buildings"],
        "EXTENT": delft["extent"],
        "RESOLUTION": 10.0,
        **outputs,
    }


def test_empty_sites_layer(qgis_app, params, feedback):
    layer = memory_sites()
    try:
        message = fails({**params, "SITES": layer}, feedback, "no transmitters")
    finally:
        del layer
    assert "test sites" in message


def test_sites_without_height(qgis_app, params, feedback):
    layer = memory_sites("field=name:string", [(84900.0, 447500.0, ["a"])])
    try:
        fails({**params, "SITES": layer}, feedback, "height_m")
    finally:
        del layer


def test_geographic_working_crs(qgis_app, params, feedback):
    message = fails({**params, "CRS": "EPSG:4326"}, feedback, "geographic")
    assert "metres" in message
    assert "(CRS)" in message and "--crs" not in message  # CLI options named as parameters


def test_sites_outside_the_area(qgis_app, params, feedback):
    minx, miny, maxx, maxy = DELFT_BOX
    small = qgis_extent((minx, miny, minx + 60, miny + 60), "EPSG:28992")
    message = fails({**params, "EXTENT": small}, feedback, "outside the area")
    assert "'ne'" in message and "(SITES)" in message and "Enlarge the area" in message


def test_extent_without_buildings(qgis_app, params, feedback):
    # 5 km east of the Delft footprints, with a site inside that extent.
    minx, miny, maxx, maxy = DELFT_BOX
    far = (minx + 5000, miny, maxx + 5000, maxy)
    layer = memory_sites(points=[(far[0] + 100, far[1] + 100, [20.0])])
    try:
        message = fails(
            {**params, "SITES": layer, "EXTENT": qgis_extent(far, "EPSG:28992")},
            feedback,
            "no footprints inside the area",
        )
    finally:
        del layer
    assert "bgt_pand" in message or "buildingpart" in message
    # Extents at a useful precision: the grid's bounds to 0.1 m, then its CRS.
    assert re.search(r"inside the area \d+\.\d, \d+\.\d, \d+\.\d, \d+\.\d \(EPSG:32631\)", message)


def test_no_buildings_and_no_download(qgis_app, params, feedback):
    fails(
        {**params, "BUILDINGS": None, "DOWNLOAD_OSM": False},
        feedback,
        "OpenStreetMap is switched off",
    )


def test_osm_cache_only_without_cache(qgis_app, params, feedback, tmp_path):
    message = fails(
        {**params, "BUILDINGS": None, "OSM_CACHE_ONLY": True, "OSM_CACHE_DIR": str(tmp_path)},
        feedback,
        "no cached OSM download",
    )
    assert str(tmp_path) in message


def test_non_tif_output(qgis_app, params, feedback, tmp_path):
    fails({**params, "OUTPUT_RSRP": str(tmp_path / "rsrp.png")}, feedback, "GeoTIFF")


def test_missing_radiomap_geo(qgis_app, params, feedback, monkeypatch):
    # As if radiomap-geo were not installed in QGIS's Python.
    monkeypatch.setitem(sys.modules, "radiomap_geo.api", None)
    message = fails(params, feedback, "could not be imported")
    assert "python3 -m pip install radiomap-geo" in message


def test_unknown_model_is_refused_by_qgis(qgis_app, params, feedback):
    # The enum only accepts the names list_models() gave at start-up.
    fails({**params, "MODEL": "no-such-model"}, feedback, "MODEL")


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"RX_HEIGHT": 0.0}, ["'Receiver height above ground (m)' (RX_HEIGHT)", "above 0"]),
        ({"BANDWIDTH": 7.0}, ["(BANDWIDTH)", "use one of"]),
        ({"TECHNOLOGY": "lte", "SUBCARRIER_SPACING": "30"}, ["(SUBCARRIER_SPACING)", "LTE"]),
        ({"DEFAULT_HEIGHT": 0.0}, ["(DEFAULT_HEIGHT)", "above 0"]),
    ],
)
def test_core_errors_name_the_parameter(qgis_app, params, feedback, changes, words):
    """The core says which option was wrong; the plugin names it with its label, no regex."""
    message = fails({**params, **changes}, feedback, re.escape(words[0]))
    for word in words[1:]:
        assert word in message
    assert "--" not in message  # no command-line flag in a QGIS message


def test_model_list_says_why_networks_are_missing(qgis_app, tmp_path, monkeypatch):
    from radiomap_geo_qgis.algorithms.convert import available_models

    (tmp_path / "index.json").write_text("{not json")
    monkeypatch.setenv("RADIOMAP_GEO_WEIGHTS", str(tmp_path))
    listing = available_models()
    assert "3gpp-uma" in listing.names and "unet-obs" not in listing.names
    assert listing.problem is not None and "index.json" in listing.problem


def test_null_power_is_refused_not_defaulted(qgis_app, params, feedback):
    layer = memory_sites(
        "field=height_m:double&field=power_dbm:double", [(84900.0, 447500.0, [20.0, None])]
    )
    try:
        message = fails({**params, "SITES": layer}, feedback, "power_dbm is empty")
    finally:
        del layer
    assert "(SITES)" in message and "43" in message


def test_open_ground_with_a_buildings_layer(qgis_app, params, feedback):
    fails({**params, "OPEN_GROUND": True}, feedback, "open ground")


def test_open_ground_runs_without_buildings_or_download(qgis_app, params, feedback, tmp_path):
    # an empty cache in cache-only mode: any download attempt would fail the run
    import processing
    import rasterio

    cache = tmp_path / "osm-cache"
    cache.mkdir()
    run = {**params, "BUILDINGS": None, "OPEN_GROUND": True}
    run.update({"OSM_CACHE_ONLY": True, "OSM_CACHE_DIR": str(cache)})
    result = processing.run(ALG, run, feedback=feedback)
    assert "open ground" in feedback.text and not any(cache.iterdir())
    with rasterio.open(result["OUTPUT_RSRP"]) as ds:
        rsrp = ds.read(1, masked=True)
    assert rsrp.count() > 0.5 * rsrp.size and -140 < float(rsrp.mean()) < -30
