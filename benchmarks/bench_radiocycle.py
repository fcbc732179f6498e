"""RadioCycle (paper 001) vs InterpolationNet vs kriging against the sampling rate (issue #13).

    .venv/bin/python benchmarks/bench_radiocycle.py --real-maps 48 --procedural-maps 32

Scores the shipped ``weights/radiocycle`` models on the test split's real layouts (RadioMapSeer
OSM maps, Helsinki, Delft; never seen in training) and, separately, on procedural tiles (the
dataset puts procedural tiles in train/val only, so these come from the validation split).
Writes ``benchmarks/results/radiocycle.md`` (tables), ``radiocycle.json`` (per-map rows and
means) and ``radiocycle.png`` (the paper's Fig. 3-4: scores against the sampling rate).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from radiomap_geo.radiocycle.data import load_maps
from radiomap_geo.radiocycle.evaluate import PATTERNS, evaluate, summarise
from radiomap_geo.radiocycle.weights import available, load_model

RESULTS = Path(__file__).parent / "results"
TARGETS = {"f1": 0.85, "jaccard": 0.75, "rmse_db": 6.0, "rmse_spread_db": 2.0}


def _maps(dataset: str, real: int, procedural: int):
    test = load_maps(dataset, "test", real)
    val = load_maps(dataset, "val")
    proc = val.subset(np.flatnonzero(val.source == "procedural"))
    keep = np.unique(np.linspace(0, len(proc) - 1, procedural).round().astype(int))
    return test, proc.subset(keep)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def markdown(summary: list[dict], command: str, seconds: float, meta: dict) -> str:
    lines = [
        "# RadioCycle vs InterpolationNet vs kriging (issue #13, paper 001)",
        "",
        f"Command: `{command}` ({seconds:.0f} s on the shared 2-core machine).",
        f"Models: {json.dumps(meta)}.",
        "",
        "Buildings: F's mask (p >= 0.5) on all cells. Radio: labelled cells not measured; "
        "`rmse_norm` = RMSE / 120 dB (paper 001's units), NMSE = SSE / sum of squared deviations.",
        "`radiocycle` = G(F(x)), no building input; `radiocycle+level` adds the mean measured "
        "residual. Kriging runs on the first maps of each group only (see `maps`).",
        "",
    ]
    cols = [
        "pattern",
        "method",
        "maps",
        "f1",
        "jaccard",
        "precision",
        "recall",
        "accuracy",
        "polygon_iou",
        "rmse_db",
        "rmse_norm",
        "nmse",
    ]
    for group in ("real", "procedural"):
        title = "real layouts (test split)" if group == "real" else "procedural tiles (val split)"
        lines += [f"## {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in summary:
            if row["group"] == group:
                lines.append("| " + " | ".join(_fmt(row.get(c, float("nan"))) for c in cols) + " |")
        lines.append("")
    lines += targets(summary)
    return "\n".join(lines) + "\n"


def targets(summary: list[dict]) -> list[str]:
    """The issue's 'Done when' numbers beside the measured ones."""

    def get(method, pattern, key, group="real"):
        for r in summary:
            if (r["group"], r["pattern"], r["method"]) == (group, pattern, method):
                return r.get(key, float("nan"))
        return float("nan")

    curve = [
        get("radiocycle+level", p, "rmse_db")
        for p in ("uniform:5%", "uniform:10%", "uniform:20%", "uniform:30%", "uniform:40%")
    ]
    curve_plain = [
        get("radiocycle", p, "rmse_db")
        for p in ("uniform:5%", "uniform:10%", "uniform:20%", "uniform:30%", "uniform:40%")
    ]
    return [
        "## Issue #13 targets (real layouts, uniform 20 %)",
        "",
        "| target | measured | goal |",
        "|---|---|---|",
        f"| building F1 | {get('radiocycle', 'uniform:20%', 'f1'):.3f} | >= 0.85 |",
        f"| building Jaccard | {get('radiocycle', 'uniform:20%', 'jaccard'):.3f} | >= 0.75 |",
        f"| radio RMSE, unmeasured cells, G(F(x)) | {get('radiocycle', 'uniform:20%', 'rmse_db'):.2f} dB | <= 6 dB |",
        f"| radio RMSE, unmeasured cells, G(F(x)) + level | {get('radiocycle+level', 'uniform:20%', 'rmse_db'):.2f} dB | <= 6 dB |",
        f"| RMSE spread 5-40 %, G(F(x)) | {np.nanmax(curve_plain) - np.nanmin(curve_plain):.2f} dB | < 2 dB |",
        f"| RMSE spread 5-40 %, G(F(x)) + level | {np.nanmax(curve) - np.nanmin(curve):.2f} dB | < 2 dB |",
        "",
    ]


def figure(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    uniform = [p for p in PATTERNS if p.startswith("uniform")]
    rates = [float(p.split(":")[1].rstrip("%")) for p in uniform]
    for method, style in (
        ("radiocycle", "o-"),
        ("radiocycle+level", "s-"),
        ("interpolation-net", "^--"),
        ("kriging", "x:"),
    ):
        ys = [
            next(
                (
                    r["rmse_db"]
                    for r in summary
                    if (r["group"], r["pattern"], r["method"]) == ("real", p, method)
                ),
                np.nan,
            )
            for p in uniform
        ]
        axes[1].plot(rates, ys, style, label=method)
    for key, style in (("f1", "o-"), ("jaccard", "s-")):
        ys = [
            next(
                (
                    r[key]
                    for r in summary
                    if (r["group"], r["pattern"], r["method"]) == ("real", p, "radiocycle")
                ),
                np.nan,
            )
            for p in uniform
        ]
        axes[0].plot(rates, ys, style, label=key)
    axes[0].set(xlabel="sampling rate (%)", ylabel="score", title="buildings (F), real layouts")
    axes[1].set(xlabel="sampling rate (%)", ylabel="RMSE (dB)", title="radio map, real layouts")
    for ax in axes:
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="data/radiomaps")
    parser.add_argument("--real-maps", type=int, default=48)
    parser.add_argument("--procedural-maps", type=int, default=32)
    parser.add_argument("--kriging-maps", type=int, default=6)
    parser.add_argument("--polygon-maps", type=int, default=16)
    parser.add_argument("--out", default=str(RESULTS / "radiocycle"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.monotonic()
    rc = load_model("radiocycle")
    interp = load_model("interpolation-net") if "interpolation-net" in available() else None
    rows = []
    for maps in _maps(args.dataset, args.real_maps, args.procedural_maps):
        part = evaluate(
            maps, rc, interp, kriging_maps=args.kriging_maps, polygon_maps=args.polygon_maps
        )
        offset = len({r["map"] for r in rows})
        rows += [{**r, "map": r["map"] + offset} for r in part]
    summary = summarise(rows)
    seconds = time.monotonic() - start
    meta = {
        k: {"file": v["file"], "steps": v["metadata"]["training"]["steps"]}
        for k, v in available().items()
    }
    command = "python benchmarks/bench_radiocycle.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = markdown(summary, command.strip(), seconds, meta)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps({"summary": summary, "models": meta}, indent=1, default=float) + "\n"
    )
    figure(summary, out.with_suffix(".png"))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
