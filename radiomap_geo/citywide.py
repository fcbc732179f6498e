"""City-scale batch prediction on Dask: one task per tile, resumable, assembled into one COG.

:func:`predict_city` is a thin runner over the engine of :mod:`radiomap_geo.predict`: it plans
the same tiles (:func:`~radiomap_geo.predict.plan_tiles`), computes each with the same function
(:func:`~radiomap_geo.predict.coverage_tile`) as a Dask task, and writes the same file as
:func:`~radiomap_geo.predict.predict_to_file` (band for band, bit for bit).

The work directory (``work_dir``, default ``<output>.work`` beside the output)::

    run.json              the run's settings; a rerun with other settings is refused
    tiles/<row>_<col>.npz one finished tile (row and column of the tile, not of cells)

Tile files appear atomically (temporary file, then ``os.replace``), so a killed run leaves only
whole tiles, and a rerun with the same settings computes only the missing ones. The output COG
is assembled from the tile files at the end, atomically too. A default work directory is removed
after a successful run; one given explicitly is kept.

Schedulers: ``"threads"`` (default), ``"processes"``, ``"synchronous"`` (one thread, for
debugging) or the address of a ``dask.distributed`` scheduler (``"tcp://host:8786"``); or pass a
``distributed.Client`` as ``client``. A model named by the registry is re-created in each worker
thread or process from its name (cheap to ship, and no model state is shared between threads);
a model object is shipped as it is (it must pickle for processes and clusters). Raster inputs
(``ndsm``...) are read by path in the workers: on a cluster they must be reachable there.

Dask is optional: ``pip install 'radiomap-geo[dask]'`` (plus ``distributed`` for a cluster).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radiomap_geo.errors import DependencyError, InputError
from radiomap_geo.grid import Grid
from radiomap_geo.models.base import PathGainModel
from radiomap_geo.models.registry import default_model, get_model
from radiomap_geo.predict import (
    DEFAULT_TILE_SIZE,
    PredictOptions,
    SceneSource,
    TilePlan,
    _prepare,
    coverage_tile,
    output_layout,
    plan_tiles,
)
from radiomap_geo.progress import Monitor, as_monitor
from radiomap_geo.sites import Sites

RUN_FILE = "run.json"
TILES_DIR = "tiles"
RUN_FORMAT = 1
LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")
INSTALL_HINT = "pip install 'radiomap-geo[dask]'"


def require_dask():
    """Import dask, or explain how to install it.

    Raises:
        DependencyError: dask is not installed.
    """
    try:
        import dask
    except ImportError as exc:
        raise DependencyError(
            f"city-scale prediction runs on Dask, which is not installed: {INSTALL_HINT}"
        ) from exc
    return dask


# -- the model in the workers ------------------------------------------------------------------

_LOCAL = threading.local()


@dataclass(frozen=True)
class ModelSpec:
    """How a worker gets the model: rebuilt from a registry name, or a shipped object."""

    name: str | None = None
    reach_m: float | None = None
    model: PathGainModel | None = None

    @classmethod
    def of(cls, model: str | PathGainModel | None, reach_m: float | None) -> ModelSpec:
        """The spec for :func:`predict_city`'s ``model`` and ``max_range_m`` arguments."""
        if model is None or isinstance(model, str):
            # Resolve the default here, so every worker builds the same model.
            return cls(name=model or default_model(), reach_m=reach_m)
        return cls(model=model)

    def build(self) -> PathGainModel:
        """The model; a named one is built once per worker thread and kept."""
        if self.model is not None:
            return self.model
        # Per thread, not per process: models may hold caches that are not thread-safe.
        cache = getattr(_LOCAL, "models", None)
        if cache is None:
            cache = _LOCAL.models = {}
        key = (self.name, self.reach_m)
        if key not in cache:
            cache[key] = get_model(self.name, reach_m=self.reach_m)
        return cache[key]


