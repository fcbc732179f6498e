"""What the number of rays does to the labels: 3e6 against 1e7 rays, binned by a third run.

    nice -n 5 .venv/bin/python benchmarks/bench_ray_count.py [--fewer data/radiomaps] \
        [--more data/radiomaps-test-1e7] [--reference data/radiomaps-test-1e7b] [--split test] \
        [--out benchmarks/results/ray_count]

Sionna RT's radio map is a Monte-Carlo estimate of the received power: with fewer rays a weak
cell is more often missed (no label) and its power, where hit, more spread. Binning two label sets
by one of them mixes that noise with regression to the mean, so the outdoor cells of the maps all
three folders trace are binned by the ``--reference`` run (an independent seed). Per bin:

* the *linear* mean power (a missed cell counting 0): equal for both ray counts if the estimate
  is unbiased in power;
* the share of cells with a label;
* the mean in dB of the labelled cells: what a network trained with a loss in dB learns, and what
  the 1e7-ray test labels score it against.

With ``--second`` (a second run at the *fewer* rays, another seed), the outdoor cells whose
``--more`` label is >= -130 dB (the population of the headline RMSE) instead compare the rules
that make one training label of two runs with the ``--more`` label: one run alone, the power mean
with a missed cell counting as zero power, the power mean of the runs that reached the cell, the
dB mean of those runs::

    nice -n 5 .venv/bin/python benchmarks/bench_ray_count.py --split train \
        --second data/radiomaps-train-second --more data/radiomaps-train-1e7 \
        --out benchmarks/results/two_run_rules

Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from radiomap_geo.dataset import load_dataset
from radiomap_geo.dataset.store import read_manifest
from radiomap_geo.dataset.traces import map_index, power_mean_db

sys.path.insert(0, str(Path(__file__).parent))
from bench_tta import publish  # noqa: E402

EDGES = (-140.0, -130.0, -120.0, -110.0, -100.0, -90.0, -80.0, 0.0)


def stacked(folders: list[str], split: str) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Labels (dB, NaN = none) of the maps every folder traces, one array per folder, and the
    outdoor mask, in the same map order; plus the number of maps.
    """
    datasets = [load_dataset(f, split) for f in folders]
    indices = [map_index(d) for d in datasets]
    keys = [k for k in indices[-1] if all(k in idx for idx in indices)]
    labels = [
        np.stack([np.where(d.mask[idx[k]], d.gain_db[idx[k]], np.nan) for k in keys])
        for d, idx in zip(datasets, indices)
    ]
    first, where = datasets[0], indices[0]
    outdoor = np.stack([first.building_height_m[first.map_tile[where[k]]] <= 0 for k in keys])
    return labels, outdoor, len(keys)


def bin_rows(fewer: np.ndarray, more: np.ndarray, reference: np.ndarray, outdoor) -> list[dict]:
    """Per reference bin: cells, linear mean, labelled share and dB mean of both label sets."""
    rows = []
    for lo, hi in zip(EDGES[:-1], EDGES[1:]):
        with np.errstate(invalid="ignore"):
            keep = outdoor & (reference >= lo) & (reference < hi)
        row = {"bin": f"[{lo:g}, {hi:g}) dB", "cells": int(keep.sum())}
        for name, labels in (("fewer", fewer), ("more", more)):
            values = labels[keep]
            hit = np.isfinite(values)
            power = np.where(hit, np.power(10.0, np.nan_to_num(values) / 10.0), 0.0)
            row[f"{name}_linear_db"] = float(10.0 * np.log10(power.mean()))
            row[f"{name}_labelled"] = float(hit.mean())
            row[f"{name}_db_mean"] = float(values[hit].mean())
        rows.append(row)
    return rows


RULE_EDGES = (-130.0, -120.0, -110.0, -100.0, -90.0, 0.0)


def two_run_labels(first: np.ndarray, second: np.ndarray) -> dict[str, np.ndarray]:
    """Candidate training labels (dB, NaN = none) of two runs, by rule."""
    hit_a, hit_b = np.isfinite(first), np.isfinite(second)
    power_a = np.where(hit_a, np.power(10.0, np.nan_to_num(first) / 10.0), 0.0)
    power_b = np.where(hit_b, np.power(10.0, np.nan_to_num(second) / 10.0), 0.0)
    hits = hit_a.astype(int) + hit_b
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "one run": first,
            "power mean, a miss = 0": np.where(hits > 0, 10 * np.log10((power_a + power_b) / 2), np.nan),
            "power mean of the runs that reached it": power_mean_db(first, second),  # the rule
            "dB mean of the runs that reached it": np.where(
                hits == 2, (first + second) / 2, np.where(hit_a, first, second)
            ),
        }  # fmt: skip


