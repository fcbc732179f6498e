"""Train every measurement network of issue #10 in one process (the training maps load once).

Each network gets ``--minutes`` of wall-clock per call and continues from its checkpoint in
``--out/<name>/checkpoint.pt``, so calling the script again (after a kill, too) resumes; a
network writes its weights file ``--out/<name>/<name>-<sha12>.pt`` at the end of each call
(time-budgeted training: the file records the steps done).

    nice -n 5 flock /tmp/radiomap-heavy.lock .venv/bin/python \
        benchmarks/train_measurement_models.py data/radiomaps --minutes 1.8

The default, ``geo-residual``: first ``--networks geo-residual --steps 30000 --minutes 5
--threads 2`` called four times (constant rate, 1,024 maps), then continued on the round-23
geometry default and 4,096 maps (4,095 used: one has no measurable cell) with a cosine schedule::

    nice -n 5 .venv/bin/python benchmarks/train_measurement_models.py data/radiomaps \
        --networks geo-residual --max-maps 4096 --steps 26000 --minutes 34 --threads 2 \
        --lr 2e-4 --lr-schedule cosine --init-weights weights/geo-residual-57e10b469813.pt \
        --out runs/sparse-v2

(1597 s; the weights it started from are in git at commit 66db7fc), compared on the 1e7 validation split
(``benchmarks/results/geo_residual_retrain_val_1e7.md``) and shipped with
``radiomap-geo ship-measurement-model <its file> data/radiomaps-val-1e7 --test-data
data/radiomaps-test-1e7 --default``.
"""

from __future__ import annotations

import argparse
import time

from radiomap_geo.sparse.data import load_contexts
from radiomap_geo.sparse.networks import NETWORKS
from radiomap_geo.sparse.train import train_measurement_model
from radiomap_geo.train_options import LR_SCHEDULES, TRAINING_MAPS, SparseTrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--steps", type=int, default=5000, help="upper bound; time decides")
    parser.add_argument("--minutes", type=float, default=1.8, help="per network and call")
    parser.add_argument("--max-maps", type=int, default=TRAINING_MAPS)
    parser.add_argument("--out", default="runs/sparse")
    parser.add_argument("--threads", type=int, default=1, help="2 when nothing else runs")
    parser.add_argument("--lr", type=float, default=SparseTrainConfig.lr)
    parser.add_argument(
        "--lr-schedule", choices=LR_SCHEDULES, default=SparseTrainConfig.lr_schedule
    )
    parser.add_argument("--init-weights", help="start from this model file (one network only)")
    parser.add_argument("--second-traces", help="train on the maps traced twice, labels averaged")
    args = parser.parse_args()
    contexts = load_contexts(
        args.dataset, "train", max_maps=args.max_maps, second_traces=args.second_traces
    )
    for name in args.networks.split(","):
        t0 = time.time()
        config = SparseTrainConfig(
            steps=args.steps,
            max_seconds=60.0 * args.minutes,
            threads=args.threads,
            lr=args.lr,
            lr_schedule=args.lr_schedule,
            init_weights=args.init_weights,
        )
        result, path = train_measurement_model(
            args.dataset,
            name,
            args.out,
            config,
            contexts=contexts,
            second_traces=args.second_traces,  # recorded in the model's training data
            save_partial=True,
        )
        tail = result.history[-50:]
        l1 = sum(h["l1_db"] for h in tail) / max(len(tail), 1)
        state = f"weights {path}" if path else "unfinished"
        print(
            f"{name}: step {result.step}/{args.steps}, L1 {l1:.2f} dB (last 50 steps), "
            f"{time.time() - t0:.0f} s, {state}",
            flush=True,
        )


if __name__ == "__main__":
    main()
