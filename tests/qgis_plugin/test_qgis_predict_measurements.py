"""``radiomapgeo:predictfrommeasurements`` through ``processing.run`` on the real Delft data."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qgis.core")

from qgis_support import MEASURED_LEVELS, write_measurements  # noqa: E402

pytestmark = pytest.mark.qgis

ALG = "radiomapgeo:predictfrommeasurements"


def test_measurements_give_styled_exposure_and_uncertainty(qgis_app, delft, feedback, tmp_path):
    import processing
    import rasterio

    outputs = {
        "OUTPUT_RSRP": str(tmp_path / "rsrp.tif"),
        "OUTPUT_E_FIELD": str(tmp_path / "e.tif"),
        "OUTPUT_STD": str(tmp_path / "std.tif"),
    }
    params = {
        "SITES": delft["sites"],
        "BUILDINGS": delft["buildings"],
        "EXTENT": delft["extent"],
        "RESOLUTION": 2.0,
        "MEASUREMENTS": write_measurements(tmp_path / "m.gpkg", MEASURED_LEVELS, ["ne"] * 6),
        "VALUE_FIELD": "level",
        "VALUE_KIND": "rsrp",
        **outputs,
    }
    results = processing.run(ALG, params, feedback=feedback)
    assert {k: results[k] for k in outputs} == outputs
    with rasterio.open(outputs["OUTPUT_E_FIELD"]) as ds:
        e = ds.read(1)
    with rasterio.open(outputs["OUTPUT_STD"]) as ds:
        std = ds.read(1)
    outdoor = np.isfinite(e)
    assert outdoor.mean() > 0.3
    # street-level fields near 43 dBm sites: above 0.01 V/m, far below the 61 V/m limit
    assert 0.01 < np.nanmedian(e) < 61.0
    # uncertainty where the measured site ("ne") serves; NaN where the unmeasured one does
    assert 0.2 * outdoor.sum() < np.isfinite(std).sum() < outdoor.sum()
    assert 0.5 < np.nanmedian(std) < 20.0


def test_unknown_site_in_the_layer_is_named(qgis_app, delft, feedback, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    params = {
        "SITES": delft["sites"],
        "BUILDINGS": delft["buildings"],
        "EXTENT": delft["extent"],
        "RESOLUTION": 2.0,
        "MEASUREMENTS": write_measurements(tmp_path / "m.gpkg", [-80.0] * 6, ["zz"] * 6),
        "VALUE_FIELD": "level",
        "OUTPUT_RSRP": str(tmp_path / "rsrp.tif"),
    }
    with pytest.raises(QgsProcessingException, match="site_id values \\['zz'\\]"):
        processing.run(ALG, params, feedback=feedback)
    assert not (tmp_path / "rsrp.tif").exists()


def test_runs_with_the_default_cell_size(qgis_app, delft, feedback, tmp_path):
    """RESOLUTION left at its default: the default measurement model's own cell size."""
    import processing
    import rasterio
    from qgis.core import QgsApplication

    from radiomap_geo.sparse.model import get_measurement_model

    algorithm = QgsApplication.processingRegistry().algorithmById(ALG)
    native = get_measurement_model().metadata["metres_per_pixel"]
    assert algorithm.parameterDefinition("RESOLUTION").defaultValue() == native
    params = {
        "SITES": delft["sites"],
        "BUILDINGS": delft["buildings"],
        "EXTENT": delft["extent"],
        "MEASUREMENTS": write_measurements(tmp_path / "m.gpkg", MEASURED_LEVELS, ["ne"] * 6),
        "VALUE_FIELD": "level",
        "OUTPUT_RSRP": str(tmp_path / "rsrp.tif"),
    }
    processing.run(ALG, params, feedback=feedback)
    with rasterio.open(params["OUTPUT_RSRP"]) as ds:
        assert ds.res == (native, native)