def rule_rows(first, second, more, outdoor) -> list[dict]:
    """Per bin of the ``more`` label: each rule's labelled share, mean and RMS difference."""
    rows = []
    edges = list(zip(RULE_EDGES[:-1], RULE_EDGES[1:])) + [(RULE_EDGES[0], RULE_EDGES[-1])]
    for lo, hi in edges:
        with np.errstate(invalid="ignore"):
            keep = outdoor & (more >= lo) & (more < hi)
        for rule, labels in two_run_labels(first, second).items():
            diff = (labels - more)[keep]
            hit = np.isfinite(diff)
            rows.append({
                "bin": f"[{lo:g}, {hi:g}) dB", "rule": rule, "cells": int(keep.sum()),
                "labelled": float(hit.mean()), "mean_db": float(diff[hit].mean()),
                "rms_db": float(np.sqrt(np.mean(diff[hit] ** 2))),
            })  # fmt: skip
    return rows


def rules_report(opts) -> None:
    """The ``--second`` table: two-run rules against the run with more rays."""
    (first, second, more), outdoor, maps = stacked([opts.fewer, opts.second, opts.more], opts.split)
    rows = rule_rows(first, second, more, outdoor)
    lines = [
        f"Outdoor cells >= -130 dB in `{opts.more}` of the {maps} maps of the {opts.split} split "
        f"also traced twice in `{opts.fewer}` and `{opts.second}` "
        "(`benchmarks/bench_ray_count.py --second`): each two-run rule's label minus the label "
        "with more rays (dB), and the share of those cells the rule labels.",
        "",
        "| bin of the label with more rays | rule | cells | labelled | mean | RMS |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['bin']} | {r['rule']} | {r['cells']} | {r['labelled']:.1%} | "
            f"{r['mean_db']:+.2f} | {r['rms_db']:.2f} |"
        )
    publish(opts.out, lines, {"maps": maps, "rows": rows, "command": " ".join(sys.argv)})


def main() -> None:
    """Parse options, compare, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fewer", default="data/radiomaps")
    parser.add_argument("--more", default="data/radiomaps-test-1e7")
    parser.add_argument("--reference", default="data/radiomaps-test-1e7b")
    parser.add_argument("--split", default="test", choices=["test", "val", "train"])
    parser.add_argument("--second", help="a second run at the fewer rays: compare two-run rules")
    parser.add_argument("--out", default="benchmarks/results/ray_count")
    opts = parser.parse_args()
    if opts.second:
        rules_report(opts)
        return
    folders = [opts.fewer, opts.more, opts.reference]
    (fewer, more, reference), outdoor, maps = stacked(folders, opts.split)
    rays = [read_manifest(f)["config"]["samples_per_tx"] for f in folders]
    a, b = f"{rays[0]:.0e}", f"{rays[1]:.0e}"
    rows = bin_rows(fewer, more, reference, outdoor)
    lines = [
        f"Outdoor cells of the {maps} maps of the {opts.split} split traced in all of "
        f"`{opts.fewer}` ({a} rays), `{opts.more}` ({b}) and `{opts.reference}` ({rays[2]:.0e}, "
        "another seed), binned by the last (`benchmarks/bench_ray_count.py`).",
        "",
        f"| reference bin | cells | linear mean {a} | linear mean {b} | labelled {a} | "
        f"labelled {b} | dB mean {a} | dB mean {b} | dB gap |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['bin']} | {r['cells']} | {r['fewer_linear_db']:.2f} | {r['more_linear_db']:.2f}"
            f" | {r['fewer_labelled']:.1%} | {r['more_labelled']:.1%} | {r['fewer_db_mean']:.2f}"
            f" | {r['more_db_mean']:.2f} | {r['more_db_mean'] - r['fewer_db_mean']:+.2f} |"
        )
    results = {"maps": maps, "rays": rays, "bins": rows, "command": " ".join(sys.argv)}
    publish(opts.out, lines, results)


if __name__ == "__main__":
    main()
