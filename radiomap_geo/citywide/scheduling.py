"""Running the tile tasks on Dask: local threads or processes, or a dask.distributed scheduler."""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from radiomap_geo.citywide.tasks import TileJob, run_tile_job
from radiomap_geo.errors import DependencyError, InputError
from radiomap_geo.progress import Monitor

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
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=exit_with_parent, initargs=(os.getpid(),)
    )


def exit_with_parent(parent_pid: int, interval_s: float = 0.5) -> None:
    """Make a worker process end when the run that started it dies (even by SIGKILL).

    Pool workers share their task queue's pipe with each other, so the parent's death does not
    close it: without this they wait for work forever, or finish a tile nobody collects.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


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
    """A client of the scheduler at ``address``, or an error that says why there is none."""
    try:
        import dask
        from distributed import Client
    except ImportError as exc:
        raise DependencyError(
            f"scheduler {address!r} needs dask.distributed: pip install distributed"
        ) from exc
    timeout = dask.config.get("distributed.comm.timeouts.connect")
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"cannot reach the Dask scheduler at {address} within {timeout} ({exc}): start it, "
            "check the address and the firewall, or run locally with --scheduler threads or "
            "processes",
            parameter="scheduler",
        ) from exc


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
