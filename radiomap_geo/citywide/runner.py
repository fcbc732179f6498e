"""The city run: plan the tiles, claim the work directory, compute the missing tiles, assemble."""

from __future__ import annotations

import shutil
from pathlib import Path

from radiomap_geo.citywide.assembly import _assemble
from radiomap_geo.citywide.scheduling import _check_scheduler, _compute, require_dask
from radiomap_geo.citywide.tasks import ModelSpec, TileJob, _check_picklable
from radiomap_geo.citywide.workdir import WorkDir, run_settings, tile_is_whole
from radiomap_geo.grid import Grid
from radiomap_geo.predict import CoverageRun, plan_tiles, takes_run_inputs
from radiomap_geo.sites import Sites

# -- the runner --------------------------------------------------------------------------------


@takes_run_inputs
def predict_city(
    path: str | Path,
    grid: Grid,
    sites: Sites,
    buildings=None,
    *,
    work_dir: str | Path | None = None,
    overwrite: bool = False,
    dst_crs=None,
    client=None,
    scheduler: str = "threads",
    workers: int | None = None,
    **inputs,
) -> Path:
    """Predict coverage over a large area as one Dask task per tile, resumably, into a COG.

    The output equals :func:`~radiomap_geo.predict.predict_to_file`'s with the same arguments.
    Arguments shared with it mean the same (see :func:`~radiomap_geo.predict.predict_coverage`).

    Args:
        path: the output GeoTIFF (Cloud-Optimised), written atomically at the end.
        grid, sites, buildings, overwrite, dst_crs, inputs: as for
            :func:`~radiomap_geo.predict.predict_to_file` (``inputs``: ``model``, the rasters,
            ``options`` and its fields, ``progress``, ``is_cancelled``). A registry name gives
            each worker thread its own model; a model object is shared by the threads of a
            process. ``overwrite`` also discards the tiles of a work directory that holds a
            run with other settings; ``progress`` counts tiles, those found done by a resumed
            run as done from the first call; ``is_cancelled`` is checked between tiles: when it
            returns True no new tile starts, the running ones finish and are kept for a rerun,
            and :class:`Cancelled` is raised.
        work_dir: where tiles and the run record live [default: ``<path>.work``, removed after
            a successful run].
        client: a ``distributed.Client`` to run the tasks on (overrides ``scheduler``).
        scheduler: ``"threads"``, ``"processes"``, ``"synchronous"`` or a dask.distributed
            scheduler address (``"tcp://host:8786"``). Processes are spawned: a script that
            uses them needs the ``if __name__ == "__main__":`` guard.
        workers: threads or processes of a local scheduler [default: the CPU count].

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
    run = CoverageRun.start(grid, sites, buildings, **inputs)
    spec = ModelSpec.of(run.requested_model, run.options)
    if client is not None or scheduler not in ("threads", "synchronous"):
        _check_picklable(spec)
    work = WorkDir(work_dir if work_dir is not None else Path(f"{path}.work"))
    work.claim(run_settings(grid, run.sites, run.model, spec, run.source, run.options), overwrite)
    tile_size = run.options.tile_size
    plans = plan_tiles(grid, run.sites, run.model, tile_size)
    jobs = [
        TileJob(
            grid, plan, run.sites, spec, run.source, run.options, work.tile_path(plan, tile_size)
        )
        for plan in plans
    ]
    # Tiles finished by an earlier run with the same settings are reused when whole.
    missing = [job for job in jobs if not tile_is_whole(job.target)]
    monitor = run.monitor
    try:
        _compute(missing, len(plans), monitor, client=client, scheduler=scheduler, workers=workers)
    except Exception:
        if work_dir is None and not any(tile_is_whole(job.target) for job in jobs):
            # Nothing to resume from (e.g. an unreachable scheduler): leave no folder behind.
            shutil.rmtree(work.root, ignore_errors=True)
        raise
    names, tags = run.output_layout()
    _assemble(path, grid, jobs, names, tags, overwrite, dst_crs)
    monitor.progress(len(plans), len(plans), f"wrote {path.name}")
    if work_dir is None:
        shutil.rmtree(work.root, ignore_errors=True)
    return path
