"""A city-style tiled run with the sweep geometry equals the untiled prediction (1 km^2 crop)."""

import numpy as np
import pytest
import rasterio

from radiomap_geo.api import BBox, Grid, load_buildings, read_sites
from radiomap_geo.predict import predict_coverage

pytest.importorskip("dask")


@pytest.mark.parametrize("model", [None, "3gpp-uma"])  # None: the default network
def test_tiled_city_run_equals_untiled_predict(tmp_path, sample_pbf, sample_dir, model):
    from radiomap_geo.citywide import predict_city

    # The sample area grown to ~1 km^2 (0.99 x 1.01 km) around the bundled Helsinki extract.
    grid = Grid.from_bbox(BBox.parse("24.935,60.164,24.953,60.173"), resolution=2.0)
    assert 0.9e6 < grid.width * grid.height * 4.0 < 1.1e6
    sites = read_sites(sample_dir / "sites.gpkg", crs=grid.crs)
    buildings = load_buildings(grid, sample_pbf)
    untiled = predict_coverage(grid, sites, buildings, model=model, tile_size=1024)
    path = predict_city(tmp_path / "city.tif", grid, sites, buildings, model=model,
                        tile_size=128, scheduler="threads", workers=2)  # fmt: skip
    with rasterio.open(path) as src:
        tiled = {name: src.read(i + 1) for i, name in enumerate(src.descriptions)}
    reference = untiled["rsrp_dbm"]
    np.testing.assert_array_equal(np.isnan(tiled["rsrp_dbm"]), np.isnan(reference))
    assert np.isfinite(reference).mean() > 0.5
    assert np.nanmax(np.abs(tiled["rsrp_dbm"] - reference)) <= 0.1
    assert np.nanmax(np.abs(tiled["sinr_db"] - untiled["sinr_db"])) <= 0.1
    np.testing.assert_array_equal(tiled["best_server"], untiled["best_server"])


def test_rerun_after_kill_9_of_the_client_is_bit_identical(tmp_path, sample_dir, sample_pbf):
    import signal
    import subprocess
    import time
    from pathlib import Path

    from radiomap_geo.citywide import TILES_DIR

    command = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "radiomap-geo"
    if not command.exists():
        pytest.skip("no radiomap-geo command in .venv")

    def args(output: Path, work: Path) -> list[str]:
        return [
            *(str(command), "predict-city", "--bbox", "24.937,60.165,24.951,60.172"),
            *("--tx-file", str(sample_dir / "sites.gpkg"), "--buildings", str(sample_pbf)),
            *("--resolution", "4", "--tile-size", "24", "--model", "3gpp-uma", "--quiet"),
            *("--max-range", "400", "--workers", "1", "-o", str(output), "--work-dir", str(work)),
        ]

    work = tmp_path / "killed.work"
    client = subprocess.Popen(args(tmp_path / "a.tif", work), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while client.poll() is None and len(list((work / TILES_DIR).glob("*"))) < 3:
        assert time.monotonic() < deadline, "no tile finished"
        time.sleep(0.05)
    if client.poll() is not None:
        pytest.skip("the run finished before it could be killed")
    client.send_signal(signal.SIGKILL)
    client.wait()
    kept = len(list((work / TILES_DIR).glob("*")))
    assert not (tmp_path / "a.tif").exists() and kept >= 3
    subprocess.run(args(tmp_path / "a.tif", work), check=True)  # resumes the killed run
    subprocess.run(args(tmp_path / "b.tif", tmp_path / "fresh.work"), check=True)
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        assert a.descriptions == b.descriptions
        np.testing.assert_array_equal(a.read(), b.read())  # NaN where NaN, else bit for bit


def test_kill_9_of_a_dask_worker_still_gives_the_same_file(tmp_path, sample_dir, sample_pbf):
    import os
    import signal
    import threading
    import time

    distributed = pytest.importorskip("distributed")
    from radiomap_geo.citywide import TILES_DIR, predict_city

    grid = Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), resolution=4.0)
    sites = read_sites(sample_dir / "sites.gpkg", crs=grid.crs)
    buildings = load_buildings(grid, sample_pbf)
    settings = dict(model="3gpp-uma", max_range_m=400, tile_size=24)
    reference = predict_coverage(grid, sites, buildings, **settings)
    work = tmp_path / "city.work"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        with distributed.Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
            done = {}

            def run():
                done["path"] = predict_city(tmp_path / "city.tif", grid, sites, buildings,
                                            work_dir=work, client=client, **settings)  # fmt: skip

            runner = threading.Thread(target=run)
            runner.start()
            deadline = time.monotonic() + 120
            while runner.is_alive() and len(list((work / TILES_DIR).glob("*"))) < 2:
                assert time.monotonic() < deadline, "no tile finished"
                time.sleep(0.05)
            if not runner.is_alive():
                pytest.skip("the run finished before a worker could be killed")
            os.kill(pids[0], signal.SIGKILL)
            runner.join(timeout=300)
    assert "path" in done
    with rasterio.open(done["path"]) as src:
        for i, name in enumerate(src.descriptions):
            np.testing.assert_array_equal(src.read(i + 1), reference[name])
