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
