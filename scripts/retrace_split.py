"""Re-trace one split of a dataset with more rays: cleaner labels to score networks against.

    nice -n 19 .venv/bin/python scripts/retrace_split.py [--split test] [--samples 1e7] \
        [--out data/radiomaps-test-1e7]

Every map of the split's tiles (as the source manifest lists them now) is solved again by Sionna RT
with the source's settings except the number of rays and the ray seed, through the same tile
pipeline as the builder (:func:`radiomap_geo.nets.pipeline.retrace_tile`: the buildings are
rebuilt and checked against the stored heights). The result is an ordinary dataset folder holding
only that split (same encodings; one part file per tile), so every command reads it unchanged:

    radiomap-geo evaluate data/radiomaps-test-1e7 --model unet-obs

Resumable: finished tiles are kept (``parts/``) and listed in the manifest after each tile; rerun
the same command after a kill to continue. Each tile's record says how long its maps took.

Cleaner *training* labels (issue #16 item 3): a second run of training tiles at the dataset's own
ray count, deep-shadow tiles first, which ``radiomap-geo train --second-traces`` averages with the
first (:mod:`radiomap_geo.dataset.traces`):

    nice -n 19 .venv/bin/python scripts/retrace_split.py --split train --samples 3e6 --seed 11 \
        --order deep-shadow --max-tiles 48 --out data/radiomaps-train-second
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np

from radiomap_geo.dataset.store import (
    PART_DIR,
    encode_gain,
    iter_shards,
    load_dataset,
    pack_mask,
    read_manifest,
    select_tiles,
    write_json,
    write_npz,
)
from radiomap_geo.nets.pipeline import retrace_tile
from radiomap_geo.nets.scoring import retrace_seed


def tile_members(source: Path, split: str) -> dict[int, dict[str, np.ndarray]]:
    """The raw members of every tile of ``split``, keyed by tile id."""
    out = {}
    for _, members in iter_shards(source, split):
        for position, tile_id in enumerate(members["tile_id"]):
            keep = np.zeros(len(members["tile_id"]), bool)
            keep[position] = True
            out[int(tile_id)] = select_tiles(members, keep)
    return out


#: Labels below this (dB), or no label at all, count as deep shadow when ordering tiles.
DEEP_SHADOW_DB = -110.0


def tile_order(dataset, order: str) -> list[int]:
    """Tile numbers in the order to trace them (ties and ``order="tile"``: tile order)."""
    tiles = list(range(len(dataset.tile_id)))
    if order == "tile":
        return tiles
    tile_of_map = np.asarray(dataset.map_tile)
    share = np.zeros(len(tiles))
    for tile in tiles:
        outdoor = dataset.building_height_m[tile] <= 0
        gains = dataset.gain_db[tile_of_map == tile]
        with np.errstate(invalid="ignore"):
            shadow = ~(gains >= DEEP_SHADOW_DB) & outdoor  # NaN (no ray) counts as shadow
        share[tile] = shadow.sum() / max(outdoor.sum() * len(gains), 1)
    return sorted(tiles, key=lambda t: (-share[t], t))


def main() -> None:
    """Re-trace the tiles not done yet, one part file each, updating the manifest as it goes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="data/radiomaps", type=Path)
    parser.add_argument("--split", default="test", choices=["test", "val", "train"])
    parser.add_argument("--samples", type=float, default=1e7, help="rays per transmitter")
    parser.add_argument("--seed", type=int, default=7, help="ray seed of the new traces")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--max-tiles", type=int, default=None, help="stop after this many")
    parser.add_argument(
        "--order",
        choices=["tile", "deep-shadow"],
        default="tile",
        help="tile: in tile order; deep-shadow: tiles with the largest share of outdoor cells "
        "below -110 dB or unreached first (where the labels are noisiest)",
    )
    opts = parser.parse_args()
    out = opts.out or Path(f"{opts.source}-{opts.split}-{opts.samples:.0e}".replace("+0", ""))
    manifest_path = out / "manifest.json"
    source_manifest = read_manifest(opts.source)
    if manifest_path.exists():
        manifest = read_manifest(out)
    else:
        manifest = copy.deepcopy(source_manifest)
        manifest["config"]["samples_per_tx"] = int(opts.samples)
        manifest["tiles"], manifest["shards"] = {}, []
        manifest["derived_from"] = {
            "dataset": str(opts.source),
            "split": opts.split,
            "samples_per_tx": int(opts.samples),
            "ray_seed": opts.seed,
            "source_samples_per_tx": source_manifest["config"]["samples_per_tx"],
        }
    dataset = load_dataset(opts.source, split=opts.split)
    dataset.manifest["config"]["samples_per_tx"] = int(opts.samples)
    members = tile_members(opts.source, opts.split)
    done = 0
    for tile in tile_order(dataset, opts.order):
        tile_id = int(dataset.tile_id[tile])
        if str(tile_id) in manifest["tiles"]:
            continue
        if opts.max_tiles is not None and done >= opts.max_tiles:
            break
        t0 = time.perf_counter()
        traced = retrace_tile(dataset, tile, opts.seed)
        part = dict(members[tile_id])
        order = sorted(traced)  # map indices of this tile, in the split's order = shard order
        gains = np.stack([traced[i][0] for i in order])
        valid = np.isfinite(gains)
        part["gain_q"] = encode_gain(gains, valid)
        part["mask_bits"] = pack_mask(valid)
        part["rt_seconds"] = np.array([traced[i][1] for i in order], np.float32)
        seeds = [retrace_seed(opts.seed, tile_id, i) for i in order]
        part["ray_seed"] = np.array(seeds, dtype=members[tile_id]["ray_seed"].dtype)
        name = f"{PART_DIR}/tile-{tile_id:06d}.npz"
        write_npz(out / name, part)
        record = dict(source_manifest["tiles"][str(tile_id)])
        record.update(file=name, retrace_seconds=round(time.perf_counter() - t0, 1))
        manifest["tiles"][str(tile_id)] = record
        manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_json(manifest_path, manifest)
        done += 1
        print(f"tile {tile_id}: {len(order)} maps in {record['retrace_seconds']} s", flush=True)
    total = len(dataset.tile_id)
    print(f"{out}: {len(manifest['tiles'])} of {total} {opts.split} tiles re-traced")


if __name__ == "__main__":
    main()
