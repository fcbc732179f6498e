"""``radiomapgeo:optimizeorientation`` through ``processing.run`` on the crafted street scene."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("qgis.core")

pytestmark = [pytest.mark.qgis]


@pytest.fixture
def street_layers(tmp_path):
    """The street scene of tests/optimize as files: buildings, two sectors, the extent."""
    import geopandas as gpd
    import numpy as np
    from affine import Affine
    from shapely.geometry import Point

    from radiomap_geo.grid import Grid, to_crs
    from radiomap_geo.optimize.scenario import buildings_from_heights

    grid = Grid(to_crs("EPSG:32635"), Affine(2.0, 0, 385_000.0, 0, -2.0, 6_672_192.0), (96, 96))
    heights = np.full(grid.shape, 15.0, np.float32)
    heights[30:36, :] = 0.0
    buildings = tmp_path / "buildings.gpkg"
    buildings_from_heights(heights, grid).to_file(buildings, driver="GPKG")
    x, y = (float(v) for v in grid.xy(44, 48))
    sites = gpd.GeoDataFrame(
        {
            "site_id": ["a", "b"],
            "height_m": [18.0, 18.0],
            "antenna": ["tr38901"] * 2,
            "azimuth_deg": [180.0, 300.0],
            "operator": ["acme", "acme"],
        },
        geometry=[Point(x, y), Point(x + 1, y)],
        crs=grid.crs,
    )
    path = tmp_path / "sites.gpkg"
    sites.to_file(path, driver="GPKG")
    minx, miny, maxx, maxy = grid.bounds
    return {
        "sites": str(path),
        "buildings": str(buildings),
        "extent": f"{minx},{maxx},{miny},{maxy} [EPSG:32635]",
    }


def _params(layers, tmp_path, **more):
    return {
        "SITES": layers["sites"],
        "BUILDINGS": layers["buildings"],
        "EXTENT": layers["extent"],
        "RESOLUTION": 2.0,
        "CRS": "EPSG:32635",
        "BUDGET": 2,
        "METHOD": "both",
        "OUTPUT": str(tmp_path / "optimised.gpkg"),
        "REPORT": str(tmp_path / "report.json"),
        **more,
    }


def test_optimise_orientation_writes_sites_and_report(qgis_app, street_layers, tmp_path, feedback):
    import processing
    from qgis.core import QgsVectorLayer

    result = processing.run(
        "radiomapgeo:optimizeorientation", _params(street_layers, tmp_path), feedback=feedback
    )
    layer = QgsVectorLayer(result["OUTPUT"], "out", "ogr")
    features = list(layer.getFeatures())
    assert [f["site_id"] for f in features] == ["a", "b"]
    assert [f["operator"] for f in features] == ["acme", "acme"]
    assert 120.0 <= features[0]["azimuth_deg"] <= 240.0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["methods"]["gradient"]["network_evaluations"] == 4


def test_bad_budget_names_the_parameter(qgis_app, street_layers, tmp_path, feedback):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=r"\(BUDGET\): budget 0"):
        processing.run(
            "radiomapgeo:optimizeorientation",
            _params(street_layers, tmp_path, BUDGET=0),
            feedback=feedback,
        )
    assert not (tmp_path / "optimised.gpkg").exists()


def test_default_cell_size_runs_with_the_default_network(
    qgis_app, street_layers, tmp_path, feedback
):
    """Before: RESOLUTION defaulted to 5 m and a run with defaults failed ("unet-obs was
    trained on 2 m cells ...").
    """
    import processing
    from qgis.core import QgsApplication, QgsVectorLayer

    from radiomap_geo.cli.optimize import optimize
    from radiomap_geo.models.registry import get_model
    from radiomap_geo.optimize import RESOLUTION_M

    algorithm = QgsApplication.processingRegistry().algorithmById("radiomapgeo:optimizeorientation")
    default = algorithm.parameterDefinition("RESOLUTION").defaultValue()
    cli_default = next(p for p in optimize.params if p.name == "resolution").default
    assert default == cli_default == RESOLUTION_M == get_model().native_resolution_m
    parameters = _params(street_layers, tmp_path, BUDGET=1)
    del parameters["RESOLUTION"]
    result = processing.run("radiomapgeo:optimizeorientation", parameters, feedback=feedback)
    layer = QgsVectorLayer(result["OUTPUT"], "out", "ogr")
    assert [f["site_id"] for f in layer.getFeatures()] == ["a", "b"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["grid"]["resolution_m"] == RESOLUTION_M
    assert report["grid"]["shape"] == [96, 96]


def test_a_network_that_reads_rasters_is_refused(qgis_app, street_layers, tmp_path, feedback):
    """Not offered in the model list, and refused when named all the same."""
    import processing
    from qgis.core import QgsApplication, QgsProcessingException

    algorithm = QgsApplication.processingRegistry().algorithmById("radiomapgeo:optimizeorientation")
    offered = algorithm.parameterDefinition("MODEL").options()
    assert offered[0] == "unet-obs" and "3gpp-uma" in offered
    assert "unet-ndsm" not in offered and "unet-ortho" not in offered
    with pytest.raises(QgsProcessingException, match="MODEL"):
        processing.run(
            "radiomapgeo:optimizeorientation",
            _params(street_layers, tmp_path, MODEL="unet-ndsm"),
            feedback=feedback,
        )
    assert not (tmp_path / "optimised.gpkg").exists() and not (tmp_path / "report.json").exists()
