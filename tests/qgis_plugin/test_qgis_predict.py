"""``radiomapgeo:predictcoverage`` through ``processing.run`` in a headless QGIS, on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("qgis.core")

from qgis_support import DELFT_BOX, REPO, SAMPLE_DATA, qgis_extent  # noqa: E402

pytestmark = pytest.mark.qgis

ALG = "radiomapgeo:predictcoverage"


def run(params, feedback, context=None):
    import processing

    return processing.run(ALG, params, feedback=feedback, context=context)


def read(path):
    import rasterio

    with rasterio.open(path) as ds:
        return ds.read(), ds.crs, ds.bounds, ds.descriptions, ds.tags(), ds.transform


def site_rowcol(transform, x, y):
    from rasterio.transform import rowcol

    row, col = rowcol(transform, x, y)
    return int(row), int(col)


def to_crs(points, src, dst):
    from pyproj import Transformer

    tr = Transformer.from_crs(src, dst, always_xy=True)
    return [tr.transform(x, y) for x, y in points]


def umi_rsrp_only(delft) -> dict:
    """Delft at 10 m in RD New with 3GPP UMi, RSRP only: the base of the comparison runs."""
    return {
        "SITES": delft["sites"],
        "EXTENT": delft["extent"],
        "RESOLUTION": 10.0,
        "CRS": "EPSG:28992",
        "MODEL": "3gpp-umi",
        "OUTPUT_BEST_SERVER": None,
        "OUTPUT_SINR": None,
    }


def test_delft_utm_grid(qgis_app, delft, outputs, feedback):
    results = run(
        {
            "SITES": delft["sites"],
            "BUILDINGS": delft["buildings"],
            "EXTENT": delft["extent"],
            "RESOLUTION": 5.0,
            "MODEL": "3gpp-umi",
            **outputs,
        },
        feedback,
    )
    assert {k: results[k] for k in outputs} == outputs

    rsrp, crs, bounds, names, tags, transform = read(outputs["OUTPUT_RSRP"])
    best, crs_b, bounds_b, names_b, _, _ = read(outputs["OUTPUT_BEST_SERVER"])
    sinr, crs_s, bounds_s, names_s, _, _ = read(outputs["OUTPUT_SINR"])
    assert (names, names_b, names_s) == (("rsrp_dbm",), ("best_server",), ("sinr_db",))
    # No CRS asked for: the local UTM zone (31N for Delft), snapped outwards to 5 m.
    assert crs.to_epsg() == crs_b.to_epsg() == crs_s.to_epsg() == 32631
    assert bounds == bounds_b == bounds_s
    corners = to_crs(
        [(DELFT_BOX[0], DELFT_BOX[1]), (DELFT_BOX[2], DELFT_BOX[3]), (DELFT_BOX[0], DELFT_BOX[3])],
        "EPSG:28992",
        "EPSG:32631",
    )
    for x, y in corners:
        assert bounds.left <= x <= bounds.right and bounds.bottom <= y <= bounds.top
    assert transform.a == 5.0 and bounds.left % 5 == 0 and bounds.top % 5 == 0
    assert tags["model"] == "3gpp-umi" and tags["best_server_lookup"] == "1=ne;2=sw"

    rsrp, best, sinr = rsrp[0], best[0], sinr[0]
    valid = np.isfinite(rsrp)
    assert 0.5 < valid.mean() < 1.0  # building cells are nodata
    assert np.array_equal(valid, np.isfinite(best)) and np.array_equal(valid, np.isfinite(sinr))
    assert -160 < np.nanmin(rsrp) and np.nanmax(rsrp) < 43
    assert set(np.unique(best[valid])) == {1.0, 2.0}
    assert -30 < np.nanmin(sinr) and np.nanmax(sinr) < 80

    # Each site is its own best server, and its cell is the strongest of its service area.
    sites_utm = to_crs([(s["x"], s["y"]) for s in delft["sites_list"]], "EPSG:28992", "EPSG:32631")
    for index, (x, y) in enumerate(sites_utm, start=1):
        row, col = site_rowcol(transform, x, y)
        assert best[row, col] == index
        area = np.where(best == index, rsrp, np.nan)
        peak = np.unravel_index(np.nanargmax(area), area.shape)
        assert max(abs(peak[0] - row), abs(peak[1] - col)) <= 1, (index, peak, (row, col))
        assert sinr[row, col] > 10

    assert any("Buildings: " in line for line in feedback.log)
    assert max(feedback.progress_values) == pytest.approx(100.0)

    # QGIS reads the same georeferencing.
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(outputs["OUTPUT_RSRP"], "rsrp")
    try:
        assert layer.isValid() and layer.crs().authid() == "EPSG:32631"
        extent = layer.extent()
        assert (extent.xMinimum(), extent.yMaximum()) == (bounds.left, bounds.top)
        assert layer.dataProvider().sourceNoDataValue(1) != layer.dataProvider().sourceNoDataValue(
            1
        )  # NaN
    finally:
        del layer


def test_named_crs_per_site_and_model(qgis_app, delft, outputs, feedback, tmp_path):
    per_site = str(tmp_path / "per_site.tif")
    rx_power = str(tmp_path / "rx_power.tif")
    run(
        {
            "SITES": delft["sites"],
            "BUILDINGS": delft["buildings"],
            "EXTENT": delft["extent"],
            "RESOLUTION": 10.0,
            "CRS": "EPSG:28992",
            "MODEL": "free-space",
            "RX_HEIGHT": 2.0,
            "BANDWIDTH": 10.0,
            "TECHNOLOGY": "lte",
            "NOISE_FIGURE": 5.0,
            "OUTPUT_PER_SITE": per_site,
            "OUTPUT_RX_POWER": rx_power,
            **outputs,
        },
        feedback,
    )
    rsrp, crs, bounds, _, tags, transform = read(outputs["OUTPUT_RSRP"])
    assert crs.to_epsg() == 28992
    assert tuple(bounds) == DELFT_BOX  # already on the 10 m lattice
    assert rsrp.shape == (1, 18, 22)
    assert tags["model"] == "free-space"
    assert float(tags["rx_height_m"]) == 2.0 and float(tags["bandwidth_mhz"]) == 10.0
    gains, _, _, names, _, _ = read(per_site)
    assert names == ("path_gain_db:ne", "path_gain_db:sw")
    # The total received power is the strongest of power + path gain over the sites; RSRP is
    # that per resource element: LTE 10 MHz = 50 resource blocks = 600 subcarriers.
    expected = np.fmax(gains[0] + 43.0, gains[1] + 40.0)
    total, _, _, total_names, _, _ = read(rx_power)
    assert total_names == ("rx_power_dbm",)
    np.testing.assert_allclose(total[0], expected, atol=1e-3)
    np.testing.assert_allclose(rsrp[0], expected - 10 * np.log10(600), atol=1e-3)
    assert tags["technology"] == "lte" and float(tags["rsrp_offset_db"]) == pytest.approx(
        -27.78, abs=0.01
    )


def test_sites_in_geographic_crs_are_reprojected(qgis_app, delft, outputs, feedback):
    # A lon/lat sites layer and a lon/lat extent with a metre resolution: fine, the grid is UTM.
    minx, miny, maxx, maxy = DELFT_BOX
    (x0, y0), (x1, y1) = to_crs([(minx, miny), (maxx, maxy)], "EPSG:28992", "EPSG:4326")
    run(
        {
            "SITES": delft["sites_wgs84"],
            "BUILDINGS": delft["buildings"],
            "EXTENT": qgis_extent((x0, y0, x1, y1), "EPSG:4326"),
            "RESOLUTION": 5.0,
            **outputs,
        },
        feedback,
    )
    rsrp, crs, *_ = read(outputs["OUTPUT_RSRP"])
    assert crs.to_epsg() == 32631 and np.isfinite(rsrp).mean() > 0.5


def test_memory_layers_and_selected_features(qgis_app, delft, outputs, feedback):
    from qgis.core import (
        QgsFeature,
        QgsGeometry,
        QgsPointXY,
        QgsProcessingFeatureSourceDefinition,
        QgsProject,
        QgsVectorLayer,
    )

    layer = QgsVectorLayer(
        "Point?crs=EPSG:28992&field=site_id:string&field=height_m:double&field=power_dbm:double",
        "memory sites",
        "memory",
    )
    features = []
    for site in delft["sites_list"]:
        feature = QgsFeature(layer.fields())
        feature.setAttributes([site["site_id"], site["height_m"], 43.0])  # NULL is refused
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(site["x"], site["y"])))
        features.append(feature)
    assert layer.dataProvider().addFeatures(features)[0]
    QgsProject.instance().addMapLayer(layer)
    try:
        layer.selectByIds([layer.getFeatures().__next__().id()])  # the first site only
        run(
            {
                "SITES": QgsProcessingFeatureSourceDefinition(layer.id(), True),
                "BUILDINGS": delft["buildings"],
                "EXTENT": delft["extent"],
                "RESOLUTION": 10.0,
                **outputs,
            },
            feedback,
        )
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
        del layer
    best, _, _, _, tags, _ = read(outputs["OUTPUT_BEST_SERVER"])
    assert tags["site_ids"] == "ne"
    assert set(np.unique(best[np.isfinite(best)])) == {1.0}


def test_height_field_changes_the_shadows(qgis_app, delft, outputs, tmp_path, feedback):
    """A buildings layer with its own height field (not called 'height')."""
    import geopandas as gpd

    frame = gpd.read_file(delft["buildings"])
    frame["hoogte"] = 3.0  # every building 3 m: less blockage than the 10 m default
    low = tmp_path / "low_buildings.gpkg"
    frame[["hoogte", "geometry"]].to_file(low, driver="GPKG")
    base = umi_rsrp_only(delft)
    tall = str(tmp_path / "tall.tif")
    run({**base, "BUILDINGS": delft["buildings"], "OUTPUT_RSRP": tall}, feedback)
    short = str(tmp_path / "short.tif")
    run({**base, "BUILDINGS": str(low), "HEIGHT_FIELD": "hoogte", "OUTPUT_RSRP": short}, feedback)
    tall_rsrp, short_rsrp = read(tall)[0][0], read(short)[0][0]
    assert np.array_equal(np.isfinite(tall_rsrp), np.isfinite(short_rsrp))  # same footprints
    assert np.nanmean(short_rsrp - tall_rsrp) > 0.5
    assert not Path(tmp_path / "best_server.tif").exists()  # skipped outputs are not written


def test_helsinki_sample_data(qgis_app, outputs, feedback):
    """sample_data/: the OSM extract read by QGIS's OGR driver, sites in lon/lat."""
    pbf, sites = SAMPLE_DATA / "helsinki.osm.pbf", SAMPLE_DATA / "sites.gpkg"
    if not (pbf.exists() and sites.exists()):
        pytest.skip("sample_data/ is incomplete")
    from qgis.core import QgsVectorLayer

    buildings = QgsVectorLayer(
        f'{pbf}|layername=multipolygons|subset="building" IS NOT NULL', "osm buildings", "ogr"
    )
    try:
        assert buildings.isValid()
        run(
            {
                "SITES": str(sites),
                "BUILDINGS": buildings,
                "EXTENT": "24.937,24.951,60.165,60.172 [EPSG:4326]",
                "RESOLUTION": 5.0,
                "MODEL": "3gpp-uma",
                **outputs,
            },
            feedback,
        )
    finally:
        del buildings
    rsrp, crs, _, _, tags, transform = read(outputs["OUTPUT_RSRP"])
    best = read(outputs["OUTPUT_BEST_SERVER"])[0][0]
    assert crs.to_epsg() == 32635
    assert tags["site_ids"] == "hel-01,hel-02,hel-03,hel-04"
    rsrp = rsrp[0]
    assert 0.3 < np.isfinite(rsrp).mean() < 0.8  # dense city blocks
    assert set(np.unique(best[np.isfinite(best)])) == {1.0, 2.0, 3.0, 4.0}
    # hel-04 stands in the street: its cell is covered by itself, within 3 dB of its peak.
    ((x, y),) = to_crs([(24.94558, 60.16715)], "EPSG:4326", "EPSG:32635")
    row, col = site_rowcol(transform, x, y)
    assert best[row, col] == 4
    assert rsrp[row, col] > np.nanmax(np.where(best == 4, rsrp, np.nan)) - 3


