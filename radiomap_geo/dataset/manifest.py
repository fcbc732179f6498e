"""The dataset's ``manifest.json``: creation, compatibility checks on resume (source mixes
included), adopting part files written after the last update, packing finished parts into shards,
and the summary.
"""

from __future__ import annotations

import json
import logging
import re
import time
import zipfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from radiomap_geo import __version__
from radiomap_geo.dataset import store, tracing
from radiomap_geo.dataset.config import (
    COMPATIBLE_KEYS,
    BuildConfig,
    Phase,
    format_mix,
    phases_json,
)
from radiomap_geo.dataset.sampling import (
    TileSpec,
)
from radiomap_geo.dataset.tracing import same_spec
from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import remove_dead_staging

log = logging.getLogger(__name__)

# -- the manifest -----------------------------------------------------------------------------


def new_manifest(config: BuildConfig, sources: dict[str, Any], skipped: dict[str, str]) -> dict:
    """A fresh manifest for ``config``."""
    return {
        "format": store.FORMAT,
        "format_version": store.FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "radiomap_geo_version": __version__,
        "backend": tracing.backend_versions(),
        "config": _compat(config),
        "n_tiles_requested": config.n_tiles,
        "sources": {k: _describe_source(s) for k, s in sources.items()},
        "skipped_sources": skipped,
        "encoding": {
            "gain": store.GAIN_ENCODING,
            "height": store.HEIGHT_ENCODING,
            "mask": store.MASK_ENCODING,
            "site_kind": list(store.SITE_KINDS),
            "quantity": (
                "path gain (dB) from the antenna input to an isotropic receiver at rx_height_m, "
                "transmit antenna pattern included (Sionna RT RadioMapSolver path_gain)"
            ),
        },
        "split_rule": (
            "per region: procedural city -> train/val (10 % val by hash); RadioMapSeer map and "
            "Helsinki sub-area -> 15 % test, 10 % val by salted hash order; Delft -> test"
        ),
        "regions": {},
        "tiles": {},
        "shards": {},
        "runs": [],
    }


def _describe_source(source: Any) -> dict[str, Any]:
    if source is None:
        return {"generator": "radiomap_geo.dataset.procedural"}
    return source.describe()


def _compat(config: BuildConfig) -> dict[str, Any]:
    data = config.to_dict()
    out = {k: data[k] for k in COMPATIBLE_KEYS}
    # Only a dataset whose mix changed records its later mixes: a single-mix manifest stays as
    # every manifest was before mixes could change, so older radiomap-geo still grows it.
    if config.sources_from:
        out["sources_from"] = phases_json(config.sources_from)
    return out


def _check_compatible(manifest: dict, config: BuildConfig, folder: Path) -> None:
    """Refuse other settings (the later source mixes are checked by :func:`resolve_mixes`)."""
    old, new = manifest["config"], json.loads(json.dumps(_compat(config)))
    diff = [k for k in COMPATIBLE_KEYS if old.get(k) != new.get(k)]
    if diff:
        details = "; ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in diff)
        hint = (
            " (to change the mix of the tiles still to come, keep --sources as it was and add "
            "--sources-from-now)"
            if "sources" in diff
            else ""
        )
        raise InputError(
            f"{folder} holds a dataset built with other settings ({details}): build into a new "
            f"folder, or rerun with the same settings to resume or add tiles{hint}"
        )


# -- source mixes -----------------------------------------------------------------------------

_PART_NAME = re.compile(r"tile-(\d+)\.npz")


def next_tile_id(folder: Path, manifest: dict | None) -> int:
    """The first tile id after every tile built (recorded, or a part file not adopted yet)."""
    if manifest is None:
        return 0
    ids = [int(key) for key in manifest["tiles"]]
    for path in (folder / store.PART_DIR).glob("tile-*.npz"):
        match = _PART_NAME.fullmatch(path.name)
        if match:  # a finished tile too: a new mix must not plan it differently
            ids.append(int(match.group(1)))
    return max(ids, default=-1) + 1


