"""The build itself: plan tiles, resume from the manifest, ray-trace the missing tiles in
parallel processes, record each finished tile, report the failed ones.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from radiomap_geo.dataset import store, tracing
from radiomap_geo.dataset.config import (
    BuildConfig,
    _check_weights,
    check_number,
    mix_shares,
    phases_json,
)
from radiomap_geo.dataset.manifest import (
    _adopt_parts,
    _check_compatible,
    _pack_ready,
    new_manifest,
    record_mixes,
    resolve_mixes,
    summarize,
)
from radiomap_geo.dataset.sampling import (
    TileSpec,
    overlapping_pairs,
    plan_tiles,
)
from radiomap_geo.dataset.sources import open_sources
from radiomap_geo.dataset.tracing import same_spec
from radiomap_geo.errors import Cancelled, InputError
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor

log = logging.getLogger(__name__)

# -- the build --------------------------------------------------------------------------------


def build_dataset(
    out_dir: str | os.PathLike,
    config: BuildConfig,
    *,
    workers: int = 1,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
    sources_from_now: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Build (or resume, or extend) a dataset in ``out_dir``.

    Args:
        out_dir: Dataset folder (created if missing).
        config: Build settings; a folder built with other settings is refused.
        workers: Processes ray-tracing in parallel (each with ``cpu_count // workers`` threads).
        progress: ``progress(done, total, message)`` callback (tiles).
        is_cancelled: ``is_cancelled()`` callback, polled between tiles.
        sources_from_now: A source mix for the tiles still to come, from the first tile id after
            those built; the manifest records it, so later builds keep it (existing tiles keep
            theirs). A plain build follows the mixes the manifest records.

    Returns:
        A summary: tiles and maps done in total and in this run, maps per hour of this run,
        counts per split, bytes on disk, the source mixes followed.

    Raises:
        InputError: bad settings, incompatible folder, no source available, a source mix that
            would change a built tile.
        DependencyError: Sionna RT or libLLVM 19 missing.
        Cancelled: the caller asked to stop (finished tiles are kept; rerun to resume).
    """
    config.validate()
    check_number("workers", workers, "the parallel processes", low=1, whole=True)
    if sources_from_now is not None:
        _check_weights(sources_from_now, "sources_from_now")
    monitor = as_monitor(progress, is_cancelled)
    folder = Path(out_dir)
    manifest_path = folder / store.MANIFEST
    old_manifest = store.read_manifest(folder) if manifest_path.exists() else None
    config = resolve_mixes(old_manifest, config, folder, sources_from_now)
    names = config.source_names()
    sources, skipped = open_sources(names, config.shared_data, config.helsinki)
    for name, why in skipped.items():
        log.warning("dataset source %s skipped: %s", name, why)
    if not sources:
        raise InputError(f"none of the sources {names} is available: {skipped}")
    # 0 keeps a source that only a later mix names out of the first mix (plan_tiles gives a
    # source without a weight 1.0), so tiles of the first mix stay as they were.
    weights = {k: config.sources.get(k, 0.0) for k in sources}
    monitor.step(0, config.n_tiles, "planning tiles")
    specs = plan_tiles(
        config.n_tiles, sources, weights, weights_from=config.sources_from, **config.tiling()
    )
    overlaps = overlapping_pairs(specs, "test", "train") + overlapping_pairs(specs, "val", "train")
    if overlaps:  # cannot happen by construction; refuse rather than leak
        raise RuntimeError(f"split leak: tiles {overlaps[:5]} overlap across splits")
    planned = {s.tile_id: s for s in specs}

    manifest = _manifest_to_extend(old_manifest, config, folder, planned, sources, skipped)
    folder.mkdir(parents=True, exist_ok=True)  # only now: a refused build leaves no folder
    adopted = _adopt_parts(folder, manifest, planned)
    for spec in specs:
        manifest["regions"].setdefault(spec.region, spec.split)
    store.write_json(manifest_path, manifest)
    _pack_ready(folder, manifest, config.tiles_per_shard, final=False)

    todo = [s for s in specs if str(s.tile_id) not in manifest["tiles"]]
    total = len(specs)
    done = total - len(todo)
    run = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "workers": workers,
        "backend": tracing.backend_versions() if todo else manifest["backend"],
        "tiles_before": done - adopted,
        "tiles_adopted": adopted,
    }
    monitor.step(done, total, f"{done} of {total} tiles done; {len(todo)} to go")
    started = time.perf_counter()
    new_maps = 0

    def finish(record: dict) -> None:
        nonlocal done, new_maps
        manifest["tiles"][str(record["tile_id"])] = record
        store.write_json(manifest_path, manifest)
        _pack_ready(folder, manifest, config.tiles_per_shard, final=False)
        done += 1
        new_maps += int(record["n_maps"])
        hours = (time.perf_counter() - started) / 3600.0
        rate = f", {new_maps / hours:.0f} maps/h" if hours > 0 else ""
        monitor.step(done, total, f"tile {record['tile_id']} ({record['source']}){rate}")

    config_data = config.to_dict()
    failed: dict[int, str] = {}

    def settle(tile_id: int, compute) -> None:
        # One bad tile must not end an unattended run of hours: log it, carry on, and leave it
        # unfinished so the next run of the same command retries it.
        try:
            record = compute()
        except (Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:
            log.exception("tile %d failed; it will be retried by the next run", tile_id)
            failed[tile_id] = f"{type(exc).__name__}: {exc}"
            return
        finish(record)

    try:
        if workers == 1 or len(todo) <= 1:
            for spec in todo:
                monitor.check()
                settle(
                    spec.tile_id,
                    lambda s=spec: tracing.run_tile(s.to_dict(), config_data, str(folder)),
                )
        else:
            _trace_in_processes(todo, workers, config_data, folder, monitor, settle)
        _pack_ready(folder, manifest, config.tiles_per_shard, final=True)
    except (Cancelled, KeyboardInterrupt):
        _record_run(manifest, run, started, new_maps, manifest_path, "cancelled")
        raise
    if failed:
        run["failed_tiles"] = {str(k): v for k, v in failed.items()}
    _record_run(
        manifest, run, started, new_maps, manifest_path, "incomplete" if failed else "complete"
    )
    summary = summarize(manifest)
    summary.update(
        {
            "new_maps": new_maps,
            "seconds": round(time.perf_counter() - started, 1),
            "maps_per_hour": run.get("maps_per_hour"),
            "skipped_sources": skipped,
            "failed_tiles": failed,
            "source_mixes": phases_json(mix_shares(config.phases(), sources)),
        }
    )
    return summary


def _manifest_to_extend(
    old_manifest: dict | None,
    config: BuildConfig,
    folder: Path,
    planned: Mapping[int, TileSpec],
    sources: Mapping[str, Any],
    skipped: Mapping[str, str],
) -> dict:
    """The folder's manifest, checked against ``config`` and today's tile plan, or a new one.

    Raises:
        InputError: the folder was built with other settings, or a built tile would now be
            planned differently.
    """
    if old_manifest is None:
        return new_manifest(config, sources, skipped)
    manifest = old_manifest
    _check_compatible(manifest, config, folder)
    for key, record in manifest["tiles"].items():
        spec = planned.get(int(key))
        if spec is not None and not same_spec(spec, TileSpec.from_dict(record)):
            raise InputError(
                f"tile {key} in {folder} was planned differently (its source files or the set "
                f"of available sources changed: skipped now {sorted(skipped)}); build into a "
                "new folder"
            )
    manifest["n_tiles_requested"] = max(config.n_tiles, int(manifest.get("n_tiles_requested", 0)))
    record_mixes(manifest, config, sources)
    return manifest


def _trace_in_processes(
    todo: list[TileSpec],
    workers: int,
    config_data: dict,
    folder: Path,
    monitor: Any,
    settle: Callable[[int, Callable[[], dict]], None],
) -> None:
    """Trace ``todo`` in ``workers`` spawned processes (each with its share of the CPU
    threads), at most two tiles queued per worker; ``settle`` receives each tile's result.
    """
    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=tracing._worker_init, initargs=(threads,)
    ) as pool:
        queue = list(reversed(todo))
        running: set[cf.Future] = set()
        try:
            while queue or running:
                while queue and len(running) < 2 * workers:
                    monitor.check()
                    spec = queue.pop()
                    future = pool.submit(tracing.run_tile, spec.to_dict(), config_data, str(folder))
                    future.tile_id = spec.tile_id
                    running.add(future)
                finished, running = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    settle(future.tile_id, future.result)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _record_run(
    manifest: dict, run: dict, started: float, new_maps: int, path: Path, status: str
) -> None:
    seconds = time.perf_counter() - started
    run.update(
        {
            "status": status,
            "seconds": round(seconds, 1),
            "new_maps": new_maps,
            "maps_per_hour": round(new_maps / seconds * 3600.0, 1)
            if new_maps and seconds > 0
            else None,
        }
    )
    if new_maps or run["tiles_adopted"]:
        manifest["runs"].append(run)
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    store.write_json(path, manifest)
