"""Where the geometry network errs in the shadow: street-level vs rooftop antennas, by detour.

    .venv/bin/python benchmarks/bench_street_detour.py [--data data/radiomaps-val-1e7] \
        [--split val] [--max-maps 96] [--models unet-obs,PATH.pt] [--first data/radiomaps] \
        [--out benchmarks/results/street_detour]

For every model, on the line-of-sight-blocked cells >= -130 dB of ``--max-maps`` maps spread
over the split (the 2.5-D direct ray test of the ``los`` channel), the bias and RMSE (dB,
prediction - label) by the cell's *detour*: how many metres the shortest outdoor path round the
buildings, from a cell the antenna sees, exceeds the direct distance
(:mod:`radiomap_geo.detour`); separately for antennas standing in the street (no building under
the mast) and on roofs. With ``--first``, the same maps' labels from that folder (e.g. the
3e6-ray dataset a network trains on) minus the scored labels, and how often the first folder has
no label at all where the scored one has: what a network trained on the first folder learns there.
Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from radiomap_geo.dataset import load_dataset
from radiomap_geo.dataset.traces import map_index
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.rasterize import feature_stack

sys.path.insert(0, str(Path(__file__).parent))
from bench_tta import load, publish  # noqa: E402

THRESHOLD_DB = -130.0
DETOUR_BINS_M = (0, 2, 5, 10, 20, 40, 80, 160, np.inf)


def map_cells(dataset, index: int, rx: float) -> dict[str, np.ndarray | bool]:
    """Scene, labels and per-cell geometry of one map (the blocked cells >= -130 dB)."""
    tile = int(dataset.map_tile[index])
    grid, heights = dataset.grid(tile), dataset.building_height_m[tile]
    scene, site = SceneInputs(grid, heights, rx_height_m=rx), dataset.site(index)
    los, detour = feature_stack(scene, site, ["los", "detour"])
    label = dataset.gain_db[index]
    keep = dataset.mask[index] & (label >= THRESHOLD_DB) & (los < 0.5)
    row, col = grid.rowcol(site.x, site.y)
    inside = 0 <= row < grid.height and 0 <= col < grid.width
    street = not inside or heights[int(row), int(col)] <= 0
    return {"scene": scene, "site": site, "keep": keep, "detour_m": detour * 100.0,
            "label": label, "street": street}  # fmt: skip


def first_difference(first, j: int | None, m: dict) -> np.ndarray:
    """The first folder's label minus the scored one on the kept cells (NaN: no label there)."""
    if j is None:
        return np.full(int(m["keep"].sum()), np.nan)
    other = np.where(first.mask[j], first.gain_db[j], np.nan)
    return (other - m["label"])[m["keep"]]


def binned(detour_m: np.ndarray, values: np.ndarray) -> list[dict]:
    """Count, mean and RMS of ``values`` per detour bin."""
    out = []
    for lo, hi in zip(DETOUR_BINS_M[:-1], DETOUR_BINS_M[1:]):
        pick = (detour_m >= lo) & (detour_m < hi) & np.isfinite(values)
        v = values[pick]
        out.append(
            {
                "bin_m": [lo, hi if np.isfinite(hi) else None],
                "cells": int(pick.sum()),
                "mean_db": float(v.mean()) if v.size else None,
                "rms_db": float(np.sqrt(np.mean(v**2))) if v.size else None,
            }
        )
    return out