def test_cancel(qgis_app, delft, outputs, feedback):
    from qgis.core import QgsProcessingException

    feedback.progressChanged.connect(lambda p: feedback.cancel() if p >= 30 else None)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run(
            {
                "SITES": delft["sites"],
                "BUILDINGS": delft["buildings"],
                "EXTENT": delft["extent"],
                "RESOLUTION": 5.0,
                **outputs,
            },
            feedback,
        )
    assert not Path(outputs["OUTPUT_RSRP"]).exists()


def test_outputs_get_styles_when_loaded(qgis_app, delft, tmp_path, feedback):
    """runAndLoadResults: the layers land in the project with the plugin's renderers."""
    import processing
    from qgis.core import (
        QgsPalettedRasterRenderer,
        QgsProject,
        QgsSingleBandPseudoColorRenderer,
    )

    project = QgsProject.instance()
    before = set(project.mapLayers())
    try:
        results = processing.runAndLoadResults(
            ALG,
            {
                "SITES": delft["sites"],
                "BUILDINGS": delft["buildings"],
                "EXTENT": delft["extent"],
                "RESOLUTION": 10.0,
                "OUTPUT_RSRP": str(tmp_path / "rsrp.tif"),
                "OUTPUT_BEST_SERVER": str(tmp_path / "best.tif"),
                "OUTPUT_SINR": str(tmp_path / "sinr.tif"),
            },
            feedback=feedback,
        )
        loaded = {
            Path(layer.source()).name: layer
            for layer_id, layer in project.mapLayers().items()
            if layer_id not in before
        }
        assert set(loaded) == {"rsrp.tif", "best.tif", "sinr.tif"}, results
        rsrp = loaded["rsrp.tif"].renderer()
        assert isinstance(rsrp, QgsSingleBandPseudoColorRenderer)
        # The ramp spans the data's 2nd..98th percentile, rounded outwards to 5 dB.
        values = read(str(tmp_path / "rsrp.tif"))[0][0]
        low, high = np.nanpercentile(values, [2, 98])
        assert rsrp.classificationMin() == 5 * np.floor(low / 5)
        assert rsrp.classificationMax() == 5 * np.ceil(high / 5)
        assert np.mean(values > rsrp.classificationMax()) <= 0.02  # no saturated 10 %
        items = rsrp.shader().rasterShaderFunction().colorRampItemList()
        assert items[0].label == f"{rsrp.classificationMin():g} dBm"
        assert all(item.label.endswith(" dBm") for item in items)
        sinr = loaded["sinr.tif"].renderer()
        assert (sinr.classificationMin(), sinr.classificationMax()) == (-10.0, 30.0)
        sinr_items = sinr.shader().rasterShaderFunction().colorRampItemList()
        assert all(item.label.endswith(" dB") for item in sinr_items)
        # RSRP on top and the only layer switched on; the abstract says what the values are.
        order = [
            Path(node.layer().source()).name
            for node in project.layerTreeRoot().findLayers()
            if node.layer().id() not in before
        ]
        assert order == ["rsrp.tif", "best.tif", "sinr.tif"]
        visible = {
            Path(node.layer().source()).name: node.isVisible()
            for node in project.layerTreeRoot().findLayers()
        }
        assert visible["rsrp.tif"] and not visible["best.tif"] and not visible["sinr.tif"]
        abstract = loaded["rsrp.tif"].abstract()
        assert "per resource element" in abstract and "27.9 dB below the total" in abstract
        best = loaded["best.tif"].renderer()
        assert isinstance(best, QgsPalettedRasterRenderer)
        assert [(c.value, c.label) for c in best.classes()] == [(1.0, "ne"), (2.0, "sw")]
        assert len({c.color.name() for c in best.classes()}) == 2
    finally:
        project.removeMapLayers([i for i in project.mapLayers() if i not in before])


