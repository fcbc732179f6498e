"""How far from a measured point a measurement model's error grows, in and out of sight.

    nice -n 5 .venv/bin/python benchmarks/bench_measurement_distance.py \
        [--data data/radiomaps-val-1e7] [--split val] [--max-maps 64] \
        [--methods geometry,regression-kriging,geo-residual] [--patterns uniform:1%,count:50] \
        [--out benchmarks/results/measurement_distance]

The measurement sets and the scored cells are those of ``radiomap-geo evaluate-measurements``
(:func:`radiomap_geo.sparse.evaluate.draw_measurements`, unmeasured labelled cells >= -130 dB,
maps clipped to [-160, -40] dB); each cell's RMSE is binned by its distance to the nearest
measured cell. Near a point, a perfect model would still differ from the label by the labels'
own noise at *two* cells (the point's and the cell's), so the first bin shows how close a model
comes to that floor and the later bins how fast the measurements stop helping. Writes OUT.md and
OUT.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt

from radiomap_geo.sparse.data import load_contexts
from radiomap_geo.sparse.evaluate import THRESHOLD_DB, draw_measurements, resolve_method
from radiomap_geo.sparse.networks import CEIL_DB, FLOOR_DB
from radiomap_geo.sparse.sampling import EVALUATION_PATTERNS, Pattern

sys.path.insert(0, str(Path(__file__).parent))
from bench_tta import publish  # noqa: E402

EDGES_M = (0.0, 3.0, 6.0, 10.0, 16.0, 24.0, 40.0, float("inf"))


def score(opts: argparse.Namespace) -> tuple[dict, int, float]:
    """``{pattern: {method: {"los"|"nlos": [[cells, squared error sum] per bin]}}}``."""
    contexts = load_contexts(opts.data, opts.split, max_maps=opts.max_maps)
    methods = {name: resolve_method(name) for name in opts.methods.split(",")}
    resolution = float(contexts[0].resolution)
    sums = {
        p: {m: {s: np.zeros((len(EDGES_M) - 1, 2)) for s in ("los", "nlos")} for m in methods}
        for p in opts.patterns.split(",")
    }
    for pattern_name, per_method in sums.items():
        pattern = Pattern.parse(pattern_name)
        index = list(EVALUATION_PATTERNS).index(pattern_name)
        for ctx in contexts:
            measured, values = draw_measurements(ctx, pattern, opts.seed, index)
            true = np.clip(np.nan_to_num(ctx.gain_db, nan=FLOOR_DB), FLOOR_DB, CEIL_DB)
            with np.errstate(invalid="ignore"):
                keep = ctx.valid & ~measured & (ctx.gain_db >= THRESHOLD_DB)
            bins = np.digitize(distance_transform_edt(~measured) * resolution, EDGES_M) - 1
            for name, method in methods.items():
                pred = np.nan_to_num(method(ctx, measured, values), nan=FLOOR_DB)
                squared = (np.clip(pred, FLOOR_DB, CEIL_DB) - true) ** 2
                for sight, cells in (("los", ctx.los), ("nlos", ~ctx.los)):
                    chosen = keep & cells
                    np.add.at(per_method[name][sight], (bins[chosen], 0), 1.0)
                    np.add.at(per_method[name][sight], (bins[chosen], 1), squared[chosen])
    return sums, len(contexts), resolution


def main() -> None:
    """Parse options, score, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/radiomaps-val-1e7")
    parser.add_argument("--split", default="val", choices=["test", "val", "train"])
    parser.add_argument("--max-maps", type=int, default=64)
    parser.add_argument("--methods", default="geometry,regression-kriging,geo-residual")
    parser.add_argument("--patterns", default="uniform:1%,count:50")
    parser.add_argument("--seed", type=int, default=0, help="seed of the measurement sets")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/measurement_distance")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    sums, maps, resolution = score(opts)
    names = [f"[{a:g}, {b:g}) m" for a, b in zip(EDGES_M[:-1], EDGES_M[1:])]
    names[-1] = f">= {EDGES_M[-2]:g} m"
    lines = [
        f"RMSE (dB) of unmeasured cells >= {THRESHOLD_DB:g} dB by distance to the nearest "
        f"measured cell, {maps} maps of the {opts.split} split of `{opts.data}` "
        f"({resolution:g} m cells; thousands of cells in brackets; "
        "`benchmarks/bench_measurement_distance.py`).",
    ]
    results: dict = {"maps": maps, "edges_m": list(EDGES_M[:-1]), "command": " ".join(sys.argv)}
    for pattern, per_method in sums.items():
        lines += ["", f"**{pattern}**", "", "| method | sight | " + " | ".join(names) + " |"]
        lines.append("|---|---|" + "---:|" * len(names))
        for method, per_sight in per_method.items():
            for sight, table in per_sight.items():
                rmse = np.sqrt(table[:, 1] / np.maximum(table[:, 0], 1))
                cells = [
                    f"{r:.2f} ({n / 1000:.0f}k)" if n else "–" for r, n in zip(rmse, table[:, 0])
                ]
                lines.append(f"| {method} | {sight.upper()} | " + " | ".join(cells) + " |")
                results.setdefault(pattern, {}).setdefault(method, {})[sight] = {
                    "cells": table[:, 0].astype(int).tolist(),
                    "rmse_db": [round(float(r), 3) for r in rmse],
                }
    publish(opts.out, lines, results)


if __name__ == "__main__":
    main()