def _same_phases(a: tuple[Phase, ...], b: tuple[Phase, ...]) -> bool:
    # Order matters: it breaks ties in the round robin.
    return [(s, list(w.items())) for s, w in a] == [(s, list(w.items())) for s, w in b]


def resolve_mixes(
    manifest: dict | None,
    config: BuildConfig,
    folder: Path,
    mix_from_now: Mapping[str, float] | None = None,
) -> BuildConfig:
    """``config`` with the source mixes this build follows.

    A config without later mixes takes the ones the manifest records (a plain rerun keeps them);
    one with later mixes must extend them. ``mix_from_now`` adds a mix from the next tile on.

    Raises:
        InputError: the mixes differ from the recorded ones, or one starts at a built tile.
    """
    recorded = BuildConfig.from_dict(manifest["config"]).sources_from if manifest else ()
    mixes = config.sources_from or recorded
    if not _same_phases(mixes[: len(recorded)], recorded):
        raise InputError(
            f"{folder} records other source mixes ({_describe(recorded)}) than these settings "
            f"({_describe(mixes)}): leave the later mixes out to keep the recorded ones, or add one "
            "with --sources-from-now"
        )
    next_id = next_tile_id(folder, manifest)
    for start, _ in mixes[len(recorded) :]:
        if start < next_id:
            raise InputError(
                f"a source mix from tile {start} would change tiles already built: {folder} "
                f"holds tiles up to {next_id - 1}; start the new mix at tile {next_id} or later "
                "(--sources-from-now does)"
            )
    config = replace(config, sources_from=tuple(mixes))
    if mix_from_now is not None:
        config = _add_mix(config, next_id, dict(mix_from_now), folder)
    config.validate()
    return config


def _add_mix(config: BuildConfig, start: int, mix: dict[str, float], folder: Path) -> BuildConfig:
    if start == 0:
        raise InputError(
            f"{folder} holds no tile yet, so there is no mix to change: give the mix of a new "
            "dataset with --sources"
        )
    # Mixes recorded from this tile on have no tile built under them: the new one replaces them.
    kept = tuple(phase for phase in config.sources_from if phase[0] < start)
    for dropped, weights in config.sources_from[len(kept) :]:
        log.info("the source mix from tile %d on (%s) is replaced", dropped, format_mix(weights))
    since, current = config.phases()[len(kept)]  # the mix the next tile would follow
    if list(current.items()) == list(mix.items()):  # e.g. a rerun of the same command
        log.info("source mix %s is in effect since tile %d", format_mix(mix), since)
        return replace(config, sources_from=kept)
    log.info("source mix from tile %d on: %s (was %s)", start, format_mix(mix), format_mix(current))
    return replace(config, sources_from=(*kept, (start, mix)))


def record_mixes(manifest: dict, config: BuildConfig, sources: Mapping[str, Any]) -> None:
    """Store the later source mixes of ``config`` (resolved) in the manifest.

    Also what a source that only a later mix names is (the dataset recorded the first mix's).
    """
    if config.sources_from:
        manifest["config"]["sources_from"] = phases_json(config.sources_from)
    for name, source in sources.items():
        if name not in config.sources:
            manifest["sources"].setdefault(name, _describe_source(source))


def _describe(phases: tuple[Phase, ...]) -> str:
    if not phases:
        return "none after tile 0"
    return "; ".join(f"from tile {start}: {format_mix(w)}" for start, w in phases)


