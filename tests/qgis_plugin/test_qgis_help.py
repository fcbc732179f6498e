"""What the toolbox shows without running anything: tags, labels, the model help, messages."""

from __future__ import annotations

import pytest

pytest.importorskip("qgis.core")

pytestmark = pytest.mark.qgis

COVERAGE = ("radiomapgeo:predictcoverage", "radiomapgeo:raytracecoverage")


def algorithm(algorithm_id):
    from qgis.core import QgsApplication

    found = QgsApplication.processingRegistry().algorithmById(algorithm_id)
    assert found is not None, algorithm_id
    return found


@pytest.mark.parametrize("algorithm_id", COVERAGE)
def test_tags_and_labels(qgis_app, algorithm_id):
    found = algorithm(algorithm_id)
    tags = set(found.tags())
    assert {"rsrp", "sinr", "coverage", "propagation", "5g", "lte", "exposure", "emf"} <= tags
    if algorithm_id.endswith("raytracecoverage"):
        assert "ray tracing" in tags
    labels = [p.description() for p in found.parameterDefinitions()]
    # QGIS appends " [optional]" itself: a label must not say it again.
    assert not [label for label in labels if "optional)" in label.lower()]
    # One way to per-site path gain: the optional raster output, no second checkbox.
    names = [p.name() for p in found.parameterDefinitions()]
    assert "OUTPUT_PER_SITE" in names and "PER_SITE" not in names


def test_model_help_matches_the_weights(qgis_app):
    """Each network's help line says which rasters it reads: checked against the input
    channels recorded in its weights file, and the default is stated once."""
    from radiomap_geo.models.registry import read_index, weights_dir
    from radiomap_geo.nets.weights import load_weights

    found = algorithm("radiomapgeo:predictcoverage")
    text = found.shortHelpString()
    model = found.parameterDefinition("MODEL")
    default = model.defaultValue()
    assert f"<b>{default}</b> <b>(default)</b>" in text and text.count("(default)") == 1
    assert f"default {default}" in model.description()
    index = read_index()
    if not index:
        pytest.skip("no shipped networks")
    for name, entry in index.items():
        channels = load_weights(weights_dir() / entry["file"], entry["sha256"]).metadata["channels"]
        line = text.split(f"<b>{name}</b>", 1)[1].split("</li>", 1)[0]
        assert ("reads the orthophoto" in line) == ("ortho_r" in channels), name
        assert ("nDSM" in line) == ("ndsm" in channels), name
    for baseline in ("3gpp-uma", "3gpp-umi", "free-space", "log-distance", "cost231-hata"):
        assert f"<b>{baseline}</b>" in text.split("Physics baselines", 1)[1]
    assert "Blended with fallback" in text


def test_messages_for_users(qgis_app):
    import geopandas as gpd
    from radiomap_geo_qgis.algorithms.messages import (
        describe_grid,
        format_bounds,
        unfiltered_osm_warning,
    )

    from radiomap_geo.grid import BBox, Grid

    grid = Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), resolution=10.0)
    assert describe_grid(grid).startswith(
        "Grid: 81 x 81 cells of 10 m (810 m x 810 m, 6,561 cells) in EPSG:32635 "
        "(WGS 84 / UTM zone 35N), bounds 385510.0, 6671550.0"
    )
    assert format_bounds((24.9371234567, 60.1, 25, 61), geographic=True) == (
        "24.937123, 60.100000, 25.000000, 61.000000"
    )
    frame = gpd.GeoDataFrame({"building": ["yes"] * 95 + [None] * 5}, geometry=[None] * 100)
    warning = unfiltered_osm_warning(frame, "osm")
    assert "5 of 100 features" in warning and '"building" IS NOT NULL' in warning
    assert unfiltered_osm_warning(frame.iloc[:95], "osm") is None


def test_infer_buildings_parameters(qgis_app):
    """The contract of issue #13: measurements like predict-from-measurements, the sites, the
    area, model radiocycle by default; the model list holds only models with a building
    generator (not the interpolation network)."""
    found = algorithm("radiomapgeo:inferbuildings")
    names = [p.name() for p in found.parameterDefinitions()]
    measured = ["MEASUREMENTS", "VALUE_FIELD", "VALUE_KIND", "VALUE_UNIT"]
    assert names[:4] == measured and {"SITES", "EXTENT", "RESOLUTION", "CRS"} <= set(names)
    predict = algorithm("radiomapgeo:predictfrommeasurements")
    for name in measured:  # the same parameters, fewer value kinds
        ours, theirs = found.parameterDefinition(name), predict.parameterDefinition(name)
        assert (ours.description(), ours.defaultValue()) == (
            theirs.description(),
            theirs.defaultValue(),
        )
    assert found.parameterDefinition("VALUE_KIND").options() == ["rsrp", "rx-power", "path-gain"]
    model = found.parameterDefinition("MODEL")
    assert model.defaultValue() == "radiocycle" and "interpolation-net" not in model.options()
    assert found.parameterDefinition("RESOLUTION").defaultValue() == 2.0  # trained at 2 m
    threshold = found.parameterDefinition("THRESHOLD")
    assert (threshold.defaultValue(), threshold.minimum(), threshold.maximum()) == (0.5, 0.01, 0.99)
    assert found.group() == "Measurements" and "buildings" in found.tags()
    labels = [p.description() for p in found.parameterDefinitions()]
    assert not [label for label in labels if "optional)" in label.lower()]
