"""The command line, including the evaluation contract of the core issue."""

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from radiomap_geo.cli.main import cli
from radiomap_geo.io.buildings import read_buildings
from radiomap_geo.sites import read_sites

DEMO_BBOX = "24.937,60.165,24.951,60.172"


@pytest.fixture(scope="module")
def projected_footprints(tmp_path_factory, sample_pbf):
    """Footprints in a projected CRS (ETRS-TM35FIN) with a plain ``height`` column."""
    frame = read_buildings(sample_pbf)
    frame = frame.to_crs("EPSG:3067")[["height_m", "geometry"]].rename(
        columns={"height_m": "height"}
    )
    path = tmp_path_factory.mktemp("inputs") / "buildings_3067.gpkg"
    frame.to_file(path)
    return path


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_evaluation_contract(tmp_path, projected_footprints, sample_dir):
    from pyproj import Transformer

    to_3067 = Transformer.from_crs("EPSG:4326", "EPSG:3067", always_xy=True)
    lons, lats = (24.937, 24.951), (60.165, 60.172)
    xs, ys = to_3067.transform(lons, lats)
    bbox = f"{min(xs)},{min(ys)},{max(xs)},{max(ys)}"
    out = tmp_path / "cov.tif"
    result = _run(
        "predict",
        "--buildings",
        projected_footprints,
        "--tx-file",
        sample_dir / "sites.gpkg",
        "--bbox",
        bbox,
        "--bbox-crs",
        "EPSG:3067",
        "--resolution",
        4,
        "--model",
        "3gpp-umi",
        "--per-site",
        "-o",
        out,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    sites = read_sites(sample_dir / "sites.gpkg")
    with rasterio.open(out) as ds:
        names = ds.descriptions
        assert names[:4] == ("rsrp_dbm", "best_server", "sinr_db", "rx_power_dbm")
        assert names[4:-1] == tuple(f"path_gain_db:{s}" for s in sites.ids)
        assert names[-1] == "e_field_vpm"
        rsrp = ds.read(1)
        best = ds.read(2)
        rx_power = ds.read(4)
        gains = ds.read(list(range(5, 5 + len(sites))))
        # rx_power is the best server's power_dbm plus its path gain; RSRP is that per resource
        # element: NR, 30 kHz, 20 MHz = 51 resource blocks = 612 subcarriers, -27.87 dB.
        powers = np.array([s.power_dbm for s in sites], np.float32)[:, None, None]
        expected = np.fmax.reduce(gains + powers, axis=0)
        np.testing.assert_allclose(rx_power, expected, atol=1e-3, equal_nan=True)
        np.testing.assert_allclose(rsrp, rx_power - 10 * np.log10(612), atol=1e-3, equal_nan=True)
        assert ds.tags()["description_rsrp_dbm"].startswith("RSRP")
        assert "total received power" in ds.tags()["description_rx_power_dbm"]
        site = read_sites(sample_dir / "sites.gpkg", crs=ds.crs.to_wkt())
        lookup = dict(kv.split("=") for kv in ds.tags()["best_server_lookup"].split(";"))
        # Each omni or sector site's own cell is served by a co-located site, at high power.
        for s in site:
            row, col = ds.index(s.x, s.y)
            if np.isnan(rsrp[row, col]):
                continue  # a rooftop site above a building cell (nodata)
            assert lookup[str(int(best[row, col]))] in {
                t.site_id for t in site if abs(t.x - s.x) < 5 and abs(t.y - s.y) < 5
            }
        finite = rsrp[np.isfinite(rsrp)]
        assert -170 < finite.min() and finite.max() < -25
        assert np.isnan(rsrp).mean() > 0.2  # buildings are nodata in a dense centre


def test_refuses_to_overwrite_and_explains_bad_input(tmp_path, sample_dir, sample_pbf):
    out = tmp_path / "cov.tif"
    out.write_bytes(b"keep")
    common = [
        "--tx-file",
        sample_dir / "sites.gpkg",
        "--buildings",
        sample_pbf,
        "-o",
        out,
        "--quiet",
    ]
    result = CliRunner().invoke(cli, [str(a) for a in ["predict", "--bbox", DEMO_BBOX, *common]])
    assert result.exit_code != 0 and "--overwrite" in result.output
    assert out.read_bytes() == b"keep"
    swapped = "24.951,60.165,24.937,60.172"
    result = CliRunner().invoke(
        cli, [str(a) for a in ["predict", "--bbox", swapped, *common, "--overwrite"]]
    )
    assert result.exit_code != 0 and "swapped" in result.output
    small = "24.944,60.169,24.945,60.1695"
    result = CliRunner().invoke(
        cli, [str(a) for a in ["predict", "--bbox", small, *common, "--overwrite"]]
    )
    assert result.exit_code != 0 and "outside the area" in result.output
    assert out.read_bytes() == b"keep"


def test_preview_and_models(tmp_path, sample_dir, sample_pbf):
    out = tmp_path / "cov.tif"
    result = _run(
        "predict",
        "--bbox",
        DEMO_BBOX,
        "--tx-file",
        sample_dir / "sites.gpkg",
        "--buildings",
        sample_pbf,
        "--resolution",
        8,
        "-o",
        out,
        "--preview",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    listing = _run("models")
    from radiomap_geo.models.registry import default_model

    assert listing.output.split()[0] == default_model() and "cost231-hata" in listing.output


def test_open_ground_predicts_without_reading_or_downloading_buildings(tmp_path, sample_dir):
    # the OSM cache folder stays empty and cache-only: any download attempt would fail the run
    out = tmp_path / "open.tif"
    cache = tmp_path / "osm-cache"
    cache.mkdir()
    result = _run(
        "predict", "--bbox", DEMO_BBOX, "--tx-file", sample_dir / "sites.gpkg", "--open-ground",
        "--osm-cache-only", "--osm-cache-dir", cache, "--resolution", 8, "--model", "3gpp-uma",
        "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "open ground: no buildings" in result.output
    assert not any(cache.iterdir())
    sites = read_sites(sample_dir / "sites.gpkg")
    with rasterio.open(out) as ds:
        rsrp = ds.read(list(ds.descriptions).index("rsrp_dbm") + 1)
        site = sites.to_crs(ds.crs)[0]
        near = rsrp[ds.index(site.x + 40, site.y)]
        far = rsrp[ds.index(site.x + 250, site.y)]
    assert np.isfinite(near) and np.isfinite(far) and near > far + 10