def _read_part_record(path: Path) -> dict | None:
    """The record inside a part file, or None when it cannot be read now.

    A read that fails in the operating system (an I/O error, a network file system's hiccup,
    permissions) leaves the file alone: it is a finished tile, adopted by a later run. A file whose
    content is broken is moved aside to ``<name>.corrupt`` (kept for inspection, never deleted) so
    that the tile is recomputed.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["record_json"]))
    except OSError as exc:
        if exc.errno is None:  # numpy: "Failed to interpret file as a pickle"
            return _set_aside(path, exc)
        log.warning("part %s cannot be read now (%s): kept for the next run", path, exc)
        return None
    except (ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        return _set_aside(path, exc)


def _set_aside(path: Path, exc: BaseException) -> None:
    aside = path.with_name(path.name + ".corrupt")
    log.warning("part %s is damaged (%s): moved to %s, the tile is recomputed", path, exc, aside)
    path.replace(aside)
    return None


def _adopt_parts(folder: Path, manifest: dict, planned: dict[int, TileSpec]) -> int:
    """Record part files written after the last manifest update; drop stale ones."""
    adopted = 0
    for path in sorted((folder / store.PART_DIR).glob("tile-*.npz")):
        record = _read_part_record(path)
        if record is None:
            continue
        tid = int(record["tile_id"])
        key = str(tid)
        if key in manifest["tiles"]:
            if manifest["tiles"][key]["file"] != record["file"]:
                path.unlink()  # already packed into a shard
            continue
        spec = planned.get(tid)
        if spec is None or not same_spec(spec, TileSpec.from_dict(record)):
            log.warning("removing part %s: it does not match the planned tile", path)
            path.unlink()
            continue
        record["bytes"] = path.stat().st_size
        manifest["tiles"][key] = record
        adopted += 1
    for sub in (store.PART_DIR, store.SHARD_DIR):
        remove_dead_staging(folder / sub)
    return adopted


def _pack(folder: Path, manifest: dict, split: str, records: list[dict]) -> str:
    """Pack finished part files of one split into the next shard; update the manifest."""
    index = sum(1 for s in manifest["shards"].values() if s["split"] == split)
    name = f"{store.SHARD_DIR}/{split}-{index:05d}.npz"
    parts = []
    for record in records:
        members = store.read_npz(folder / record["file"])
        members.pop("record_json", None)
        parts.append(members)
    joined = store.concat_members(parts)
    size = store.write_npz(folder / name, joined)
    old_files = [record["file"] for record in records]
    for record in records:
        manifest["tiles"][str(record["tile_id"])]["file"] = name
    manifest["shards"][name] = {
        "split": split,
        "tiles": [int(r["tile_id"]) for r in records],
        "maps": int(len(joined["map_tile"])),
        "bytes": size,
    }
    store.write_json(folder / store.MANIFEST, manifest)
    for old in old_files:
        (folder / old).unlink(missing_ok=True)
    return name


def _pack_ready(folder: Path, manifest: dict, per_shard: int, final: bool) -> list[str]:
    pending: dict[str, list[dict]] = {}
    for record in manifest["tiles"].values():
        if record["file"].startswith(store.PART_DIR + "/"):
            pending.setdefault(record["split"], []).append(record)
    made = []
    for split, records in sorted(pending.items()):
        records.sort(key=lambda r: int(r["tile_id"]))
        while len(records) >= per_shard or (final and records):
            made.append(_pack(folder, manifest, split, records[:per_shard]))
            records = records[per_shard:]
    return made


def summarize(manifest: dict) -> dict[str, Any]:
    """Counts per split and source, bytes, and timing of a manifest."""
    splits: dict[str, dict[str, int]] = {}
    sources: dict[str, int] = {}
    rt_seconds, total_bytes = [], 0
    for record in manifest["tiles"].values():
        s = splits.setdefault(record["split"], {"tiles": 0, "maps": 0})
        s["tiles"] += 1
        s["maps"] += int(record["n_maps"])
        sources[record["source"]] = sources.get(record["source"], 0) + int(record["n_maps"])
        rt_seconds.extend(record.get("rt_seconds", []))
    files = {r["file"] for r in manifest["tiles"].values()}
    for name in files:
        if name in manifest["shards"]:
            total_bytes += int(manifest["shards"][name]["bytes"])
        else:
            total_bytes += int(
                next(r.get("bytes", 0) for r in manifest["tiles"].values() if r["file"] == name)
            )
    maps = sum(s["maps"] for s in splits.values())
    return {
        "tiles": sum(s["tiles"] for s in splits.values()),
        "maps": maps,
        "splits": splits,
        "maps_per_source": sources,
        "bytes": total_bytes,
        "mb_per_1000_maps": round(total_bytes / 1e6 / maps * 1000, 2) if maps else None,
        "mean_rt_seconds_per_map": round(float(np.mean(rt_seconds)), 3) if rt_seconds else None,
    }
