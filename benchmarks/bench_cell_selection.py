"""Which cells a headline RMSE keeps decides which model wins: four selections, one table.

    nice -n 5 .venv/bin/python benchmarks/bench_cell_selection.py \
        --models unet-obs,training/keep/unet-obs-<sha>.pt [--labels data/radiomaps-val-1e7] \
        [--independent data/radiomaps] [--split val] [--max-maps 400] \
        [--out benchmarks/results/cell_selection]

Every model runs on the same maps of ``--labels`` (on the whole tile, as in training) and is
scored against those labels on the outdoor cells

* whose label is >= -130 dB: the issue's headline. A label lands above the threshold partly by
  its own Monte-Carlo noise, so near -130 dB these cells are those the noise lifted, and a model
  that predicts too strong there scores better than the truth would;
* whose label *or* prediction is >= -130 dB ("either"): an error either way is kept;
* whose label in ``--independent`` (another trace of the same maps, another ray seed: its noise is
  independent of the scored labels') is >= -130 dB: a selection no model can game, the referee
  of the two above;
* all labelled cells (values below -160 dB clipped there first, as ``evaluate`` does).

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
from radiomap_geo.los import line_of_sight
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.nets.evaluate import MetricAccumulator
from radiomap_geo.nets.scoring import _network_of, _resolve_model, predict_tile

sys.path.insert(0, str(Path(__file__).parent))
from bench_tta import publish  # noqa: E402

THRESHOLD_DB, FLOOR_DB = -130.0, -160.0
SELECTIONS = ("label", "either", "independent", "all")


def selections(label: np.ndarray, pred: np.ndarray, other: np.ndarray, valid: np.ndarray):
    """``{selection: cell mask}`` of one map (dB arrays, NaN = no label)."""
    with np.errstate(invalid="ignore"):
        above = valid & (label >= THRESHOLD_DB)
        return {
            "label": above,
            "either": above | (valid & (pred >= THRESHOLD_DB)),
            "independent": valid & (other >= THRESHOLD_DB),
            "all": valid,
        }


def score(models: list[str], opts: argparse.Namespace) -> dict[str, dict[str, dict]]:
    """``{model: {selection: metrics}}`` over the maps both folders trace."""
    labels, independent = (
        load_dataset(opts.labels, opts.split),
        load_dataset(opts.independent, opts.split),
    )
    other_index = map_index(independent)
    keys = [k for k in map_index(labels) if k in other_index]
    step = max(1, len(keys) // opts.max_maps)
    chosen = keys[::step][: opts.max_maps]
    where = map_index(labels)
    nets = {m: _network_of(_resolve_model(m)) for m in models}
    acc = {m: {s: MetricAccumulator(floor_db=FLOOR_DB) for s in SELECTIONS} for m in models}
    rx_height = float(labels.manifest["config"].get("rx_height_m", 1.5))
    for key in chosen:
        i, j = where[key], other_index[key]
        tile = int(labels.map_tile[i])
        heights = labels.building_height_m[tile]
        scene = SceneInputs(labels.grid(tile), heights, rx_height_m=rx_height)
        site = labels.site(i)
        grid = scene.grid
        los = line_of_sight(heights, grid, grid, (site.x, site.y), site.height_m, rx_height)
        valid = labels.mask[i] & (heights <= 0)
        label = np.where(labels.mask[i], labels.gain_db[i], np.nan)
        other = np.where(independent.mask[j], independent.gain_db[j], np.nan)
        for name, net in nets.items():
            pred = predict_tile(net, scene, site)
            for sel, cells in selections(label, pred, other, valid).items():
                acc[name][sel].update(pred, label, cells, los)
    return {m: {s: a.result() for s, a in per.items()} for m, per in acc.items()}, len(chosen)


def main() -> None:
    """Parse options, score every model on every selection, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="unet-obs", help="comma-separated")
    parser.add_argument("--labels", default="data/radiomaps-val-1e7")
    parser.add_argument("--independent", default="data/radiomaps")
    parser.add_argument("--split", default="val", choices=["test", "val", "train"])
    parser.add_argument("--max-maps", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/cell_selection")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    models = [m.strip() for m in opts.models.split(",") if m.strip()]
    results, maps = score(models, opts)
    lines = [
        f"{maps} maps of the {opts.split} split of `{opts.labels}`, scored against its labels on "
        f"outdoor cells >= {THRESHOLD_DB:g} dB by the label, by the label or the prediction "
        f"(either), by the label of `{opts.independent}` (an independent trace of the same maps), "
        "and on all labelled cells; RMSE (bias) in dB (`benchmarks/bench_cell_selection.py`).",
        "",
        "| model | label | either | independent | independent NLOS | all |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model, per in results.items():
        cells = [
            f"{per[s]['all']['rmse_db']:.3f} ({per[s]['all']['bias_db']:+.2f})" for s in SELECTIONS
        ]
        nlos = per["independent"]["nlos"]
        cells.insert(3, f"{nlos['rmse_db']:.3f} ({nlos['bias_db']:+.2f})")
        lines.append(f"| {Path(model).name} | " + " | ".join(cells) + " |")
    publish(opts.out, lines, {"maps": maps, "models": results, "command": " ".join(sys.argv)})


if __name__ == "__main__":
    main()