def test_osm_download_then_cache_only(qgis_app, feedback, tmp_path, overpass_replay):
    """No buildings layer: buildings come from (a local replay of) Overpass, then from the cache."""
    recorded = REPO / "tests" / "data" / "overpass_helsinki.json"
    if not recorded.exists():
        pytest.skip(f"{recorded} is missing")
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    sites = QgsVectorLayer("Point?crs=EPSG:4326&field=height_m:double", "street site", "memory")
    feature = QgsFeature(sites.fields())
    feature.setAttributes([15.0])
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(24.9405, 60.1680)))
    sites.dataProvider().addFeatures([feature])
    params = {
        "SITES": sites,
        "EXTENT": "24.938,24.943,60.167,60.169 [EPSG:4326]",  # the recorded area
        "RESOLUTION": 4.0,
        "OSM_CACHE_DIR": str(tmp_path / "cache"),
        "OUTPUT_BEST_SERVER": None,
        "OUTPUT_SINR": None,
    }
    online = str(tmp_path / "online.tif")
    run({**params, "OVERPASS_URL": overpass_replay.url, "OUTPUT_RSRP": online}, feedback)
    assert overpass_replay.posts == 1
    overpass_replay.close()
    offline = str(tmp_path / "offline.tif")
    try:
        run({**params, "OSM_CACHE_ONLY": True, "OUTPUT_RSRP": offline}, feedback)
    finally:
        del sites
    assert any("footprints from OpenStreetMap" in line for line in feedback.log)
    first, second = read(online)[0], read(offline)[0]
    assert 0.2 < np.isnan(first).mean() < 0.9  # the replayed buildings are masked
    np.testing.assert_array_equal(first, second)


