"""Accuracy and cost of test-time augmentation (and small ensembles) for a shipped network.

    .venv/bin/python benchmarks/bench_tta.py [--split test] [--max-maps N] [--tta 1,4,8]
        [--ensemble unet-obs,unet] [--out benchmarks/results/tta]

Runs the network on whole dataset maps exactly as `radiomap-geo evaluate --net-mode tile` does,
once per setting, and prints RMSE / MAE / bias on cells whose ray-traced path gain is >= -130 dB
(all, LOS, NLOS), the bias per 10 dB path-gain bin, and milliseconds per map (inputs + network,
batch of symmetries, 2 threads). Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from radiomap_geo.dataset import load_dataset
from radiomap_geo.los import line_of_sight
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.models.registry import shipped_models
from radiomap_geo.nets.evaluate import MetricAccumulator
from radiomap_geo.nets.model import NetworkModel
from radiomap_geo.nets.tta import mean_power_db

THRESHOLD_DB = -130.0


def load(name: str, tta: int) -> NetworkModel:
    """A shipped network (or a weights path) with ``tta`` symmetries."""
    if name.endswith(".pt"):
        return NetworkModel.from_weights(name, tta=tta, device="cpu")
    entry = shipped_models()[name]
    return NetworkModel.from_weights(entry["path"], entry["sha256"], tta=tta, device="cpu")


def score(models: list[NetworkModel], dataset, max_maps: int) -> dict:
    """Metrics of the power-mean of ``models`` over the first ``max_maps`` maps."""
    acc = MetricAccumulator(floor_db=-160.0)
    seconds = 0.0
    n = min(len(dataset), max_maps)
    rx = float(dataset.manifest["config"].get("rx_height_m", 1.5))
    for index in range(n):
        tile = int(dataset.map_tile[index])
        grid, heights = dataset.grid(tile), dataset.building_height_m[tile]
        scene, site = SceneInputs(grid, heights, rx_height_m=rx), dataset.site(index)
        if index == 0:
            for model in models:  # warm-up
                model.predict_window(scene, site)
        t0 = time.perf_counter()
        preds = np.stack([model.predict_window(scene, site) for model in models])
        pred = preds[0] if len(models) == 1 else mean_power_db(preds)
        seconds += time.perf_counter() - t0
        true, valid = dataset.gain_db[index], dataset.mask[index]
        keep = valid & (true >= THRESHOLD_DB)
        los = line_of_sight(heights, grid, grid, (site.x, site.y), site.height_m, rx)
        x, y = grid.cell_centers()
        acc.update(pred, true, keep, los, np.hypot(x - site.x, y - site.y))
    result = acc.result()
    result["ms_per_map"] = 1000.0 * seconds / n
    result["maps"] = n
    return result


def row(label: str, r: dict) -> str:
    """One markdown table row."""
    a, los, nlos = r["all"], r["los"], r["nlos"]
    return (
        f"| {label} | {r['maps']} | {a['rmse_db']:.2f} | {a['mae_db']:.2f} | {a['bias_db']:+.2f} "
        f"| {los['rmse_db']:.2f} | {nlos['rmse_db']:.2f} | {r['ms_per_map']:.1f} |"
    )


def bias_rows(label: str, r: dict) -> str:
    """Bias per path-gain bin as one row."""
    cells = [f"{m['bias_db']:+.1f}" if m["count"] else "" for m in r["path_gain"].values()]
    return f"| {label} | " + " | ".join(cells) + " |"


def publish(out: str | Path, lines: list[str], results: dict) -> None:
    """Print the markdown lines and write them to OUT.md, the results to OUT.json."""
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")


def main() -> None:
    """Parse options, score every setting, print and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/radiomaps")
    parser.add_argument("--split", default="test", choices=["test", "val", "train"])
    parser.add_argument("--max-maps", type=int, default=10**9)
    parser.add_argument("--model", default="unet-obs")
    parser.add_argument("--tta", default="1,4,8")
    parser.add_argument("--ensemble", default="", help="comma-separated models averaged (tta 1)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/tta")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    dataset = load_dataset(opts.data, split=opts.split)
    settings = [(f"{opts.model} tta={t}", [load(opts.model, int(t))]) for t in opts.tta.split(",")]
    if opts.ensemble:
        names = opts.ensemble.split(",")
        settings.append((f"ensemble {'+'.join(names)}", [load(n, 1) for n in names]))
    results = {}
    for label, models in settings:
        results[label] = score(models, dataset, opts.max_maps)
        print(row(label, results[label]), flush=True)
    first = next(iter(results.values()))
    lines = [
        f"Split `{opts.split}` of `{opts.data}`, {first['maps']} maps, cells >= {THRESHOLD_DB:g} dB"
        f" (`{' '.join(['benchmarks/bench_tta.py'] + _argv())}`)",
        "",
        "| setting | maps | RMSE | MAE | bias | RMSE LOS | RMSE NLOS | ms / map |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(row(label, r) for label, r in results.items()),
        "",
        "Bias (prediction - ray tracer, dB) per path-gain bin of the ray-traced label:",
        "",
        "| setting | " + " | ".join(first["path_gain"]) + " |",
        "|---|" + "---:|" * len(first["path_gain"]),
        *(bias_rows(label, r) for label, r in results.items()),
    ]
    publish(opts.out, lines, results)


def _argv() -> list[str]:
    import sys

    return sys.argv[1:]


if __name__ == "__main__":
    main()