def _check_picklable(spec: ModelSpec) -> None:
    """Refuse early a model object that cannot travel to another process."""
    if spec.model is None:
        return
    import cloudpickle

    try:
        cloudpickle.dumps(spec.model)
    except Exception as exc:
        raise InputError(
            f"the model object {type(spec.model).__name__} cannot be sent to worker processes "
            f"({exc}); pass its registry name (model='...') or use scheduler='threads'"
        ) from exc


# -- one tile's task ---------------------------------------------------------------------------


class TileJob:
    """Everything one tile's task needs, and the task itself (``job()``).

    A plain class rather than a dataclass: Dask leaves it opaque instead of walking its fields
    for nested tasks. Threads share the run's footprints; a job pickled for another process
    carries only those its tile sees.
    """

    __slots__ = ("grid", "plan", "sites", "model", "source", "options", "target")

    def __init__(
        self,
        grid: Grid,
        plan: TilePlan,
        sites: Sites,
        model: ModelSpec,
        source: SceneSource,
        options: PredictOptions,
        target: Path,
    ) -> None:
        self.grid, self.plan, self.sites, self.model = grid, plan, sites, model
        self.source, self.options, self.target = source, options, target

    def __getstate__(self) -> dict[str, Any]:
        # Sent to another process: ship only the footprints this tile sees, not the city's.
        state = {key: getattr(self, key) for key in self.__slots__}
        state["source"] = self.source.clipped_to(self.plan.tile.grid)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    def __call__(self) -> str:
        """Compute the tile and store it; returns the tile file's name."""
        bands = coverage_tile(
            self.grid,
            self.plan.tile,
            self.sites,
            self.plan.near,
            self.model.build(),
            self.source,
            self.options,
        )
        save_tile(self.target, bands)
        return self.target.name


def run_tile_job(job: TileJob) -> str:
    """Module-level entry point of a tile task (importable by name in any worker)."""
    return job()


def save_tile(path: Path, bands: dict[str, np.ndarray]) -> None:
    """Write a tile's bands to ``path`` atomically (a killed run leaves no half tile)."""
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(
                stream,
                names=np.array(list(bands), dtype=str),
                values=np.stack([np.asarray(v, np.float32) for v in bands.values()]),
            )
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    finally:
        with suppress(FileNotFoundError):
            temp.unlink()


def load_tile(path: Path) -> dict[str, np.ndarray]:
    """Read the bands :func:`save_tile` wrote.

    Raises:
        InputError: the file is unreadable (delete it and rerun to recompute the tile).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict(zip((str(n) for n in data["names"]), data["values"]))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            f"tile file {path} is unreadable ({exc}): delete it and rerun to recompute it"
        ) from exc


# -- the work directory ------------------------------------------------------------------------


class WorkDir:
    """The run record and the finished tiles of one city run."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tiles = self.root / TILES_DIR

    def claim(self, settings: dict[str, Any], overwrite: bool) -> None:
        """Start or resume the run with ``settings``.

        A work directory holding another run is refused, unless ``overwrite``: then its tiles
        are discarded.

        Raises:
            InputError: the directory holds a run with other settings.
        """
        record = self.root / RUN_FILE
        settings = _plain(settings)
        if record.exists():
            previous = _read_settings(record)
            if previous != settings:
                if not overwrite:
                    raise InputError(
                        f"work directory {self.root} holds a run with other settings "
                        f"({', '.join(_differences(previous, settings))}): rerun with the same "
                        "settings to resume it, choose another work directory, or pass "
                        "--overwrite (overwrite=True) to discard its tiles"
                    )
                shutil.rmtree(self.tiles, ignore_errors=True)
        self.tiles.mkdir(parents=True, exist_ok=True)
        for leftover in self.tiles.glob(".*.tmp"):  # half-written tiles of a killed run
            leftover.unlink(missing_ok=True)
        _write_json(record, {"format": RUN_FORMAT, "settings": settings})

    def tile_path(self, plan: TilePlan, tile_size: int) -> Path:
        """Where the tile of ``plan`` is stored: ``tiles/<row>_<col>.npz``."""
        row_off, col_off = plan.tile.core[:2]
        return self.tiles / f"{row_off // tile_size}_{col_off // tile_size}.npz"


