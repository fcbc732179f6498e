"""What the fast inference path costs in accuracy and saves in time, for a shipped network.

    .venv/bin/python benchmarks/bench_precision.py [--data data/radiomaps-test-1e7]
        [--max-maps 120] [--model unet-obs] [--out benchmarks/results/precision]

Three ways of running the same weights on whole test maps (as `radiomap-geo evaluate --net-mode
tile` does), interleaved map by map so that they share the machine's state:

* ``eager float32``: the network as trained (what prediction ran before
  :mod:`radiomap_geo.nets.inference`);
* ``float32``: batch normalisation folded into the convolutions, a frozen graph per shape;
* ``bfloat16``: the same with every layer but the output convolution in bfloat16.

Prints per setting: milliseconds per map for the network alone and for inputs + network (median,
2 threads, batch of one map), the difference to the eager float32 map (mean, RMS, 99th
percentile, max; dB, on the cells scored) and RMSE / MAE / bias against the ray tracer on cells
>= -130 dB (all, LOS, NLOS). Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from radiomap_geo.dataset import load_dataset
from radiomap_geo.los import line_of_sight
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.nets.evaluate import MetricAccumulator
from radiomap_geo.nets.inference import InferenceRunner
from radiomap_geo.rasterize import feature_stack

sys.path.insert(0, str(Path(__file__).parent))
from bench_tta import THRESHOLD_DB, load, publish  # noqa: E402

SETTINGS = {
    "eager float32": {"precision": "float32", "freeze": False, "fold": False},
    "float32": {"precision": "float32"},
    "bfloat16": {"precision": "bfloat16"},
}


def measure(model, dataset, indices) -> dict:
    """Scores, timings and differences to the eager network of every setting."""
    runners = {
        label: InferenceRunner(model.net, model.device, **kw) for label, kw in SETTINGS.items()
    }
    acc = {label: MetricAccumulator(floor_db=-160.0) for label in SETTINGS}
    diffs = {label: [] for label in SETTINGS}
    net_ms = {label: [] for label in SETTINGS}
    total_ms = {label: [] for label in SETTINGS}
    rx = float(dataset.manifest["config"].get("rx_height_m", 1.5))
    for n, index in enumerate(indices):
        tile = int(dataset.map_tile[index])
        grid, heights = dataset.grid(tile), dataset.building_height_m[tile]
        scene, site = SceneInputs(grid, heights, rx_height_m=rx), dataset.site(index)
        x = torch.from_numpy(feature_stack(scene, site, model.channels)[None])
        x = x.contiguous(memory_format=torch.channels_last)
        true, valid = dataset.gain_db[index], dataset.mask[index]
        keep = valid & (true >= THRESHOLD_DB)
        los = line_of_sight(heights, grid, grid, (site.x, site.y), site.height_m, rx)
        cx, cy = grid.cell_centers()
        reference = None
        for label, runner in runners.items():
            model.runner = runner
            if n == 0:  # warm-up: traces and freezes the graph, not on the clock
                model.predict_window(scene, site)
            t0 = time.perf_counter()
            runner(x)
            t1 = time.perf_counter()
            pred = model.predict_window(scene, site)
            t2 = time.perf_counter()
            net_ms[label].append(1000.0 * (t1 - t0))
            total_ms[label].append(1000.0 * (t2 - t1))
            if reference is None:
                reference = pred
            diffs[label].append((pred - reference)[keep])
            acc[label].update(pred, true, keep, los, np.hypot(cx - site.x, cy - site.y))
    results = {}
    for label in SETTINGS:
        d = np.concatenate(diffs[label]).astype(np.float64)
        results[label] = {
            **acc[label].result(),
            "maps": len(indices),
            "network_ms": float(np.median(net_ms[label])),
            "ms_per_map": float(np.median(total_ms[label])),
            "difference_db": {
                "mean": float(d.mean()),
                "rms": float(np.sqrt(np.mean(d**2))),
                "p99_abs": float(np.percentile(np.abs(d), 99)),
                "max_abs": float(np.abs(d).max()),
            },
        }
    return results


def table(results: dict) -> list[str]:
    """The markdown table of every setting."""
    lines = [
        "| setting | network ms / map | inputs + network ms / map | mean diff | RMS diff "
        "| p99 abs diff | max abs diff | RMSE | MAE | bias | RMSE LOS | RMSE NLOS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in results.items():
        d, a = r["difference_db"], r["all"]
        lines.append(
            f"| {label} | {r['network_ms']:.1f} | {r['ms_per_map']:.1f} | {d['mean']:+.3f} "
            f"| {d['rms']:.3f} | {d['p99_abs']:.2f} | {d['max_abs']:.2f} | {a['rmse_db']:.3f} "
            f"| {a['mae_db']:.3f} | {a['bias_db']:+.3f} | {r['los']['rmse_db']:.3f} "
            f"| {r['nlos']['rmse_db']:.3f} |"
        )
    return lines


def main() -> None:
    """Parse options, measure every setting, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/radiomaps-test-1e7")
    parser.add_argument("--split", default="test", choices=["test", "val", "train"])
    parser.add_argument("--max-maps", type=int, default=120)
    parser.add_argument("--model", default="unet-obs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/precision")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    dataset = load_dataset(opts.data, split=opts.split)
    count = min(opts.max_maps, len(dataset))
    indices = np.linspace(0, len(dataset) - 1, count).round().astype(int).tolist()
    model = load(opts.model, 1)
    results = measure(model, dataset, indices)
    command = " ".join(["benchmarks/bench_precision.py", *sys.argv[1:]])
    lines = [
        f"`{opts.model}` on {count} maps spread over split `{opts.split}` of `{opts.data}`, "
        f"{opts.threads} threads, torch {torch.__version__} (`{command}`). Differences are to "
        f"the eager float32 map on the scored cells (ray-traced path gain >= {THRESHOLD_DB:g} "
        "dB); errors are against the ray tracer there.",
        "",
        *table(results),
    ]
    publish(opts.out, lines, results)


if __name__ == "__main__":
    main()
