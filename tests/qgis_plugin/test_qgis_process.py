"""The plugin from the shell: ``qgis_process.bin`` with the environment of scripts/qgis_env.sh."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from qgis_support import DELFT_BUILDINGS, DELFT_SITES, REPO, SAMPLE_DATA, qgis_extent, write_sites

pytestmark = pytest.mark.qgis

QGIS_PROCESS = shutil.which("qgis_process.bin")
if QGIS_PROCESS is None:
    pytest.skip("qgis_process.bin is not installed (apt-get install qgis)", allow_module_level=True)


@pytest.fixture(scope="module")
def qgis_process(tmp_path_factory):
    """``qgis_process(*args)`` in a fresh headless profile with the plugin enabled."""
    home = tmp_path_factory.mktemp("qgis-home")
    env = {**os.environ, "RADIOMAP_QGIS_HOME": str(home)}
    for name in ("PYTHONPATH", "QGIS_PLUGINPATH", "QGIS_CUSTOM_CONFIG_PATH", "XDG_RUNTIME_DIR"):
        env.pop(name, None)  # whatever the pytest process had: the script sets its own

    def call(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                "bash",
                "-c",
                '. scripts/qgis_env.sh && exec qgis_process.bin "$@"',
                "qgis_env",
                *args,
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    enabled = call("plugins", "enable", "radiomap_geo_qgis")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    return call


def test_list_and_help(qgis_process):
    listing = qgis_process("list")
    assert listing.returncode == 0, listing.stderr
    assert "radiomapgeo:predictcoverage\tPredict coverage" in listing.stdout
    assert "radiomapgeo:raytracecoverage\tRay-trace coverage" in listing.stdout
    helped = qgis_process("help", "radiomapgeo:predictcoverage")
    assert helped.returncode == 0, helped.stderr
    for name in ("SITES", "EXTENT", "MODEL", "OUTPUT_RSRP", "OUTPUT_PER_SITE"):
        assert name in helped.stdout


def test_run_on_sample_data(qgis_process, tmp_path):
    pbf, sites = SAMPLE_DATA / "helsinki.osm.pbf", SAMPLE_DATA / "sites.gpkg"
    if not (pbf.exists() and sites.exists()):
        pytest.skip("sample_data/ is incomplete")
    rsrp, best = tmp_path / "rsrp.tif", tmp_path / "best.tif"
    done = qgis_process(
        "--json",
        "run",
        "radiomapgeo:predictcoverage",
        "--",
        f"SITES={sites}",
        f'BUILDINGS={pbf}|layername=multipolygons|subset="building" IS NOT NULL',
        "EXTENT=24.937,24.951,60.165,60.172 [EPSG:4326]",
        "RESOLUTION=10",
        "MODEL=3gpp-uma",
        f"OUTPUT_RSRP={rsrp}",
        f"OUTPUT_BEST_SERVER={best}",
    )
    # rc 0 also proves a clean exit: no abort in PROJ's destructors (see scripts/qgis_env.sh).
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["results"] == {"OUTPUT_RSRP": str(rsrp), "OUTPUT_BEST_SERVER": str(best)}
    # The grid as users read it: cells, cell size, size on the ground, CRS (not a repr).
    grid_line = (
        "Grid: 81 x 81 cells of 10 m (810 m x 810 m, 6,561 cells) in EPSG:32635 "
        "(WGS 84 / UTM zone 35N), bounds 385510.0, 6671550.0, 386320.0, 6672360.0"
    )
    assert any(grid_line in line for line in report["log"]["info"]), report["log"]

    import rasterio

    with rasterio.open(rsrp) as ds:
        assert ds.crs.to_epsg() == 32635 and ds.descriptions == ("rsrp_dbm",)
        values = ds.read(1)
        transform = ds.transform
    # The same run through the core API (its own OSM reader): the plugin is a thin front end.
    from radiomap_geo.api import BBox, Grid, load_buildings, predict_coverage, read_sites

    grid = Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), 10.0)
    assert tuple(transform) == tuple(grid.transform) and values.shape == grid.shape
    core = predict_coverage(
        grid, read_sites(sites, crs=grid.crs), load_buildings(grid, pbf), model="3gpp-uma"
    )["rsrp_dbm"]
    both = np.isfinite(values) & np.isfinite(core)
    assert both.mean() > 0.5  # outdoor cells of both runs
    close = np.abs(values[both] - core[both]) < 0.01
    # Most cells agree to 0.01 dB; the rest lie where the two OSM readers (GDAL in QGIS,
    # osmium in the core) assemble a few broken building outlines differently (line of sight).
    assert close.mean() > 0.8, f"{close.mean():.3f} of the cells agree"


def test_error_is_a_message_not_a_traceback(qgis_process, tmp_path):
    sites = SAMPLE_DATA / "sites.gpkg"
    if not sites.exists():
        pytest.skip("sample_data/sites.gpkg is missing")
    failed = qgis_process(
        "run",
        "radiomapgeo:predictcoverage",
        "--",
        f"SITES={sites}",
        "EXTENT=24.937,24.951,60.165,60.172 [EPSG:4326]",
        "CRS=EPSG:4326",
        f"OUTPUT_RSRP={tmp_path / 'rsrp.tif'}",
    )
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "is geographic (degrees)" in output and "(CRS)" in output
    assert "Traceback" not in output
    assert not (tmp_path / "rsrp.tif").exists()


@pytest.mark.rt
def test_raytrace_exits_cleanly(qgis_process, tmp_path):
    """Ray tracing from the shell; rc 0 also proves a clean exit (see native.py)."""
    try:
        from radiomap_geo.rt.llvm import import_sionna_rt, libllvm_available

        import_sionna_rt()
    except Exception as exc:  # DependencyError, ImportError
        pytest.skip(f"Sionna RT cannot run here: {exc}")
    if not libllvm_available():
        pytest.skip("libLLVM 19 not found")
    if not DELFT_BUILDINGS.exists():
        pytest.skip(f"{DELFT_BUILDINGS} is missing")
    site = DELFT_SITES[0]
    sites = write_sites(tmp_path / "site.gpkg", [site])
    box = (site["x"] - 60, site["y"] - 60, site["x"] + 20, site["y"] + 20)
    rsrp = tmp_path / "rsrp.tif"
    done = qgis_process(
        "--json",
        "run",
        "radiomapgeo:raytracecoverage",
        "--",
        f"SITES={sites}",
        f"BUILDINGS={DELFT_BUILDINGS}",
        f"EXTENT={qgis_extent(box, 'EPSG:28992')}",
        "CRS=EPSG:28992",
        "RESOLUTION=4",
        "SAMPLES=100000",
        "MAX_DEPTH=1",
        "DIFFRACTION=false",
        f"OUTPUT_RSRP={rsrp}",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads(done.stdout)["results"] == {"OUTPUT_RSRP": str(rsrp)}
    import rasterio

    with rasterio.open(rsrp) as ds:
        assert ds.crs.to_epsg() == 28992 and tuple(ds.bounds) == box
        assert np.isfinite(ds.read(1)).mean() > 0.3