def _read_settings(record: Path) -> dict[str, Any]:
    try:
        data = json.loads(record.read_text())
        return data["settings"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{record} is unreadable ({exc}): remove the work directory {record.parent}, or pass "
            "--overwrite (overwrite=True) to start afresh"
        ) from exc


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k)] or ["format"]


def _plain(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples become lists), for comparing with run.json."""
    return json.loads(json.dumps(value))


def _write_json(path: Path, value: Any) -> None:
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w") as stream:
        json.dump(value, stream, indent=1, sort_keys=True)
    os.replace(name, path)


# -- the run's settings ------------------------------------------------------------------------


def run_settings(
    grid: Grid,
    sites: Sites,
    model: PathGainModel,
    spec: ModelSpec,
    source: SceneSource,
    options: PredictOptions,
) -> dict[str, Any]:
    """What a run's tiles depend on: a rerun must match it to reuse them.

    Large inputs (sites, footprints, rasters) enter as digests or file signatures.
    """
    from radiomap_geo import __version__

    return {
        "version": __version__,
        "grid": {
            "crs": grid.crs.to_wkt(),
            "transform": list(grid.transform)[:6],
            "shape": list(grid.shape),
        },
        "tile_size": options.tile_size,
        "model": {
            "name": model.name,
            "spec": spec.name or f"object:{type(model).__name__}",
            "reach_m": model.reach_m,
            "weights_sha256": _weights_sha256(spec.name),
        },
        "receiver": {
            "rx_height_m": options.rx_height_m,
            "bandwidth_mhz": options.bandwidth_mhz,
            "noise_figure_db": options.noise_figure_db,
            "per_site": options.per_site,
            "rsrp_offset_db": options.rsrp_offset_db,
        },
        "sites": {"count": len(sites), "sha256": _sites_digest(sites)},
        "buildings": _frame_digest(source.buildings),
        "rasters": {
            key: _file_signature(getattr(source, key)) for key in ("ndsm", "ortho", "dsm", "dtm")
        },
    }


def _weights_sha256(name: str | None) -> str | None:
    """The checksum of a shipped network's weights (a name alone may get new weights)."""
    if name is None:
        return None
    from radiomap_geo.models.registry import _split_fallback, read_index

    entry = read_index().get(_split_fallback(name)[0].lower())
    return None if entry is None else entry["sha256"]


def _sites_digest(sites: Sites) -> str:
    text = json.dumps([s.to_dict() for s in sites], sort_keys=True)
    return hashlib.sha256(f"{sites.crs.to_wkt()}\n{text}".encode()).hexdigest()


def _frame_digest(frame) -> dict[str, Any] | None:
    """Count and digest of footprints (geometry and height), or None for open ground."""
    if frame is None:
        return None
    import shapely

    digest = hashlib.sha256(str(frame.crs.to_wkt() if frame.crs else None).encode())
    if len(frame):
        digest.update(b"".join(shapely.to_wkb(frame.geometry.values)))
        digest.update(np.asarray(frame["height_m"], np.float64).tobytes())
    return {"count": len(frame), "sha256": digest.hexdigest()}


