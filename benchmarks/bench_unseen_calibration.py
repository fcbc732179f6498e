"""Can a post-hoc model fitted on *unseen* tiles remove the default's remaining bias? One table.

    nice -n 5 .venv/bin/python benchmarks/bench_unseen_calibration.py \
        [--model unet-obs] [--labels data/radiomaps-val-1e7] [--independent data/radiomaps] \
        [--split val] [--every 3] [--out benchmarks/results/unseen_calibration]

The shipped network's ray-count correction is fitted on *training* tiles (the gap between two
label traces, not the network's error). This asks whether the network's own error on tiles it
never saw holds a part a cheap second stage could learn. Every map of ``--labels`` (1e7-ray
labels) is predicted on the whole tile; every ``--every``-th labelled outdoor cell is kept with
per-cell features the network also sees (line of sight, distance, the ray-walk obstruction,
knife-edge and street-detour channels, free-space gain, antenna gain, site height, building
share of the tile). The tiles are split in two halves at random; each second stage is fitted on
one half and scored on the other (cross-fitting, so no cell is scored by a fit that saw it):

* ``table``: the mean (label - prediction) per 5 dB bin of the prediction and line of sight
  (the ray-count correction's table, :class:`radiomap_geo.nets.ray_correction.CorrectionFit`,
  fitted on the network's error instead of the labels' gap): a calibration, E[label | prediction];
* ``gbm``: scikit-learn's ``HistGradientBoostingRegressor`` on all the features, predicting the
  same error (a calibration that may also use where the cell lies).

Scored on three cell selections (``bench_cell_selection.py`` explains them): label >= -130 dB
(the issue's headline), the label of ``--independent`` (another trace of the same maps) >= -130
dB (a selection no model can game) and all labelled cells (clipped at -160 dB); the bias of the
worst 10 dB bin of the prediction and of the label. Writes OUT.md and OUT.json.
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
from radiomap_geo.nets.ray_correction import CorrectionFit
from radiomap_geo.nets.scoring import _network_of, _resolve_model, predict_tile
from radiomap_geo.rasterize import feature_stack

sys.path.insert(0, str(Path(__file__).parent))
from bench_tta import publish  # noqa: E402

THRESHOLD_DB, FLOOR_DB = -130.0, -160.0
RAY_WALK = ("building_depth", "knife_edge_db", "detour", "free_space_db", "antenna_gain")
FEATURES = ("pred", "los", "distance", "site_height", "building_share") + RAY_WALK
BIAS_EDGES_DB = tuple(range(-130, -70, 10))  # the 10 dB bins above the threshold


def collect(opts: argparse.Namespace) -> dict[str, np.ndarray]:
    """Per-cell arrays over every map both folders hold (every ``opts.every``-th cell)."""
    labels, independent = (
        load_dataset(opts.labels, opts.split),
        load_dataset(opts.independent, opts.split),
    )
    other_index = map_index(independent)
    net = _network_of(_resolve_model(opts.model))
    rx_height = float(labels.manifest["config"].get("rx_height_m", 1.5))
    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in FEATURES + ("label", "independent", "tile")
    }
    for key, i in map_index(labels).items():
        if key not in other_index:
            continue
        tile = int(labels.map_tile[i])
        heights = labels.building_height_m[tile]
        scene = SceneInputs(labels.grid(tile), heights, rx_height_m=rx_height)
        site, grid = labels.site(i), scene.grid
        keep = labels.mask[i] & (heights <= 0)
        keep.ravel()[np.arange(keep.size) % opts.every != i % opts.every] = False
        x, y = grid.cell_centers()
        per_map = {
            "pred": predict_tile(net, scene, site),
            "los": line_of_sight(heights, grid, grid, (site.x, site.y), site.height_m, rx_height),
            "distance": np.hypot(x - site.x, y - site.y),
            "label": labels.gain_db[i],
            "independent": np.where(
                independent.mask[other_index[key]], independent.gain_db[other_index[key]], np.nan
            ),
        }
        per_map.update(zip(RAY_WALK, feature_stack(scene, site, list(RAY_WALK))))
        per_map["site_height"] = np.full(keep.shape, site.height_m)
        per_map["building_share"] = np.full(keep.shape, float((heights > 0).mean()))
        per_map["tile"] = np.full(keep.shape, tile)
        for name in columns:
            columns[name].append(np.asarray(per_map[name])[keep].astype(np.float32))
    cells = {k: np.concatenate(v) for k, v in columns.items()}
    for name in ("pred", "label"):
        cells[name] = np.maximum(cells[name], FLOOR_DB)
    cells["los"] = cells["los"] > 0.5
    return cells


def cross_fit(cells: dict[str, np.ndarray], stage: str, seed: int) -> np.ndarray:
    """The prediction after ``stage`` (``none``, ``table`` or ``gbm``), each half of the tiles
    corrected by a fit on the other half."""
    pred = cells["pred"]
    if stage == "none":
        return pred
    tiles = np.unique(cells["tile"])
    rng = np.random.default_rng(seed)
    half = np.isin(cells["tile"], rng.permutation(tiles)[: len(tiles) // 2])
    out = pred.copy()
    for test in (half, ~half):
        train = ~test
        if stage == "table":
            fit = CorrectionFit()
            fit.add(
                pred[train],
                cells["los"][train],
                pred[train],
                cells["label"][train],
                np.ones(int(train.sum()), bool),
            )
            out[test] = fit.result((0.0, 0.0)).apply(pred[test], cells["los"][test])
        else:
            from sklearn.ensemble import HistGradientBoostingRegressor

            features = np.stack([cells[k].astype(np.float32) for k in FEATURES], 1)
            rows = np.flatnonzero(train)
            rows = rng.choice(rows, min(len(rows), 1_500_000), replace=False)
            model = HistGradientBoostingRegressor(
                max_iter=200, max_leaf_nodes=63, min_samples_leaf=200, random_state=seed
            )
            model.fit(features[rows], (cells["label"] - pred)[rows])
            out[test] = pred[test] + model.predict(features[test])
    return out


def metrics(cells: dict[str, np.ndarray], pred: np.ndarray) -> dict[str, float]:
    """RMSE / bias per selection, LOS / NLOS of the headline, the worst 10 dB bin biases."""
    error = pred - cells["label"]
    with np.errstate(invalid="ignore"):
        selected = {
            "label": cells["label"] >= THRESHOLD_DB,
            "independent": cells["independent"] >= THRESHOLD_DB,
            "all": np.ones(len(error), bool),
        }
    out = {}
    for name, cells_in in selected.items():
        out[f"{name}_rmse_db"] = float(np.sqrt(np.mean(error[cells_in] ** 2)))
        out[f"{name}_bias_db"] = float(np.mean(error[cells_in]))
    headline = selected["label"]
    for name, sight in (("los", cells["los"]), ("nlos", ~cells["los"])):
        out[f"{name}_rmse_db"] = float(np.sqrt(np.mean(error[headline & sight] ** 2)))
    for name, values in (("prediction", pred), ("label", cells["label"])):
        bins = np.digitize(values, BIAS_EDGES_DB)
        means = [error[bins == b].mean() for b in range(1, len(BIAS_EDGES_DB) + 1)]
        out[f"worst_{name}_bin_bias_db"] = float(max(means, key=abs))
    return out


def main() -> None:
    """Collect, cross-fit every second stage, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="unet-obs")
    parser.add_argument("--labels", default="data/radiomaps-val-1e7")
    parser.add_argument("--independent", default="data/radiomaps")
    parser.add_argument("--split", default="val", choices=["test", "val", "train"])
    parser.add_argument("--every", type=int, default=3, help="keep every n-th labelled cell")
    parser.add_argument("--seed", type=int, default=0, help="the random halves of the tiles")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/unseen_calibration")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    cells = collect(opts)
    results = {s: metrics(cells, cross_fit(cells, s, opts.seed)) for s in ("none", "table", "gbm")}
    tiles = len(np.unique(cells["tile"]))
    lines = [
        f"`{opts.model}` on {len(cells['pred'])} cells (every {opts.every}th labelled outdoor "
        f"cell) of {tiles} tiles of the {opts.split} split of `{opts.labels}`; second stages "
        "cross-fitted on random halves of the tiles; RMSE (bias) in dB "
        "(`benchmarks/bench_unseen_calibration.py`).",
        "",
        "| second stage | label >= -130 | LOS | NLOS | independent >= -130 | all cells "
        "| worst prediction bin | worst label bin |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for stage, m in results.items():
        sel = [f"{m[f'{s}_rmse_db']:.3f} ({m[f'{s}_bias_db']:+.2f})" for s in ("label",)]
        sel += [f"{m['los_rmse_db']:.3f}", f"{m['nlos_rmse_db']:.3f}"]
        sel += [
            f"{m[f'{s}_rmse_db']:.3f} ({m[f'{s}_bias_db']:+.2f})" for s in ("independent", "all")
        ]
        sel += [f"{m['worst_prediction_bin_bias_db']:+.2f}", f"{m['worst_label_bin_bias_db']:+.2f}"]
        lines.append(f"| {stage} | " + " | ".join(sel) + " |")
    publish(
        opts.out,
        lines,
        {
            "cells": len(cells["pred"]),
            "tiles": tiles,
            "stages": results,
            "command": " ".join(sys.argv),
        },
    )


if __name__ == "__main__":
    main()
