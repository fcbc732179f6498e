"""End to end: import -> fit -> predict --model fitted:FILE, values and georeference checked."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from pyproj import Transformer
from shapely.geometry import box

from radiomap_geo.cli.main import cli
from radiomap_geo.errors import WeightsError
from radiomap_geo.measurements.modelfile import load_fitted_model
from radiomap_geo.options import RunOptions

TOWER = (431000.0, 5030000.0)  # UTM 18N (Ottawa)
CELL = "302-720-29100-2561"


def _walk_csv(path, rng):
    rows = ["mcc,mnc,lac,cellid,lat,lon,signal,measured_at,speed,ta,pci"]
    to_lonlat = Transformer.from_crs(32618, 4326, always_xy=True)
    t = 1610209931784
    for street in (-150.0, 0.0, 150.0):  # three east-west streets, 600 m long
        for x in np.arange(-300, 300, 4.0):
            px, py = TOWER[0] + x, TOWER[1] + street + 40
            d = np.sqrt((px - TOWER[0]) ** 2 + (py - TOWER[1]) ** 2 + 25.0**2)
            rsrp = round(-20 - 33 * np.log10(d) + rng.normal(0, 2))
            lon, lat = to_lonlat.transform(px, py)
            rows.append(
                f"302,720,29100,2561,{lat:.7f},{lon:.7f},{rsrp},{t},1.0,{int(d // 78.12)},7"
            )
            t += 5000
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fitted")
    rng = np.random.default_rng(0)
    _walk_csv(tmp / "walk.csv", rng)
    lon, lat = Transformer.from_crs(32618, 4326, always_xy=True).transform(*TOWER)
    towers = gpd.GeoDataFrame(
        {
            "site_id": [CELL],
            "cell": [CELL],
            "cellid": [2561],
            "site": ["302-720-10"],
            "height_m": [25.0],
            "power_dbm": [43.0],
        },
        geometry=gpd.points_from_xy([lon], [lat]),
        crs=4326,
    )
    towers.to_file(tmp / "towers.gpkg")
    blocks = gpd.GeoDataFrame(
        {"height_m": [12.0]},
        geometry=[box(TOWER[0] + 100, TOWER[1] - 120, TOWER[0] + 140, TOWER[1] - 80)],
        crs=32618,
    )
    blocks.to_file(tmp / "buildings.gpkg")
    runner = CliRunner()
    steps = [
        ["measurements", "import", str(tmp / "walk.csv"), "-o", str(tmp / "m.gpkg")],
        [
            "measurements",
            "fit",
            str(tmp / "m.gpkg"),
            "--towers",
            str(tmp / "towers.gpkg"),
            "--method",
            "vae-likelihood",
            "--vae-epochs",
            "1",
            "-o",
            str(tmp / "model.pt"),
        ],
    ]
    for args in steps:
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    return tmp


def test_fitted_file_is_verified_and_small(fitted):
    model, digest = load_fitted_model(fitted / "model.pt")
    assert model.method == "vae-likelihood" and len(digest) == 64
    assert "302-720-10" in model.site_models  # enough bins for the neural model
    assert (fitted / "model.pt").stat().st_size < 1_000_000
    damaged = fitted / "damaged.pt"
    data = bytearray((fitted / "model.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(WeightsError):
        load_fitted_model(damaged)


def test_predict_with_fitted_model_writes_fitted_rsrp_at_the_right_place(fitted):
    out = fitted / "coverage.tif"
    lon0, lat0 = Transformer.from_crs(32618, 4326, always_xy=True).transform(
        TOWER[0] - 200, TOWER[1] - 100
    )
    lon1, lat1 = Transformer.from_crs(32618, 4326, always_xy=True).transform(
        TOWER[0] + 200, TOWER[1] + 200
    )
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            "--bbox",
            f"{lon0},{lat0},{lon1},{lat1}",
            "--tx-file",
            str(fitted / "towers.gpkg"),
            "--buildings",
            str(fitted / "buildings.gpkg"),
            "--resolution",
            "10",
            "--model",
            f"fitted:{fitted / 'model.pt'}",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    model, _ = load_fitted_model(fitted / "model.pt")
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 32618
        names = list(src.descriptions)
        rsrp = src.read(names.index("rsrp_dbm") + 1)
        std = src.read(names.index("rsrp_std_db") + 1)
        # A point on the middle street, 120 m east of the tower: the band holds the fitted RSRP
        # (for the default bandwidth) in the cell containing that point.
        px, py = TOWER[0] + 120, TOWER[1] + 40
        row, col = src.index(px, py)
        cx, cy = src.xy(row, col)
        import pandas as pd

        mu, sigma = model.predict(
            pd.DataFrame({"cell": [CELL], "x": [cx], "y": [cy], "month": [1]})
        )
    assert rsrp[row, col] == pytest.approx(mu[0], abs=0.05)
    assert std[row, col] == pytest.approx(sigma[0], abs=0.01)
    assert np.isnan(std[np.isnan(rsrp)]).all()
    assert -110 < mu[0] < -70 and 0.5 <= sigma[0] < 10
    truth = -20 - 33 * np.log10(np.sqrt(120**2 + 40**2 + 25**2))
    assert abs(mu[0] - truth) < 4.0
    assert RunOptions().rsrp_offset_db < 0


def test_geometry_variant_fits_and_predicts_through_the_engine(fitted):
    out = fitted / "geo.pt"
    result = CliRunner().invoke(
        cli,
        [
            "measurements",
            "fit",
            str(fitted / "m.gpkg"),
            "--towers",
            str(fitted / "towers.gpkg"),
            "--method",
            "vae-likelihood-geo",
            "--vae-epochs",
            "1",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    model, _ = load_fitted_model(out)
    assert model.method == "vae-likelihood-geo" and model.metadata["geometry_model"]
    # the recipe travels in the file: an ensemble with the count-aware variance and link inputs
    assert model.recipe.physics and model.recipe.count_aware
    assert all(len(e.members) == 5 for e in model.site_models.values())
    tif = fitted / "geo.tif"
    lon0, lat0 = Transformer.from_crs(32618, 4326, always_xy=True).transform(
        TOWER[0] - 100, TOWER[1] - 150
    )
    lon1, lat1 = Transformer.from_crs(32618, 4326, always_xy=True).transform(
        TOWER[0] + 200, TOWER[1] + 100
    )
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            "--bbox",
            f"{lon0},{lat0},{lon1},{lat1}",
            "--tx-file",
            str(fitted / "towers.gpkg"),
            "--buildings",
            str(fitted / "buildings.gpkg"),
            "--resolution",
            "10",
            "--max-range",
            "500",
            "--model",
            f"fitted:{out}",
            "-o",
            str(tif),
        ],
    )
    assert result.exit_code == 0, result.output
    with rasterio.open(tif) as src:
        names = list(src.descriptions)
        rsrp = src.read(names.index("rsrp_dbm") + 1)
        row, col = src.index(TOWER[0] + 120, TOWER[1] + 40)
    truth = -20 - 33 * np.log10(np.sqrt(120**2 + 40**2 + 25**2))
    assert abs(rsrp[row, col] - truth) < 5.0


def test_crossval_cli_prints_every_method_and_refuses_an_unknown_one(fitted):
    args = ["measurements", "crossval", str(fitted / "m.gpkg"), "--towers"]
    args += [str(fitted / "towers.gpkg"), "--folds", "3", "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--methods", "ldpl,mlp"])
    assert result.exit_code == 0, result.output
    rows = {line.split("|")[1].strip(): line for line in result.output.splitlines()[2:4]}
    assert set(rows) == {"ldpl", "mlp"}
    # the walk follows a log-distance law with 2 dB noise: both land near that noise
    for line in rows.values():
        assert 1.0 < float(line.split("|")[2]) < 4.0
    bad = CliRunner().invoke(cli, [*args, "--methods", "ldpl,krige"])
    assert bad.exit_code != 0 and "unknown method 'krige'" in bad.output
    assert "Traceback" not in bad.output


def test_model_fitted_on_open_ground_ignores_buildings_in_its_geometry_input(fitted, caplog):
    # geo.pt was fitted without --buildings: its geometry input must stay open ground at
    # predict time too, or a building in this run would shift an input the fit never saw
    from radiomap_geo.grid import BBox, Grid
    from radiomap_geo.models.base import SceneInputs
    from radiomap_geo.models.registry import get_model
    from radiomap_geo.sites import read_sites

    if not (fitted / "geo.pt").exists():
        pytest.skip("needs the geometry-variant fit of the test above")
    model = get_model(f"fitted:{fitted / 'geo.pt'}")
    model = getattr(model, "primary", model)
    grid = Grid.from_bbox(
        BBox(TOWER[0] - 160, TOWER[1] - 160, TOWER[0] + 160, TOWER[1] + 160, "EPSG:32618"), 10.0
    )
    site = read_sites(fitted / "towers.gpkg", crs=grid.crs)[0]
    tall = np.zeros(grid.shape, np.float32)
    tall[10:20, 20:26] = 40.0  # a tower block between the site and the south-east
    with caplog.at_level("WARNING"):
        with_block = model.path_gain_db(SceneInputs(grid, tall), site, grid)
    open_ground = model.path_gain_db(SceneInputs(grid, np.zeros_like(tall)), site, grid)
    assert np.allclose(with_block, open_ground, equal_nan=True)
    assert "fitted without building footprints" in caplog.text
