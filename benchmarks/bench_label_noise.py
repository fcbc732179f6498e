"""How far one ray-traced label is from a cleaner one of the same map, by level.

    .venv/bin/python benchmarks/bench_label_noise.py [--first data/radiomaps] \
        [--second data/radiomaps-test-1e7] [--split test] [--out benchmarks/results/label_noise]

Pairs every map of ``--split`` present in both folders (same tile and site; e.g. the dataset's
3e6-ray labels and ``scripts/retrace_split.py``'s 1e7-ray re-trace with another ray seed) and
prints, per 10 dB bin of the *second* (cleaner) label, on outdoor cells both runs reached: the
mean, median and RMS of first - second (dB), and how often the first run reached no cell the
second reached. A negative mean with a zero median is the Monte-Carlo estimate's skew in dB: a
cell few rays reach is now and then far too weak in one run, which is what a network trained
on single-run labels learns as a level bias. Writes OUT.md and OUT.json.

With two runs of the *same* ray count (two seeds, e.g. ``--first data/radiomaps-test-1e7b
--second data/radiomaps-test-1e7``) the table is the floor those labels set: if the two runs'
errors are independent and alike, one run is ``RMS / sqrt(2)`` from the truth, and the mean per
bin of the second label is, up to the runs' common skew in dB, the bias *by label bin* that even
a predictor of the truth itself would show against such labels (binning by a noisy label selects
the cells whose noise pulled them into the bin). The row ``>= -130`` holds the cells the
evaluation's headline scores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from radiomap_geo.dataset import load_dataset

sys.path.insert(0, str(Path(__file__).parent))
from bench_tta import publish  # noqa: E402

BINS_DB = range(-160, -60, 10)
MIN_CELLS = 1000
HEADLINE_DB = -130.0
#: Paper 003's error-ratio threshold: the share of cells where two runs agree this closely is
#: what another run of the tracer, used as a predictor, scores in that figure.
WITHIN_DB = 3.0


def paired_differences(first, second) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(first - second, second)`` on cells both reached, cells only the second reached, and
    the cells the second reached."""
    where = {
        (int(first.tile_id[first.map_tile[i]]), int(first.sites["map_site"][i])): i
        for i in range(len(first))
    }
    diffs, levels, only_second, reached = [], [], 0, 0
    for j in range(len(second)):
        key = (int(second.tile_id[second.map_tile[j]]), int(second.sites["map_site"][j]))
        i = where.get(key)
        if i is None:
            continue
        outdoor = first.building_height_m[first.map_tile[i]] <= 0
        a, b = first.gain_db[i][outdoor], second.gain_db[j][outdoor]
        both = np.isfinite(a) & np.isfinite(b)
        diffs.append(a[both] - b[both])
        levels.append(b[both])
        only_second += int((~np.isfinite(a) & np.isfinite(b)).sum())
        reached += int(np.isfinite(b).sum())
    return np.concatenate(diffs), np.concatenate(levels), only_second, reached


def main() -> None:
    """Pair the two folders' maps and print / write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", default="data/radiomaps")
    parser.add_argument("--second", default="data/radiomaps-test-1e7")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", default="benchmarks/results/label_noise")
    opts = parser.parse_args()
    first, second = load_dataset(opts.first, opts.split), load_dataset(opts.second, opts.split)
    diff, level, only_second, reached = paired_differences(first, second)
    rows = {}
    selections = [(f"[{low}, {low + 10})", (level >= low) & (level < low + 10)) for low in BINS_DB]
    selections.append((f">= {HEADLINE_DB:g}", level >= HEADLINE_DB))
    for name, inside in selections:
        if inside.sum() < MIN_CELLS:
            continue
        d = diff[inside].astype(np.float64)
        rows[name] = {
            "cells": int(inside.sum()),
            "mean_db": float(d.mean()),
            "median_db": float(np.median(d)),
            "rms_db": float(np.sqrt(np.mean(d**2))),
            "within_3db": float(np.mean(np.abs(d) < WITHIN_DB)),
        }
    rays = [load.manifest["config"]["samples_per_tx"] for load in (first, second)]
    alike = rays[0] == rays[1]
    command = " ".join(["benchmarks/bench_label_noise.py", *sys.argv[1:]])
    lines = [
        f"Split `{opts.split}`: `{opts.first}` ({rays[0]:.0e} rays) minus `{opts.second}` "
        f"({rays[1]:.0e} rays), outdoor cells both reached, binned by the second label "
        f"(`{command}`). The first run reached no value on {100 * only_second / reached:.1f} % "
        "of the cells the second reached.",
        "",
        "| second label | cells | mean | median | RMS | abs < 3 dB |"
        + (" RMS / sqrt 2 |" if alike else ""),
        "|---|---:|---:|---:|---:|---:|" + ("---:|" if alike else ""),
        *(
            f"| {name} | {r['cells']} | {r['mean_db']:+.2f} | {r['median_db']:+.2f} "
            f"| {r['rms_db']:.2f} | {100 * r['within_3db']:.1f} % |"
            + (f" {r['rms_db'] / np.sqrt(2):.2f} |" if alike else "")
            for name, r in rows.items()
        ),
    ]
    if alike:
        lines += [
            "",
            "Same ray count in both runs: `RMS / sqrt 2` estimates one run's distance from the "
            "truth, and `mean` (up to the runs' common skew in dB) the bias per label bin that a "
            "predictor of the truth would show against these labels. `abs < 3 dB`: the share "
            "of cells where the two runs agree within 3 dB, i.e. what one run of the tracer "
            "scores as a predictor of the other in paper 003's error-ratio figure.",
        ]
    result = {"bins": rows, "missed_share": only_second / reached, "rays": rays}
    publish(opts.out, lines, result)


if __name__ == "__main__":
    main()
