"""Outputs appear complete or not at all, are never clobbered without ``overwrite``, and a full
disk or a read-only folder is reported as such (on real file systems: small tmpfs mounts where
this user may mount, otherwise skipped with the reason)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from radiomap_geo.errors import OutputError, OutputExistsError
from radiomap_geo.grid import BBox, Grid
from radiomap_geo.io.atomic import (
    STAGING_SUFFIX,
    atomic_open,
    atomic_path,
    check_target,
    clean_stale_staging,
    publish,
    staging_path,
)
from radiomap_geo.io.raster import write_bands
from radiomap_geo.jsonio import plain, read_json, write_json

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def grid():
    return Grid.from_bbox(BBox.parse("24.938,60.166,24.950,60.172"), 2.0)


def _bands(grid, seed=0):
    rng = np.random.default_rng(seed)
    return {"rsrp_dbm": rng.normal(-90, 10, grid.shape).astype(np.float32)}


def _mount_tmpfs(folder: Path, options: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")


@pytest.fixture()
def tiny_disk(tmp_path):
    """A 200 kB file system: a 2 m grid of a 700 x 700 m box does not fit."""
    folder = tmp_path / "tiny"
    _mount_tmpfs(folder, "size=200k")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture()
def read_only_dir(tmp_path):
    folder = tmp_path / "ro"
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    _mount_tmpfs(folder, "size=1m,ro")  # root writes through mode bits: needs a real ro mount
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_staging_of_dead_runs_is_removed_live_ones_kept(tmp_path):
    target = tmp_path / "coverage.tif"
    dead = tmp_path / f".coverage.tif.{_dead_pid()}.abc123{STAGING_SUFFIX}"
    live = tmp_path / f".coverage.tif.{os.getppid()}.def456{STAGING_SUFFIX}"
    other = tmp_path / f".other.tif.{_dead_pid()}.xyz{STAGING_SUFFIX}"
    for path in (dead, live, other):
        path.write_bytes(b"half a file")
    assert clean_stale_staging(target) == [dead]
    assert not dead.exists() and live.exists() and other.exists()
    check_target(tmp_path / "other.tif", overwrite=False)  # every writer cleans up first
    assert not other.exists()


def test_publish_is_exclusive_without_overwrite(tmp_path):
    target = tmp_path / "out.bin"
    stagings = []
    for payload in (b"first", b"second"):
        staging = staging_path(target)
        staging.write_bytes(payload)
        stagings.append(staging)
    publish(stagings[0], target, overwrite=False)
    with pytest.raises(OutputExistsError, match="created by another run meanwhile"):
        publish(stagings[1], target, overwrite=False)
    assert target.read_bytes() == b"first" and stagings[1].exists()
    publish(stagings[1], target, overwrite=True)
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_two_concurrent_writers_one_wins_the_other_is_refused(tmp_path, grid):
    target = tmp_path / "coverage.tif"
    barrier = threading.Barrier(2)
    outcomes: dict[int, object] = {}

    def write(seed: int) -> None:
        with atomic_path(target) as staging:  # both pass the up-front check
            barrier.wait()
            staging.write_bytes(str(seed).encode() * 1000)
            time.sleep(0.05 * seed)
        outcomes[seed] = "ok"

    def run(seed: int) -> None:
        try:
            write(seed)
        except OutputExistsError as exc:
            outcomes[seed] = exc

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes[1] == "ok" and isinstance(outcomes[2], OutputExistsError)
    assert target.read_bytes() == b"1" * 1000  # the winner's file, not clobbered
    assert [p.name for p in tmp_path.iterdir()] == ["coverage.tif"]


def test_full_disk_is_named_and_nothing_is_left(tiny_disk, grid):
    target = tiny_disk / "coverage.tif"
    with pytest.raises(OutputError, match="no space left on device") as info:
        write_bands(target, grid, _bands(grid))
    assert str(target) in str(info.value) and info.value.parameter == "output"
    assert list(tiny_disk.iterdir()) == []
    with pytest.raises(OutputError, match="no space left on device"):
        with atomic_open(tiny_disk / "state.json") as stream:
            stream.write("x" * 400_000)
    assert list(tiny_disk.iterdir()) == []


def test_read_only_folder_is_refused_before_writing(read_only_dir, grid):
    with pytest.raises(OutputError, match="read-only or not writable") as info:
        write_bands(read_only_dir / "coverage.tif", grid, _bands(grid))
    assert str(read_only_dir) in str(info.value)
    with pytest.raises(OutputError, match="read-only or not writable"):
        write_json(read_only_dir / "x.json", {"a": 1})


def test_json_records_round_trip_and_are_atomic(tmp_path):
    record = {"t": (1, 2), "nan": float("nan"), "inf": -float("inf"), "x": np.float32(0.5)}
    path = write_json(tmp_path / "r.json", record)
    assert read_json(path) == {"t": [1, 2], "nan": None, "inf": "-inf", "x": 0.5}
    assert plain({"p": tmp_path}) == {"p": str(tmp_path)}
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert read_json(path)["t"] == [1, 2]  # the failed write left the old record
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_killed_predict_leaves_staging_that_the_next_run_removes(tmp_path, sample_dir):
    output = tmp_path / "coverage.tif"
    args = [REPO / ".venv" / "bin" / "radiomap-geo", "predict"]
    args += ["--bbox", "24.937,60.165,24.951,60.172", "--resolution", "4", "--model", "3gpp-uma"]
    args += ["--tx-file", sample_dir / "sites.gpkg", "--buildings", sample_dir / "helsinki.osm.pbf"]
    args += ["--per-site", "-o", output]
    if not Path(args[0]).exists():
        pytest.skip("no radiomap-geo command in .venv")
    args = [str(a) for a in args]
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pattern = f".coverage.tif.{child.pid}.*{STAGING_SUFFIX}"
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(pattern)) and child.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    if child.poll() is not None:
        pytest.skip("predict finished before it could be killed")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert list(tmp_path.glob(pattern)) and not output.exists()
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["coverage.tif"]
    with rasterio.open(output) as ds:
        assert ds.descriptions[0] == "rsrp_dbm"


def test_two_concurrent_predicts_without_overwrite_do_not_both_succeed(tmp_path, sample_dir):
    command = REPO / ".venv" / "bin" / "radiomap-geo"
    if not command.exists():
        pytest.skip("no radiomap-geo command in .venv")
    output = tmp_path / "coverage.tif"
    args = [str(command), "predict", "--bbox", "24.937,60.165,24.951,60.172"]
    args += ["--resolution", "4", "--model", "3gpp-uma", "--per-site", "-o", str(output)]
    args += ["--tx-file", str(sample_dir / "sites.gpkg")]
    args += ["--buildings", str(sample_dir / "helsinki.osm.pbf")]
    runs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes[0] == 0 and codes[1] != 0, outcomes
    (loser,) = [out + err for code, out, err in outcomes if code != 0]
    assert "created by another run meanwhile" in loser or "exists: pass --overwrite" in loser
    assert "Traceback" not in loser
    assert [p.name for p in tmp_path.iterdir()] == ["coverage.tif"]  # no staging left
    with rasterio.open(output) as ds:
        assert ds.descriptions[0] == "rsrp_dbm" and ds.count >= 5


def _predict_into(folder: Path, sample_dir: Path):
    from click.testing import CliRunner

    from radiomap_geo.cli.main import cli

    args = ["predict", "--bbox", "24.937,60.165,24.951,60.172", "--resolution", "4"]
    args += ["--model", "3gpp-uma", "--tx-file", str(sample_dir / "sites.gpkg")]
    args += ["--buildings", str(sample_dir / "helsinki.osm.pbf"), "-o", str(folder / "c.tif")]
    return CliRunner().invoke(cli, args)


def test_predict_onto_a_full_disk_says_so(tiny_disk, sample_dir):
    result = _predict_into(tiny_disk, sample_dir)
    assert result.exit_code == 1, result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "no space left on device while writing" in error and "TIFF" not in error
    assert list(tiny_disk.iterdir()) == []


def test_predict_into_a_read_only_folder_is_refused(read_only_dir, sample_dir):
    result = _predict_into(read_only_dir, sample_dir)
    assert result.exit_code == 1, result.output
    assert "is read-only or not writable by you" in result.output
    assert "predict" not in result.output.split("Error:")[0]  # refused before computing


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_folder_that_takes_no_new_file_is_refused_before_the_run():
    """/proc passes root's access check but refuses new files: say so before any work (for
    other users the access check already refuses it)."""
    with pytest.raises(
        OutputError, match=r"(cannot create a file in|is read-only).*another output folder"
    ) as info:
        check_target("/proc/coverage.tif", overwrite=False)
    assert "/proc" in str(info.value)
    assert not Path("/proc/coverage.tif").exists()