def write_height_raster(path, buildings, value, crs="EPSG:28992"):
    """A 1 m GeoTIFF over DELFT_BOX: ``value`` inside the footprints, 0 elsewhere."""
    import geopandas as gpd
    import rasterio
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    minx, miny, maxx, maxy = DELFT_BOX
    width, height = int(maxx - minx), int(maxy - miny)
    transform = from_origin(minx, maxy, 1.0, 1.0)
    shapes = [(g, 1) for g in gpd.read_file(buildings).geometry]
    mask = rasterize(shapes, out_shape=(height, width), transform=transform, fill=0)
    data = np.where(mask > 0, value, 0.0).astype("float32")
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="float32")
    with rasterio.open(path, "w", crs=crs, transform=transform, **profile) as ds:
        ds.write(data, 1)
    return str(path)


def test_ndsm_and_dsm_dtm_rasters(qgis_app, delft, outputs, feedback, tmp_path):
    """Raster inputs reach the library as file paths; DSM - DTM stands in for an nDSM; a model
    that reads no heights says so in the log, and a contradiction is refused all the same."""
    ndsm = write_height_raster(tmp_path / "ndsm.tif", delft["buildings"], 12.0)
    dsm = write_height_raster(tmp_path / "dsm.tif", delft["buildings"], 12.0)
    dtm = write_height_raster(tmp_path / "dtm.tif", delft["buildings"], 0.0)
    base = {**umi_rsrp_only(delft), "BUILDINGS": delft["buildings"]}
    with_ndsm = str(tmp_path / "with_ndsm.tif")
    run({**base, "NDSM": ndsm, "OUTPUT_RSRP": with_ndsm}, feedback)
    assert any("does not read a surface model" in line for line in feedback.log)
    with_dsm = str(tmp_path / "with_dsm.tif")
    run({**base, "DSM": dsm, "DTM": dtm, "OUTPUT_RSRP": with_dsm}, feedback)
    np.testing.assert_array_equal(read(with_ndsm)[0], read(with_dsm)[0])

    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="not both"):
        run({**base, "NDSM": ndsm, "DSM": dsm, "DTM": dtm, "OUTPUT_RSRP": with_dsm}, feedback)


