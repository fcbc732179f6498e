"""City-scale runs on Dask: same output as the in-memory engine, resumable, cancellable."""

import threading

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from shapely.geometry import box

from radiomap_geo.citywide import RUN_FILE, TILES_DIR, predict_city
from radiomap_geo.errors import Cancelled, DependencyError, InputError, OutputExistsError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.predict import predict_coverage, predict_to_file
from radiomap_geo.sites import Sites

pytest.importorskip("dask")

HELSINKI = "24.938,60.166,24.950,60.172"
TILE = 16  # cells: the 70 x 70 grid is cut into 5 x 5 tiles


@pytest.fixture(scope="module")
def grid():
    return Grid.from_bbox(BBox.parse(HELSINKI), 10.0)


@pytest.fixture(scope="module")
def buildings(grid):
    """Footprints in another CRS than the grid's (they are reprojected once per run)."""
    minx, miny, maxx, maxy = grid.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    blocks = [box(cx + 60, cy - 40, cx + 100, cy + 40)]
    blocks += [box(cx - 200 + 70 * i, cy - 250, cx - 160 + 70 * i, cy - 210) for i in range(5)]
    frame = gpd.GeoDataFrame({"height_m": [30.0] + [15.0] * 5}, geometry=blocks, crs=grid.crs)
    return frame.to_crs("EPSG:4326")


@pytest.fixture(scope="module")
def sites(grid):
    """Three sites a few metres from tile edges (cells 16 and 32 start new tiles)."""
    minx, _, _, maxy = grid.bounds
    edge = TILE * grid.resolution
    records = [
        {"site_id": "a", "x": minx + edge + 2, "y": maxy - edge - 3, "height_m": 20},
        {"site_id": "b", "x": minx + 2 * edge - 1, "y": maxy - 2 * edge + 1, "height_m": 25},
        {
            "site_id": "c",
            "x": minx + 3 * edge + 4,
            "y": maxy - 3 * edge - 2,
            "height_m": 18,
            "antenna": "tr38901",
            "azimuth_deg": 200,
            "tilt_deg": 4,
        },
    ]
    return Sites.from_records(records, grid.crs)


SETTINGS = dict(model="3gpp-uma", per_site=True, max_range_m=300, tile_size=TILE)


@pytest.fixture(scope="module")
def reference(grid, sites, buildings):
    return predict_coverage(grid, sites, buildings, **SETTINGS)


def _bands(path):
    with rasterio.open(path) as ds:
        return {name: ds.read(i + 1) for i, name in enumerate(ds.descriptions)}


def _assert_same(path, reference):
    bands = _bands(path)
    assert list(bands) == reference.band_names
    for name, values in bands.items():
        np.testing.assert_array_equal(values, reference[name], err_msg=name)


class Recorder:
    """The progress callable: keeps every call; tiles computed are the 'tile ...' messages."""

    def __init__(self):
        self.calls = []

    def __call__(self, done, total, message):
        self.calls.append((done, total, message))

    @property
    def computed(self):
        return [m for _, _, m in self.calls if m.startswith("tile ")]


def test_equals_predict_to_file_band_for_band(tmp_path, grid, sites, buildings, reference):
    city = predict_city(tmp_path / "city.tif", grid, sites, buildings, workers=2, **SETTINGS)
    single = predict_to_file(tmp_path / "single.tif", grid, sites, buildings, **SETTINGS)
    _assert_same(city, reference)
    with rasterio.open(city) as a, rasterio.open(single) as b:
        assert a.descriptions == b.descriptions and a.tags() == b.tags()
        assert {**a.profile, "nodata": 0} == {**b.profile, "nodata": 0}
        assert np.isnan(a.nodata) and np.isnan(b.nodata)
        np.testing.assert_array_equal(a.read(), b.read())
        assert [a.tags(i) for i in range(1, a.count + 1)] == [
            b.tags(i) for i in range(1, b.count + 1)
        ]
    # Several tiles, and the default work directory is gone after success.
    assert not (tmp_path / "city.tif.work").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.tif", "single.tif"]


def test_resume_recomputes_only_missing_tiles(tmp_path, grid, sites, buildings, reference):
    work = tmp_path / "work"
    out = tmp_path / "city.tif"
    first = Recorder()
    predict_city(out, grid, sites, buildings, work_dir=work, progress=first, **SETTINGS)
    tiles = sorted((work / TILES_DIR).glob("*.npz"))
    assert len(tiles) == len(first.computed) == 25 and (work / RUN_FILE).is_file()
    assert first.calls[-1][:2] == (25, 25)
    stamps = {p.name: p.stat().st_mtime_ns for p in tiles}
    (work / TILES_DIR / "2_1.npz").unlink()
    out.unlink()
    second = Recorder()
    predict_city(out, grid, sites, buildings, work_dir=work, progress=second, **SETTINGS)
    assert second.computed == ["tile 2_1"]
    assert second.calls[0][:2] == (24, 25)
    for path in (work / TILES_DIR).glob("*.npz"):
        if path.name != "2_1.npz":
            assert path.stat().st_mtime_ns == stamps[path.name], path.name
    _assert_same(out, reference)


