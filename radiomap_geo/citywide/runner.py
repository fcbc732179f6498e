"""The city run: plan the tiles, claim the work directory, compute the missing tiles, assemble."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from radiomap_geo.citywide.assembly import _assemble
from radiomap_geo.citywide.scheduling import _check_scheduler, _compute, require_dask
from radiomap_geo.citywide.tasks import ModelSpec, TileJob, _check_picklable
from radiomap_geo.citywide.workdir import WorkDir, run_settings, tile_is_whole
from radiomap_geo.grid import Grid
from radiomap_geo.models.base import PathGainModel
from radiomap_geo.predict import (
    DEFAULT_TILE_SIZE,
    PredictOptions,
    SceneSource,
    _prepare,
    output_layout,
    plan_tiles,
)
from radiomap_geo.progress import as_monitor
from radiomap_geo.sites import Sites

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
    jobs = [
        TileJob(grid, plan, sites, spec, source, options, work.tile_path(plan, tile_size))
        for plan in plans
    ]
    # Tiles finished by an earlier run with the same settings are reused when whole.
    missing = [job for job in jobs if not tile_is_whole(job.target)]
    monitor = as_monitor(progress, is_cancelled)
    try:
        _compute(missing, len(plans), monitor, client=client, scheduler=scheduler, workers=workers)
    except Exception:
        if work_dir is None and not any(tile_is_whole(job.target) for job in jobs):
            # Nothing to resume from (e.g. an unreachable scheduler): leave no folder behind.
            shutil.rmtree(work.root, ignore_errors=True)
        raise
    names, tags = output_layout(grid, sites, path_model, options)
    _assemble(path, grid, jobs, names, tags, overwrite, dst_crs)
    monitor.progress(len(plans), len(plans), f"wrote {path.name}")
    if work_dir is None:
        shutil.rmtree(work.root, ignore_errors=True)
    return path
