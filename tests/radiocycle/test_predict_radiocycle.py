"""``predict --measurements ... --measurement-model radiocycle`` (issue #13): the radio map from
measurements alone on a real-layout test tile, the ``building_disagreement`` band against a
crafted building layer, and the refusal of other models without buildings.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.features import shapes
from scipy import ndimage
from shapely.geometry import box, shape

from radiomap_geo.cli.main import cli
from radiomap_geo.errors import InputError
from radiomap_geo.options import RunOptions
from radiomap_geo.radiocycle.weights import available
from radiomap_geo.sites import Sites
from radiomap_geo.sparse.model import measurement_model_catalogue
from radiomap_geo.sparse.predict import predict_with_measurements
from tests.radiocycle.conftest import DATASET, measured_tile

pytestmark = pytest.mark.skipif(
    not (DATASET / "manifest.json").exists() or "radiocycle" not in available(),
    reason="needs data/radiomaps and the shipped weights/radiocycle",
)


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    """A real-layout test tile: grid, true buildings, 20 % of its ray-traced RSRP as points."""
    tile = measured_tile(tmp_path_factory.mktemp("radiocycle-predict"))
    site, record = tile.pop("site"), tile.pop("record")
    sites = Sites.from_records([{**record, "x": site.x, "y": site.y}], tile["grid"].crs)
    return {**tile, "sites": sites}


@pytest.fixture(scope="module")
def alone(area):
    """The prediction without any building layer (and the log it wrote)."""
    grid, sites, points = area["grid"], area["sites"], area["points"]
    handler = _Records()
    logging.getLogger("radiomap_geo").addHandler(handler)
    try:
        result = predict_with_measurements(
            grid, sites, None, points, measurement_model="radiocycle"
        )
    finally:
        logging.getLogger("radiomap_geo").removeHandler(handler)
    return result, handler.messages


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_no_buildings_gives_finite_maps_on_the_requested_grid(area, alone):
    result, warnings = alone
    grid = area["grid"]
    assert result.grid.shape == grid.shape and result.grid.transform == grid.transform
    assert result.grid.crs == grid.crs
    expected = {"rsrp_dbm", "rx_power_dbm", "sinr_db", "best_server", "e_field_vpm"}
    assert expected | {"rsrp_std_db", "building_probability"} <= set(result.bands)
    assert "building_disagreement" not in result.bands  # nothing to compare with
    for name in expected | {"building_probability"}:
        assert np.isfinite(result[name]).all(), name
    # no calibration: the uncertainty is NaN, and the log says so
    assert np.isnan(result["rsrp_std_db"]).all()
    assert any("rsrp_std_db is NaN" in m for m in warnings)
    rsrp_minus_rx = result["rsrp_dbm"] - result["rx_power_dbm"]
    np.testing.assert_allclose(rsrp_minus_rx, RunOptions().rsrp_offset_db, atol=1e-3)
    assert result.metadata["measurement_model"] == "radiocycle"


def test_measured_cells_are_honoured_within_the_model_noise(area, alone):
    result, _ = alone
    rows, cols = area["measured"]
    rsrp = area["rsrp"]
    pred = result["rsrp_dbm"]
    measured_error = pred[rows, cols] - rsrp[rows, cols]
    unmeasured = np.isfinite(rsrp)
    unmeasured[rows, cols] = False
    unmeasured_error = pred[unmeasured] - rsrp[unmeasured]
    rmse = float(np.sqrt(np.mean(measured_error**2)))
    # G alone misses the measured cells by ~12 dB; the spread residuals bring them to ~5 dB,
    # well under the error on cells nobody measured
    assert rmse < 8.0
    assert float(np.median(np.abs(measured_error))) < 5.0
    assert rmse < 0.75 * float(np.sqrt(np.mean(unmeasured_error**2)))


def _crafted_layer(area, probability):
    """The true footprints, less the building F is surest of, plus a block where F sees none."""
    truth = area["buildings"]
    labels, n = ndimage.label(truth)
    means = ndimage.mean(probability, labels, index=np.arange(1, n + 1))
    sizes = ndimage.sum(truth, labels, index=np.arange(1, n + 1))
    means[sizes < 12] = -1  # a building of a few cells says little
    removed = labels == int(np.argmax(means)) + 1
    open_ground = ndimage.binary_erosion(~truth, np.ones((9, 9)))  # 4 cells from any building
    score = np.where(open_ground, probability, np.inf)
    r, c = np.unravel_index(int(np.argmin(score)), score.shape)
    added = np.zeros_like(truth)
    added[r - 3 : r + 3, c - 3 : c + 3] = True
    grid = area["grid"]
    kept = truth & ~removed
    polys = [shape(g) for g, _ in shapes(kept.astype(np.uint8), kept, transform=grid.transform)]
    (x0, y0), (x1, y1) = grid.transform @ (c - 3, r - 3), grid.transform @ (c + 3, r + 3)
    polys.append(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    layer = gpd.GeoDataFrame({"height_m": [15.0] * len(polys)}, geometry=polys, crs=grid.crs)
    return layer, removed, added, kept


def test_building_disagreement_flags_a_removed_and_an_added_building(area, alone):
    probability = alone[0]["building_probability"]
    layer, removed, added, kept = _crafted_layer(area, probability)
    result = predict_with_measurements(
        area["grid"], area["sites"], layer, area["points"], measurement_model="radiocycle"
    )
    dis = result["building_disagreement"]
    assert dis.shape == area["grid"].shape
    # definition: F's probability minus the rasterised layer (1 inside a footprint)
    inside = kept | added
    np.testing.assert_allclose(dis[~inside], probability[~inside], atol=1e-6)
    np.testing.assert_allclose(dis[inside], probability[inside] - 1.0, atol=1e-6)
    assert float(dis[removed].mean()) > 0.5  # the signal shows a building the layer lacks
    assert float(dis[added].mean()) < -0.5  # the layer has a building the signal does not show
    # the radio bands follow the layer: NaN inside its footprints only
    assert np.isnan(result["rsrp_dbm"][inside]).all()
    assert np.isfinite(result["rsrp_dbm"][~inside]).all()
    assert result.metadata["description_building_disagreement"]


@pytest.mark.parametrize("model", [None, "idw"])
def test_other_models_without_buildings_are_refused(area, model):
    with pytest.raises(InputError, match="radiocycle") as err:
        predict_with_measurements(
            area["grid"], area["sites"], None, area["points"], measurement_model=model
        )
    assert err.value.parameter == "buildings" and "needs building footprints" in str(err.value)


def test_radiocycle_is_listed_among_the_measurement_models():
    rows = {name: (text, default) for name, text, default in measurement_model_catalogue()}
    assert "radiocycle" in rows and "no building layer" in rows["radiocycle"][0]
    assert rows["radiocycle"][1] is False
    run = CliRunner().invoke(cli, ["measurement-models"])
    assert run.exit_code == 0 and "radiocycle" in run.output


def _cli_args(area, out: Path, model: str, cache: Path) -> list[str]:
    grid = area["grid"]
    return [
        "predict",
        "--bbox", ",".join(f"{v:.3f}" for v in grid.bounds),
        "--bbox-crs", grid.crs.to_string(),
        "--crs", grid.crs.to_string(),
        "--resolution", f"{grid.resolution:g}",
        "--tx-file", str(area["folder"] / "sites.gpkg"),
        "--measurements", str(area["folder"] / "drive.gpkg"),
        "--measurement-model", model,
        "--osm-cache-only", "--osm-cache-dir", str(cache),
        "-o", str(out),
        "--quiet",
    ]  # fmt: skip


def test_cli_radiocycle_needs_no_building_data(area, tmp_path):
    """Offline with an empty OSM cache: radiocycle runs (nothing is downloaded), others stop."""
    out = tmp_path / "out" / "coverage.tif"
    run = CliRunner().invoke(cli, _cli_args(area, out, "radiocycle", tmp_path / "cache"))
    assert run.exit_code == 0, run.output
    with rasterio.open(out) as src:
        assert src.shape == area["grid"].shape
        assert src.transform.almost_equals(area["grid"].transform)
        names = list(src.descriptions)
        assert {"rsrp_dbm", "e_field_vpm", "rsrp_std_db", "building_probability"} <= set(names)
        assert np.isfinite(src.read(names.index("rsrp_dbm") + 1)).all()
    other = tmp_path / "other" / "coverage.tif"
    other.parent.mkdir()
    run = CliRunner().invoke(cli, _cli_args(area, other, "idw", tmp_path / "cache"))
    assert run.exit_code != 0 and "Traceback" not in run.output
    assert "no cached OSM download" in run.output
    assert list(other.parent.iterdir()) == []