def test_extent_without_crs_is_read_in_the_sites_crs(qgis_app, delft, tmp_path, feedback):
    minx, miny, maxx, maxy = DELFT_BOX
    rsrp = str(tmp_path / "rsrp.tif")
    run(
        {
            "SITES": delft["sites"],
            "BUILDINGS": delft["buildings"],
            "EXTENT": f"{minx},{maxx},{miny},{maxy}",  # no [EPSG:...], no project CRS
            "RESOLUTION": 10.0,
            "CRS": "EPSG:28992",
            "OUTPUT_RSRP": rsrp,
            "OUTPUT_BEST_SERVER": None,
            "OUTPUT_SINR": None,
        },
        feedback,
    )
    assert any("WARNING The extent has no CRS" in line for line in feedback.log)
    assert tuple(read(rsrp)[2]) == DELFT_BOX


def test_exposure_raster_and_tta_setting(qgis_app, delft, outputs, feedback, tmp_path):
    from radiomap_geo.efield import e_field_vpm

    field_path, rx_path = str(tmp_path / "field.tif"), str(tmp_path / "rx.tif")
    params = {
        **umi_rsrp_only(delft),
        "BUILDINGS": delft["buildings"],
        "TTA": "4",  # accepted by every model; baselines run once (WARNING)
        "OUTPUT_RSRP": str(tmp_path / "rsrp.tif"),
        "OUTPUT_RX_POWER": rx_path,
        "OUTPUT_E_FIELD": field_path,
    }
    run(params, feedback)
    field, _, _, names, tags, _ = read(field_path)
    rx, *_ = read(rx_path)
    assert names == ("e_field_vpm",) and tags["tta"] == "4"
    ok = np.isfinite(rx[0])
    assert ok.sum() > 100 and np.array_equal(np.isfinite(field[0]), ok)
    # three sites, one carrier: the field of all of them is at least that of the best server
    assert np.all(field[0][ok] >= e_field_vpm(rx[0][ok], 3500.0) * 0.9999)