def _file_signature(path: str | Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    path = Path(path).resolve()
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


# -- running the tasks -------------------------------------------------------------------------


def _run_tasks(
    jobs: Sequence[TileJob],
    on_done: Callable[[str], None],
    *,
    client=None,
    scheduler: str = "threads",
    workers: int | None = None,
) -> None:
    """Compute ``jobs`` as Dask tasks, calling ``on_done(tile file name)`` as each finishes.

    ``on_done`` runs in the calling thread and may raise (cancellation): then no new tile
    starts, and those running finish (their files are kept) before the error propagates.
    """
    if not jobs:
        return
    dask = require_dask()
    tasks = [
        dask.delayed(run_tile_job, pure=False)(job, dask_key_name=f"tile-{job.target.stem}")
        for job in jobs
    ]
    with _threads_safe_warnings():
        if client is None and scheduler not in LOCAL_SCHEDULERS:
            with _connect(scheduler) as connected:
                _run_on_client(connected, tasks, on_done)
        elif client is not None:
            _run_on_client(client, tasks, on_done)
        else:
            _run_locally(dask, tasks, on_done, scheduler, workers)


@contextmanager
def _threads_safe_warnings():
    """Silence rasterio's spurious NotGeoreferencedWarning while tiles run in threads.

    rasterio hides that warning of its in-memory datasets (rasterize) with
    ``warnings.catch_warnings``, which is not thread-safe: with tiles in several threads it
    leaks out, and the filters each thread restores can outlive the run. Setting the filter
    here, around the whole run, covers every thread and restores the caller's filters after.
    """
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
        yield


def _run_locally(
    dask: Any, tasks: list, on_done: Callable[[str], None], scheduler: str, workers: int | None
) -> None:
    # dask's local schedulers call the posttask callback in this thread after each task.
    def posttask(key, result, dsk, state, worker_id) -> None:
        on_done(result)

    callbacks = [(None, None, None, posttask, None)]
    if scheduler == "synchronous":
        dask.compute(*tasks, scheduler="synchronous", callbacks=callbacks)
        return
    pool = _pool(scheduler, min(workers or os.cpu_count() or 1, len(tasks)))
    try:
        # chunksize 1: one tile per hand-out, so cancellation and load balance work per tile.
        dask.compute(*tasks, scheduler=scheduler, pool=pool, chunksize=1, callbacks=callbacks)
    finally:
        # Our own pool, shut down here: after a cancel, running tiles finish before we return.
        pool.shutdown(wait=True, cancel_futures=True)


def _pool(scheduler: str, workers: int) -> Executor:
    if scheduler == "threads":
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(workers, thread_name_prefix="radiomap-tile")
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import dask

    # Spawned unless dask is configured otherwise: the parent may hold threads (GDAL, torch)
    # that a fork would copy in a broken state.
    context = multiprocessing.get_context(dask.config.get("multiprocessing.context", "spawn"))
    return ProcessPoolExecutor(workers, mp_context=context)


def _run_on_client(client, tasks: list, on_done: Callable[[str], None]) -> None:
    from distributed import as_completed

    futures = client.compute(tasks)
    try:
        for future in as_completed(futures):
            on_done(future.result())
    except BaseException:
        client.cancel(futures)
        raise


def _connect(address: str):
    try:
        from distributed import Client
    except ImportError as exc:
        raise DependencyError(
            f"scheduler {address!r} needs dask.distributed: pip install distributed"
        ) from exc
    return Client(address)


# -- the runner --------------------------------------------------------------------------------


def predict_city(
    path: str | Path,
    grid: Grid,
    sites: Sites,
    buildings=None,
    *,
    model: str | PathGainModel | None = None,
    ndsm: str | Path | None = None,
    ortho: str | Path | None = None,
    dsm: str | Path | None = None,
    dtm: str | Path | None = None,
    rx_height_m: float = 1.5,
    per_site: bool = False,
    bandwidth_mhz: float = 20.0,
    noise_figure_db: float = 7.0,
    max_range_m: float | None = None,
    tile_size: int = DEFAULT_TILE_SIZE,
    work_dir: str | Path | None = None,
    overwrite: bool = False,
    dst_crs=None,
    client=None,
    scheduler: str = "threads",
    workers: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    **settings,
) -> Path:
    """Predict coverage over a large area as one Dask task per tile, resumably, into a COG.

    The output equals :func:`~radiomap_geo.predict.predict_to_file`'s with the same arguments.
    Arguments shared with it mean the same (see :func:`~radiomap_geo.predict.predict_coverage`).

    Args:
        path: the output GeoTIFF (Cloud-Optimised), written atomically at the end.
        grid, sites, buildings, model, ndsm, ortho, dsm, dtm, rx_height_m, per_site,
            bandwidth_mhz, noise_figure_db, max_range_m, tile_size, dst_crs: as for
            :func:`~radiomap_geo.predict.predict_to_file`. A registry name gives each worker
            thread its own model; a model object is shared by the threads of a process.
        work_dir: where tiles and the run record live [default: ``<path>.work``, removed after
            a successful run].
        overwrite: replace an existing output, and discard the tiles of a work directory that
            holds a run with other settings.
        client: a ``distributed.Client`` to run the tasks on (overrides ``scheduler``).
        scheduler: ``"threads"``, ``"processes"``, ``"synchronous"`` or a dask.distributed
            scheduler address (``"tcp://host:8786"``). Processes are spawned: a script that
            uses them needs the ``if __name__ == "__main__":`` guard.
        workers: threads or processes of a local scheduler [default: the CPU count].
        progress: called as ``progress(tiles done, tiles in all, message)``; tiles found done
            by a resumed run count as done from the first call.
        is_cancelled: checked between tiles; when it returns True no new tile starts, the
            running ones finish and are kept for a rerun, and :class:`Cancelled` is raised.

    Returns:
        The output path.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
        InputError: bad input, or a work directory holding a run with other settings.
        DependencyError: dask (or distributed, for an address) is not installed.
        Cancelled: ``is_cancelled`` returned True.
    """
    from radiomap_geo.io.raster import check_writable

    require_dask()
    path = check_writable(path, overwrite)
    _check_scheduler(client, scheduler)
    sites, path_model = _prepare(grid, sites, model, max_range_m)
    spec = ModelSpec.of(model, max_range_m)
    if client is not None or scheduler not in ("threads", "synchronous"):
        _check_picklable(spec)
    options = PredictOptions(
        rx_height_m, bandwidth_mhz, noise_figure_db, per_site, tile_size, **settings
    )  # settings: the other fields of radiomap_geo.options.RunOptions (technology...)
    source = SceneSource(buildings, ndsm, ortho, dsm, dtm).in_crs(grid.crs)
    work = WorkDir(work_dir if work_dir is not None else Path(f"{path}.work"))
    work.claim(run_settings(grid, sites, path_model, spec, source, options), overwrite)
    plans = plan_tiles(grid, sites, path_model, tile_size)
    targets = [work.tile_path(plan, tile_size) for plan in plans]
    jobs = [
        TileJob(grid, plan, sites, spec, source, options, target)
        for plan, target in zip(plans, targets)
        if not target.exists()  # finished by an earlier run with the same settings
    ]
    monitor = as_monitor(progress, is_cancelled)
    _compute(jobs, len(plans), monitor, client=client, scheduler=scheduler, workers=workers)
    names, tags = output_layout(grid, sites, path_model, options)
    _assemble(path, grid, plans, targets, names, tags, overwrite, dst_crs)
    monitor.progress(len(plans), len(plans), f"wrote {path.name}")
    if work_dir is None:
        shutil.rmtree(work.root, ignore_errors=True)
    return path


def _check_scheduler(client, scheduler: str) -> None:
    if client is None and scheduler not in LOCAL_SCHEDULERS and "://" not in scheduler:
        raise InputError(
            f"unknown scheduler {scheduler!r}: use one of {', '.join(LOCAL_SCHEDULERS)} or the "
            "address of a dask.distributed scheduler (tcp://host:8786)"
        )


def _compute(jobs: list[TileJob], total: int, monitor: Monitor, **how) -> None:
    """Run the missing tiles, reporting tiles done of ``total`` and honouring cancellation."""
    done = total - len(jobs)
    monitor.step(done, total, f"{done} of {total} tiles already done" if done else "starting")

    def on_done(name: str) -> None:
        nonlocal done
        done += 1
        monitor.step(done, total, f"tile {Path(name).stem}")

    _run_tasks(jobs, on_done, **how)


def _assemble(
    path: Path,
    grid: Grid,
    plans: list[TilePlan],
    targets: list[Path],
    names: list[str],
    tags: dict[str, str],
    overwrite: bool,
    dst_crs,
) -> None:
    """Write the tile files into the output COG, in the order the in-memory runner does."""
    from radiomap_geo.io.raster import TiledBandWriter

    with TiledBandWriter(path, grid, names, tags, overwrite, dst_crs) as writer:
        for plan, target in zip(plans, targets):
            writer.write_tile(plan.tile, load_tile(target))
