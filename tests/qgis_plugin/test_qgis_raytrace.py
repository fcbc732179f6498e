"""``radiomapgeo:raytracecoverage`` (Sionna RT) through ``processing.run``: small area, few rays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("qgis.core")

from qgis_support import qgis_extent, skip_without_sionna_rt  # noqa: E402

pytestmark = [pytest.mark.qgis, pytest.mark.rt]

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def sionna_ready():
    """Skip unless Sionna RT can run here."""
    skip_without_sionna_rt()


def test_raytrace_small_area(qgis_app, sionna_ready, delft, tmp_path, feedback):
    import processing
    import rasterio

    # 80 m x 80 m around the north-east site, 4 m cells, 1e5 rays, one bounce.
    x, y = delft["sites_list"][0]["x"], delft["sites_list"][0]["y"]
    box = (x - 60, y - 60, x + 20, y + 20)
    outputs = {
        "OUTPUT_RSRP": str(tmp_path / "rsrp.tif"),
        "OUTPUT_BEST_SERVER": str(tmp_path / "best.tif"),
        "OUTPUT_SINR": str(tmp_path / "sinr.tif"),
    }
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    sites = QgsVectorLayer(
        "Point?crs=EPSG:28992&field=site_id:string&field=height_m:double", "rt site", "memory"
    )
    feature = QgsFeature(sites.fields())
    feature.setAttributes(["ne", 25.0])
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
    sites.dataProvider().addFeatures([feature])
    try:
        processing.run(
            "radiomapgeo:raytracecoverage",
            {
                "SITES": sites,
                "BUILDINGS": delft["buildings"],
                "EXTENT": qgis_extent(box, "EPSG:28992"),
                "CRS": "EPSG:28992",
                "RESOLUTION": 4.0,
                "SAMPLES": 100_000,
                "MAX_DEPTH": 1,
                "DIFFRACTION": False,
                **outputs,
            },
            feedback=feedback,
        )
    finally:
        del sites
    with rasterio.open(outputs["OUTPUT_RSRP"]) as ds:
        assert ds.crs.to_epsg() == 28992 and ds.res == (4.0, 4.0)
        assert tuple(ds.bounds) == box
        rsrp = ds.read(1)
        row, col = ds.index(x, y)
    assert np.isfinite(rsrp).mean() > 0.3
    assert -160 < np.nanmin(rsrp) and np.nanmax(rsrp) < 43
    # The transmitter's own cell is within a few dB of the strongest cell.
    assert np.isfinite(rsrp[row, col]) and rsrp[row, col] > np.nanmax(rsrp) - 6
    assert max(feedback.progress_values) == pytest.approx(100.0)


def test_raytrace_on_sample_data(qgis_app, sionna_ready, tmp_path, feedback):
    """sample_data/: the Helsinki OSM layer and the sites table, 160 m around the street mast."""
    import processing
    import rasterio
    from pyproj import Transformer
    from qgis.core import QgsVectorLayer

    from radiomap_geo.grid import BBox, Grid

    pbf, sites = SAMPLE_DATA / "helsinki.osm.pbf", SAMPLE_DATA / "sites.gpkg"
    lon, lat = 24.94558, 60.16715  # hel-04, an isotropic mast 20 m above the street
    area = (lon - 0.0014, lat - 0.0007, lon + 0.0014, lat + 0.0007)  # about 155 m x 155 m
    buildings = QgsVectorLayer(
        f'{pbf}|layername=multipolygons|subset="building" IS NOT NULL', "osm buildings", "ogr"
    )
    rsrp_path = tmp_path / "rsrp.tif"
    try:
        processing.run(
            "radiomapgeo:raytracecoverage",
            {
                "SITES": f"{sites}|subset=\"site_id\" = 'hel-04'",
                "BUILDINGS": buildings,
                "EXTENT": f"{area[0]},{area[2]},{area[1]},{area[3]} [EPSG:4326]",
                "RESOLUTION": 4.0,
                "SAMPLES": 200_000,
                "MAX_DEPTH": 2,
                "DIFFRACTION": True,
                "OUTPUT_RSRP": str(rsrp_path),
            },
            feedback=feedback,
        )
    finally:
        del buildings
    grid = Grid.from_bbox(BBox.parse(area), 4.0)  # the library's grid for the same extent
    with rasterio.open(rsrp_path) as ds:
        assert ds.crs.to_epsg() == 32635
        assert ds.transform == grid.transform and ds.shape == grid.shape
        rsrp = ds.read(1)
        x, y = Transformer.from_crs(4326, 32635, always_xy=True).transform(lon, lat)
        row, col = ds.index(x, y)
    assert 0.2 < np.isnan(rsrp).mean() < 0.8  # buildings (and unreached cells) are nodata
    assert np.isfinite(rsrp[row, col]) and rsrp[row, col] > np.nanmax(rsrp) - 3
    assert np.nanmax(rsrp) < 46 and np.nanmin(rsrp) > -170


def test_cell_size_and_depth_limit_are_the_command_lines(qgis_app):
    """Default cell size and the most interactions come from the library, as `simulate`'s."""
    from qgis.core import QgsApplication

    from radiomap_geo.cli.simulate import simulate
    from radiomap_geo.rt.simulate import MAX_DEPTH, RESOLUTION_M

    algorithm = QgsApplication.processingRegistry().algorithmById("radiomapgeo:raytracecoverage")
    cli = {p.name: p for p in simulate.params}
    assert algorithm.parameterDefinition("RESOLUTION").defaultValue() == RESOLUTION_M
    assert cli["resolution"].default == RESOLUTION_M
    depth = algorithm.parameterDefinition("MAX_DEPTH")
    assert depth.maximum() == MAX_DEPTH and depth.defaultValue() == cli["max_depth"].default


def test_depth_beyond_the_limit_is_refused(qgis_app, delft, tmp_path, feedback):
    import processing
    from qgis.core import QgsProcessingException

    from radiomap_geo.rt.simulate import MAX_DEPTH

    params = {
        "SITES": delft["sites"],
        "BUILDINGS": delft["buildings"],
        "EXTENT": delft["extent"],
        "MAX_DEPTH": MAX_DEPTH + 1,
        "OUTPUT_RSRP": str(tmp_path / "rsrp.tif"),
    }
    with pytest.raises(QgsProcessingException, match="MAX_DEPTH"):
        processing.run("radiomapgeo:raytracecoverage", params, feedback=feedback)
    assert not list(tmp_path.iterdir())