def test_other_settings_in_the_same_work_dir_are_refused(tmp_path, grid, sites, buildings):
    work = tmp_path / "work"
    small = dict(SETTINGS, per_site=False)
    predict_city(tmp_path / "a.tif", grid, sites, buildings, work_dir=work, **small)
    with pytest.raises(InputError, match="other settings.*receiver"):
        predict_city(
            tmp_path / "b.tif", grid, sites, buildings, work_dir=work, rx_height_m=3.0, **small
        )
    moved = Sites.from_records(
        [{"site_id": "a", "x": sites[0].x + 5, "y": sites[0].y, "height_m": 20}], grid.crs
    )
    with pytest.raises(InputError, match="other settings.*sites"):
        predict_city(tmp_path / "b.tif", grid, moved, buildings, work_dir=work, **small)
    assert not (tmp_path / "b.tif").exists()
    # overwrite discards the old tiles and starts afresh.
    progress = Recorder()
    predict_city(
        tmp_path / "b.tif",
        grid,
        moved,
        buildings,
        work_dir=work,
        overwrite=True,
        progress=progress,
        **small,
    )
    assert len(progress.computed) == 25


def test_existing_output_is_not_overwritten(tmp_path, grid, sites, buildings, reference):
    out = tmp_path / "city.tif"
    out.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="overwrite"):
        predict_city(out, grid, sites, buildings, **SETTINGS)
    assert out.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.tif"]
    predict_city(out, grid, sites, buildings, overwrite=True, **SETTINGS)
    _assert_same(out, reference)


def test_cancel_keeps_finished_tiles_for_the_rerun(tmp_path, grid, sites, buildings, reference):
    work, out = tmp_path / "work", tmp_path / "city.tif"
    progress = Recorder()
    with pytest.raises(Cancelled):
        predict_city(
            out,
            grid,
            sites,
            buildings,
            work_dir=work,
            workers=1,
            progress=progress,
            is_cancelled=lambda: len(progress.computed) >= 3,
            **SETTINGS,
        )
    assert not out.exists()
    assert len(list((work / TILES_DIR).glob("*.npz"))) == 3
    assert list((work / TILES_DIR).glob(".*")) == []  # no half-written tile
    rerun = Recorder()
    predict_city(out, grid, sites, buildings, work_dir=work, progress=rerun, **SETTINGS)
    assert rerun.calls[0][:2] == (3, 25) and len(rerun.computed) == 22
    _assert_same(out, reference)


def test_processes_scheduler(tmp_path, grid, sites, buildings, reference):
    out = tmp_path / "city.tif"
    predict_city(out, grid, sites, buildings, scheduler="processes", workers=2, **SETTINGS)
    _assert_same(out, reference)


def test_distributed_client(tmp_path, grid, sites, buildings, reference):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as client:
        out = predict_city(tmp_path / "city.tif", grid, sites, buildings, client=client, **SETTINGS)
    _assert_same(out, reference)


def test_bad_scheduler_and_unpicklable_model_are_refused(tmp_path, grid, sites):
    from dataclasses import dataclass, field

    from radiomap_geo.models.registry import get_model

    with pytest.raises(InputError, match="unknown scheduler"):
        predict_city(tmp_path / "a.tif", grid, sites, scheduler="cluster", **SETTINGS)

    @dataclass
    class Locked:
        inner: object
        lock: object = field(default_factory=threading.Lock)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    model = Locked(get_model("3gpp-uma"))
    with pytest.raises(InputError, match="registry name"):
        predict_city(tmp_path / "a.tif", grid, sites, model=model, scheduler="processes")
    assert list(tmp_path.iterdir()) == []


