"""Train RadioCycle / InterpolationNet on the dataset and ship the weights (resumable).

    python -m radiomap_geo.radiocycle.ship --model radiocycle --steps 900 --max-minutes 8
    python -m radiomap_geo.radiocycle.ship --model interpolation-net --steps 900 --max-minutes 8

Each call trains for at most ``--max-minutes`` into ``runs/radiocycle/<model>/`` and continues
where the last call stopped; when ``--steps`` are reached the weights are written to
``weights/radiocycle/`` with their sha256 and metadata.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timezone

import numpy as np
import torch

from radiomap_geo.radiocycle.data import F_CHANNELS, G_CHANNELS, load_maps
from radiomap_geo.radiocycle.dwa import DEFAULT_TEMPERATURE
from radiomap_geo.radiocycle.train import Networks, TrainConfig, train
from radiomap_geo.radiocycle.weights import save_model


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: train for a while, ship when all steps are done."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", default="radiocycle", choices=["radiocycle", "interpolation-net"]
    )
    parser.add_argument("--dataset", default="data/radiomaps")
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--max-minutes", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run-dir", default=None)
    parser.add_argument("--max-maps", type=int, default=None, help="Train on a spread subset.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    config = TrainConfig(
        model=args.model,
        steps=args.steps,
        fixed_rate=0.20 if args.model == "interpolation-net" else None,
    )
    maps = load_maps(args.dataset, "train", args.max_maps)
    run_dir = args.run_dir or f"runs/radiocycle/{args.model}"
    ckpt = train(maps, config, run_dir, max_seconds=60 * args.max_minutes)
    if ckpt["step"] < config.steps:
        print(f"stopped at step {ckpt['step']}/{config.steps}: rerun to continue")
        return 0
    nets = Networks(config)
    for name, net in nets.nets.items():
        net.load_state_dict(ckpt["nets"][name])
    history = np.asarray(ckpt["history"])
    metadata = {
        "model": args.model,
        "inputs": {"f": list(F_CHANNELS), "g": list(G_CHANNELS)}
        if args.model == "radiocycle"
        else {"interp": list(F_CHANNELS)},
        "output_units": "path gain normalised over [-160, -40] dB (x120 - 160 = dB)",
        "resolution_m": float(maps.resolution),
        "training": {
            "dataset": args.dataset,
            "split": "train",
            "maps": len(maps),
            "steps": int(ckpt["step"]),
            "batch": config.batch,
            "crop": config.crop,
            "sampling": "uniform 20 %"
            if config.fixed_rate
            else "rates uniform 1-40 %, 35 % street trajectories",
            "dwa_temperature": DEFAULT_TEMPERATURE,
            "final_losses": np.round(history[-50:].mean(0), 5).tolist(),
        },
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print(save_model(args.model, nets.nets, metadata))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
