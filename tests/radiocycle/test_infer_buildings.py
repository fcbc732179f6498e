"""``radiomap-geo infer-buildings`` on a real-layout test tile of the dataset: the raster lies on
the requested grid in the requested CRS, the polygons are valid in that CRS, the shipped model
finds buildings better than chance, and bad input fails cleanly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from radiomap_geo.cli.main import cli
from radiomap_geo.errors import WeightsError
from radiomap_geo.radiocycle.weights import available, load_model, weights_dir
from tests.radiocycle.conftest import DATASET, measured_tile

pytestmark = pytest.mark.skipif(
    not (DATASET / "manifest.json").exists() or "radiocycle" not in available(),
    reason="needs data/radiomaps and the shipped weights/radiocycle",
)


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    """A real-layout test tile: its grid, true buildings, and files of 20 % measured RSRP."""
    tile = measured_tile(tmp_path_factory.mktemp("infer"))
    return {**tile, "epsg": tile["grid"].crs.to_epsg()}


def _args(area, out: Path, *extra: str) -> list[str]:
    b = area["grid"].bounds
    return [
        "infer-buildings",
        "--measurements",
        str(area["folder"] / "drive.gpkg"),
        "--tx-file",
        str(area["folder"] / "sites.gpkg"),
        "--bbox",
        ",".join(f"{v:.3f}" for v in b),
        "--bbox-crs",
        f"EPSG:{area['epsg']}",
        "--crs",
        f"EPSG:{area['epsg']}",
        "--resolution",
        "2",
        "-o",
        str(out),
        "--quiet",
        *extra,
    ]


@pytest.fixture(scope="module")
def result(area):
    out = area["folder"] / "buildings.tif"
    polygons = area["folder"] / "buildings.gpkg"
    run = CliRunner().invoke(cli, _args(area, out, "--polygons", str(polygons)))
    assert run.exit_code == 0, run.output
    return out, polygons


def test_raster_on_the_requested_grid(area, result):
    grid = area["grid"]
    with rasterio.open(result[0]) as src:
        assert src.crs.to_epsg() == area["epsg"]
        assert src.shape == grid.shape
        assert src.transform.almost_equals(grid.transform)
        assert src.descriptions == ("building_probability", "building_mask", "path_gain_db")
        prob, mask = src.read(1), src.read(2)
        # the cell holding the tile's north-west corner + (1 m, -1 m) is cell (0, 0)
        row, col = src.index(grid.bounds[0] + 1.0, grid.bounds[3] - 1.0)
    assert (row, col) == (0, 0)
    assert np.array_equal(mask == 1, prob >= 0.5)
    truth = area["buildings"]
    # the shipped F finds buildings better than chance on a layout it never saw
    assert prob[truth].mean() > prob[~truth].mean() + 0.1


def test_polygons_valid_in_the_output_crs(area, result):
    frame = gpd.read_file(result[1])
    assert len(frame) > 0
    assert frame.crs.to_epsg() == area["epsg"]
    assert frame.geometry.is_valid.all()
    minx, miny, maxx, maxy = area["grid"].bounds
    fminx, fminy, fmaxx, fmaxy = frame.total_bounds
    assert minx <= fminx and miny <= fminy and fmaxx <= maxx and fmaxy <= maxy
    # polygons cover the mask: their union holds most mask cells' area
    with rasterio.open(result[0]) as src:
        mask_area = float((src.read(2) == 1).sum()) * 4.0
    assert 0.8 * mask_area < frame.geometry.area.sum() < 1.2 * mask_area


def test_existing_output_is_refused_and_kept(area, result):
    before = result[0].stat().st_mtime_ns
    run = CliRunner().invoke(cli, _args(area, result[0]))
    assert run.exit_code != 0
    assert "overwrite" in run.output and "Traceback" not in run.output
    assert result[0].stat().st_mtime_ns == before


def test_no_measurement_in_the_area_fails_without_output(area, tmp_path):
    far = gpd.read_file(area["folder"] / "drive.gpkg")
    far.geometry = far.geometry.translate(5000.0, 5000.0)
    far.to_file(tmp_path / "far.gpkg", driver="GPKG")
    out = tmp_path / "out" / "far.tif"
    out.parent.mkdir()
    args = _args(area, out)
    args[args.index("--measurements") + 1] = str(tmp_path / "far.gpkg")
    run = CliRunner().invoke(cli, args)
    assert run.exit_code != 0
    assert "no measurement lies inside the grid" in run.output
    assert not list(out.parent.iterdir())


def test_corrupted_weights_are_refused(tmp_path):
    shutil.copytree(weights_dir(), tmp_path / "w")
    entry = available(tmp_path / "w")["radiocycle"]
    path = tmp_path / "w" / entry["file"]
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_model("radiocycle", tmp_path / "w")
