"""Which training loss (and labels) serve the default best? One warm restart per variant.

    nice -n 19 .venv/bin/python benchmarks/bench_loss_ablation.py \
        --init training/keep/unet-obs-<sha12>.pt --seed 19 --work-dir runs/loss-ablation \
        [--variant huber-weak0.25 --variant huber-weak1 --variant mse-weak1]

Every variant continues the same weights on the same data for the same epochs, seed and
schedule as one round of ``scripts/keep_training.py`` (so the ``huber-weak0.25`` variant *is*
that round), changing only ``--loss`` and ``--weak-weight``, and with a ``+second`` suffix
(``huber-weak1+second``) training on labels averaged with a second ray-traced run where one
exists (``--second-traces``, ``scripts/retrace_split.py``). Each candidate is then scored by
``radiomap-geo evaluate --split val`` on the whole validation split. The table reports the
headline RMSE (cells whose label is >= -130 dB), LOS / NLOS, the RMSE over all cells, and the
bias binned by the *prediction* (does a predicted level mean what it says?), the quantity that
caps the antenna optimiser (#11). Resumable: a variant whose folder already holds weights is
not retrained, a finished evaluation is not rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(Path(sys.executable).with_name("radiomap-geo"))]
CHANNELS = (
    "building_height,tx_height,anchor_x,anchor_y,distance,azimuth_cos,azimuth_sin,antenna_gain,"
    "los,free_space_db,building_depth,knife_edge_db"
)
LOSSES = ("huber", "mse")
PREDICTED_BINS = ("[-140, -130) dB", "[-130, -120) dB", "[-120, -110) dB", "[-110, -100) dB")


SECOND = "+second"


def variant_settings(variant: str) -> tuple[str, float]:
    """``<loss>-weak<weight>[+second]`` (e.g. ``huber-weak0.5``) as (loss, weak-label weight)."""
    loss, _, weak = variant.removesuffix(SECOND).partition("-weak")
    try:
        weight = float(weak)
    except ValueError:
        weight = -1.0
    if loss not in LOSSES or not 0.0 <= weight <= 1.0:
        raise argparse.ArgumentTypeError(
            f"variant {variant!r}: expected <loss>-weak<weight> with loss in {LOSSES} and a "
            "weight in [0, 1], e.g. huber-weak0.5"
        )
    return loss, weight


def parse_variant(variant: str) -> str:
    variant_settings(variant)
    return variant


def train(variant: str, opts: argparse.Namespace) -> Path:
    """The variant's candidate weights (trained unless its folder already holds them)."""
    out = opts.work_dir / variant
    found = sorted(out.glob("unet-obs-*.pt"), key=lambda p: p.stat().st_mtime)
    if found and (out / "train_log.json").is_file():
        return found[-1]
    loss, weak = variant_settings(variant)
    command = CLI + [
        "train", str(opts.data), "--arch", "unet", "--arch-kwargs", '{"base": 16, "depth": 4}',
        "--channels", CHANNELS, "--name", "unet-obs", "-o", str(out),
        "--epochs", str(opts.epochs), "--lr", "0.0003", "--schedule", "cosine",
        "--patience", str(opts.epochs), "--max-val-maps", "96", "--batch-size", "16",
        "--threads", "2", "--seed", str(opts.seed), "--quiet", "--init-weights", str(opts.init),
        "--loss", loss, "--weak-weight", str(weak),
    ] + (["--second-traces", str(opts.second_traces)] if variant.endswith(SECOND) else [])  # fmt: skip
    subprocess.run(command, check=True)
    return sorted(out.glob("unet-obs-*.pt"), key=lambda p: p.stat().st_mtime)[-1]


def evaluate(weights: Path, opts: argparse.Namespace) -> dict:
    """``evaluate --split val`` report of ``weights`` (cached beside them)."""
    report = weights.with_name("val.json")
    if not report.is_file():
        staging = weights.with_name(".val.json.partial")
        subprocess.run(
            CLI + ["evaluate", str(opts.data), "--model", str(weights), "--split", "val"]
            + ["--baselines", "", "--threads", "2", "--quiet", "--json", str(staging)],
            check=True,
        )  # fmt: skip
        os.replace(staging, report)
    return json.loads(report.read_text())


def row(variant: str, weights: Path, report: dict) -> str:
    model = report["models"][0]
    headline, every = model["above_threshold"], model["metrics"]
    bias = [every["predicted_path_gain"][b]["bias_db"] for b in PREDICTED_BINS]
    cells = [
        f"{headline['all']['rmse_db']:.3f}",
        f"{headline['los']['rmse_db']:.2f}",
        f"{headline['nlos']['rmse_db']:.2f}",
        f"{every['all']['rmse_db']:.2f}",
        f"{every['all']['bias_db']:+.2f}",
        *(f"{b:+.2f}" for b in bias),
    ]
    loss, weak = variant_settings(variant)
    labels = "2 runs where traced twice" if variant.endswith(SECOND) else "1 run"
    return f"| {variant} | {loss} | {weak:g} | {labels} | {' | '.join(cells)} | `{weights.name}` |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--init", type=Path, required=True, help="weights every variant continues")
    parser.add_argument("--data", type=Path, default=ROOT / "data/radiomaps")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs/loss-ablation")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--second-traces",
        type=Path,
        default=ROOT / "data/radiomaps-train-second",
        help="second runs of training tiles, for the +second variants",
    )
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        help="<loss>-weak<weight>, e.g. huber-weak0.5 (repeatable)",
    )
    opts = parser.parse_args()
    variants = opts.variant or ["huber-weak0.25", "huber-weak1", "mse-weak1"]
    rows = []
    for variant in variants:
        weights = train(variant, opts)
        rows.append(row(variant, weights, evaluate(weights, opts)))
    maps = evaluate(weights, opts)["dataset"]["maps"]
    bins = " | ".join(f"bias, predicted {b}" for b in PREDICTED_BINS)
    print(f"Validation split of `{opts.data.name}`: {maps} maps; one warm restart from "
          f"`{opts.init.name}`, {opts.epochs} epochs, seed {opts.seed}.\n")  # fmt: skip
    print(
        "| variant | loss | weak weight | labels | RMSE >= -130 | LOS | NLOS | RMSE all | bias all "
        f"| {bins} | weights |"
    )
    print("|---|---|---:|---|" + "---:|" * (5 + len(PREDICTED_BINS)) + "---|")
    print("\n".join(rows))
    print(f"\n(`{' '.join(['benchmarks/bench_loss_ablation.py', *sys.argv[1:]])}`)")


if __name__ == "__main__":
    main()