def test_missing_dask_is_explained(tmp_path, grid, sites, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(DependencyError, match=r"radiomap-geo\[dask\]"):
        predict_city(tmp_path / "a.tif", grid, sites, **SETTINGS)


def test_cli_predict_city_end_to_end(tmp_path, sample_dir, sample_pbf):
    from radiomap_geo.cli.main import cli

    common = [
        "--bbox",
        "24.937,60.165,24.951,60.172",
        "--tx-file",
        sample_dir / "sites.gpkg",
        "--buildings",
        sample_pbf,
        "--resolution",
        10,
        "--model",
        "3gpp-uma",
        "--tile-size",
        20,
        "--quiet",
    ]
    city, single, work = tmp_path / "city.tif", tmp_path / "single.tif", tmp_path / "work"

    def run(*args):
        return CliRunner().invoke(cli, [str(a) for a in args])

    result = run("predict-city", *common, "-o", city, "--work-dir", work, "--workers", 2)
    assert result.exit_code == 0, result.output
    assert f"wrote {city}" in result.output and len(list((work / TILES_DIR).iterdir())) > 1
    result = run("predict", *common, "-o", single)
    assert result.exit_code == 0, result.output
    with rasterio.open(city) as a, rasterio.open(single) as b:
        assert a.descriptions == b.descriptions and a.tags() == b.tags()
        np.testing.assert_array_equal(a.read(), b.read())
    again = run("predict-city", *common, "-o", city, "--work-dir", work)
    assert again.exit_code != 0 and "--overwrite" in again.output
    bad = run("predict-city", *common, "-o", city, "--scheduler", "cluster")
    assert bad.exit_code != 0 and "scheduler" in bad.output


def test_a_truncated_tile_is_named_and_recomputed(
    tmp_path, grid, sites, buildings, reference, caplog
):
    work, out = tmp_path / "work", tmp_path / "city.tif"
    predict_city(out, grid, sites, buildings, work_dir=work, **SETTINGS)
    damaged = sorted((work / TILES_DIR).glob("*.npz"))[7]
    whole = damaged.read_bytes()
    damaged.write_bytes(whole[: len(whole) // 2])  # a copy cut short, a full disk
    progress = Recorder()
    with caplog.at_level("WARNING"):
        predict_city(
            out,
            grid,
            sites,
            buildings,
            work_dir=work,
            overwrite=True,
            progress=progress,
            **SETTINGS,
        )
    assert f"tile file {damaged} is unreadable" in caplog.text
    assert progress.computed == [f"tile {damaged.stem}"]  # that tile only
    assert damaged.stat().st_size > len(whole) // 2
    _assert_same(out, reference)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_a_clean_error(tmp_path, grid, sites, sample_dir, sample_pbf):
    pytest.importorskip("distributed")
    import dask

    from radiomap_geo.cli.main import cli

    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(InputError, match="cannot reach the Dask scheduler at") as info:
            predict_city(tmp_path / "a.tif", grid, sites, scheduler=address, **SETTINGS)
        assert info.value.parameter == "scheduler" and address in str(info.value)
        result = CliRunner().invoke(
            cli,
            [
                *("predict-city", "--bbox", "24.937,60.165,24.951,60.172"),
                *("--tx-file", str(sample_dir / "sites.gpkg"), "--buildings", str(sample_pbf)),
                *("--resolution", "10", "--model", "3gpp-uma", "--quiet"),
                *("--scheduler", address, "-o", str(tmp_path / "b.tif")),
            ],
        )
    assert result.exit_code != 0 and "cannot reach the Dask scheduler" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert not (tmp_path / "a.tif").exists() and not (tmp_path / "b.tif").exists()


def test_process_workers_end_when_the_client_is_killed(tmp_path, sample_dir, sample_pbf):
    import signal
    import subprocess
    import time
    from pathlib import Path

    psutil = pytest.importorskip("psutil")
    command = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "radiomap-geo"
    if not command.exists():
        pytest.skip("no radiomap-geo command in .venv")
    args = [
        *(str(command), "predict-city", "--bbox", "24.937,60.165,24.951,60.172"),
        *("--tx-file", str(sample_dir / "sites.gpkg"), "--buildings", str(sample_pbf)),
        *("--resolution", "2", "--tile-size", "64", "--quiet"),
        *("--scheduler", "processes", "--workers", "2", "-o", str(tmp_path / "c.tif")),
    ]
    client = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(client.pid)
    deadline = time.monotonic() + 120
    workers = []
    while len(workers) < 2 and client.poll() is None:
        assert time.monotonic() < deadline, "no worker processes started"
        workers = [p for p in parent.children(recursive=True) if "python" in p.name().lower()]
        time.sleep(0.1)
    if client.poll() is not None:
        pytest.skip("the run finished before it could be killed")
    time.sleep(3)  # let the workers import and start computing tiles
    descendants = parent.children(recursive=True)
    client.send_signal(signal.SIGKILL)
    client.wait()
    gone, alive = psutil.wait_procs(descendants, timeout=15)
    assert not alive, f"orphaned workers: {[p.pid for p in alive]}"
    assert len(gone) >= 2