def collect(opts) -> dict:
    """Per-cell arrays of every model's error (and the first folder's label difference)."""
    dataset = load_dataset(opts.data, split=opts.split)
    rx = float(dataset.manifest["config"].get("rx_height_m", 1.5))
    indices = np.unique(np.linspace(0, len(dataset) - 1, min(opts.max_maps, len(dataset))))
    models = {name: load(name, 1) for name in opts.models.split(",")}
    first = load_dataset(opts.first, split=opts.split) if opts.first else None
    where = map_index(first) if first is not None else {}
    keys = {i: k for k, i in map_index(dataset).items()}
    cells: dict[str, list] = {"detour_m": [], "street": [], "first_minus": []}
    cells.update({name: [] for name in models})
    street_maps = 0
    for index in indices.astype(int):
        m = map_cells(dataset, index, rx)
        keep = m["keep"]
        cells["detour_m"].append(m["detour_m"][keep])
        cells["street"].append(np.full(int(keep.sum()), m["street"]))
        for name, model in models.items():
            pred = model.predict_window(m["scene"], m["site"])
            cells[name].append((pred - m["label"])[keep])
        if first is not None:
            cells["first_minus"].append(first_difference(first, where.get(keys[index]), m))
        street_maps += int(m["street"])
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cells.items()}
    out["maps"] = len(indices)
    out["street_maps"] = street_maps
    return out


def tables(cells: dict, models: list[str], first: str | None) -> tuple[list[str], dict]:
    """Markdown lines and the JSON results."""
    lines, results = [], {"maps": cells["maps"], "models": {}}
    head = " | ".join(
        f"[{lo:g}, {hi:g})" if np.isfinite(hi) else f">= {lo:g}"
        for lo, hi in zip(DETOUR_BINS_M[:-1], DETOUR_BINS_M[1:])
    )
    for where, pick in (("street", cells["street"]), ("rooftop", ~cells["street"])):
        detour = cells["detour_m"][pick]
        lines += [f"\n**{where} antennas** (NLOS cells >= -130 dB: {int(pick.sum())})\n"]
        lines += [f"| by detour (m) | all | {head} |", "|---|" + "---:|" * len(DETOUR_BINS_M)]
        counts = [b["cells"] for b in binned(detour, np.zeros_like(detour))]
        lines += [f"| cells | {int(pick.sum())} | " + " | ".join(map(str, counts)) + " |"]
        series = [(f"{name}: bias / RMSE", cells[name][pick]) for name in models]
        if first:
            series.append((f"{first} - label: mean / RMS", cells["first_minus"][pick]))
        for label, values in series:
            bins = binned(detour, values)
            finite = values[np.isfinite(values)]
            overall = f"{finite.mean():+.2f} / {np.sqrt(np.mean(finite**2)):.2f}"
            lines += [f"| {label} | {overall} | " + " | ".join(
                "" if b["mean_db"] is None else f"{b['mean_db']:+.1f} / {b['rms_db']:.1f}"
                for b in bins) + " |"]  # fmt: skip
            results["models"].setdefault(label, {})[where] = bins
        if first:
            missing = (~np.isfinite(cells["first_minus"][pick])).astype(float)
            shares = [b["mean_db"] for b in binned(detour, missing)]
            lines += [f"| {first}: no label | {missing.mean():.1%} | "
                      + " | ".join("" if v is None else f"{v:.1%}" for v in shares) + " |"]  # fmt: skip
    return lines, results


def main() -> None:
    """Parse options, score, print and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/radiomaps-val-1e7")
    parser.add_argument("--split", default="val", choices=["test", "val", "train"])
    parser.add_argument("--max-maps", type=int, default=96)
    parser.add_argument("--models", default="unet-obs")
    parser.add_argument("--first", help="a folder with other labels of the same maps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/street_detour")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    cells = collect(opts)
    models = opts.models.split(",")
    lines = [
        f"NLOS cells (2.5-D direct ray blocked) >= {THRESHOLD_DB:g} dB of {cells['maps']} maps "
        f"of the {opts.split} split of `{opts.data}` ({cells['street_maps']} with the antenna in "
        "the street), by detour: metres the shortest outdoor path round the buildings exceeds "
        "the direct distance (`benchmarks/bench_street_detour.py`). Cells: bias / RMSE in dB "
        "(prediction - label).",
    ]
    body, results = tables(cells, models, opts.first)
    results["command"] = " ".join(sys.argv)
    publish(opts.out, lines + body, results)


if __name__ == "__main__":
    main()
