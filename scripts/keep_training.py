"""Turn spare CPU hours into accuracy: grow the dataset, continue the default network, promote.

    nice -n 19 .venv/bin/python scripts/keep_training.py [--rounds N] [--grow-tiles K]

Each round (resumable at every step; kill it at any moment, rerun the same command):

1. grows ``data/radiomaps`` by ``--grow-tiles`` tiles (the builder resumes where it stopped);
   with ``--val-samples N`` it re-traces the validation tiles not yet done at N rays into
   ``--val-data`` (cleaner labels to promote by); with ``--retrace-tiles K`` it traces K more
   training tiles a second time (deep shadow first) into ``--second-traces``, whose labels
   training then averages with the first run (issue #16 item 3, :mod:`radiomap_geo.dataset.traces`);
   with ``--more-rays DIR`` the labels of the tiles DIR traced with more rays replace both;
   with ``--ray-correction DIR`` the trained candidate's output is moved to the level of those
   traces (:mod:`radiomap_geo.nets.ray_correction`) before it is scored;
2. continues the network from the last round's weights kept in ``training/keep/`` (float16;
   with ``--continue-from default``, from the shipped default instead, so a lane whose own
   candidates drifted behind restarts from the best model) for ``--epochs`` epochs on a fresh
   cosine schedule: a warm restart. AdamW's moments are reset at every restart by design, so
   the weights are all a round needs to continue: nothing else of the optimiser is kept;
3. scores the candidate and the shipped default on the whole validation split (the same maps,
   the same command), and promotes the candidate to the default in ``weights/`` only when it is
   better (the model card then carries its test-split numbers). Better means, first, calibrated:
   the bias of every predicted path-gain bin within ``--max-bias-db`` (a predicted -125 dB must
   mean -125 dB to a planner); between two models on the same side of that bar, a lower
   validation RMSE. A calibrated candidate replaces an uncalibrated default even at up to
   ``--bias-fix-cost-db`` more RMSE; an uncalibrated one never replaces a calibrated default;
4. appends one row to ``training/keep/log.csv`` (maps seen, CPU hours, validation RMSE).

Steps finished in a round are recorded in ``training/keep/state.json``; the training step itself
resumes from its epoch checkpoint in ``runs/keep/round-NNN``. Commit ``training/keep/`` (and
``weights/``, ``data/radiomaps`` when they changed) to keep the progress.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The console script of the interpreter running this (the project's .venv).
CLI = [str(Path(sys.executable).with_name("radiomap-geo"))]
TILES_FAILED = 3  # `radiomap-geo dataset build`: finished, but some tiles failed
LOG_COLUMNS = [
    "round",
    "finished_utc",
    "dataset_maps",
    "train_maps",
    "epochs",
    "maps_seen_total",
    "cpu_hours_round",
    "cpu_hours_total",
    "val_maps",
    "val_data",
    "maps_traced_twice",
    "maps_more_rays",
    "val_rmse_candidate_db",
    "val_rmse_default_db",
    "val_worst_bias_candidate_db",
    "val_worst_bias_default_db",
    "promoted",
    "candidate_file",
]


def log(message: str) -> None:
    """One timestamped progress line."""
    print(f"[keep-training {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def child_cpu_seconds() -> float:
    """CPU seconds used by finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args: list[str], *, cpu: dict, tolerated: tuple[int, ...] = ()) -> int:
    """Run one step as a child process and add its CPU time to ``cpu['seconds']``.

    Exit statuses in ``tolerated`` are returned instead of raised.
    """
    log(" ".join(args))
    before = child_cpu_seconds()
    done = subprocess.run(args, cwd=ROOT, env=cpu.get("env"))
    cpu["seconds"] += child_cpu_seconds() - before
    if done.returncode and done.returncode not in tolerated:
        raise subprocess.CalledProcessError(done.returncode, args)
    return done.returncode


def write_json(path: Path, value: dict) -> None:
    """Atomic: a kill leaves either the old or the new state."""
    staging = path.with_name(f".{path.name}.partial")
    staging.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(staging, path)


def dataset_counts(data: Path) -> dict[str, int]:
    """Maps per split in the dataset's manifest."""
    counts = {"train": 0, "val": 0, "test": 0}
    for tile in json.loads((data / "manifest.json").read_text())["tiles"].values():
        counts[tile["split"]] += tile["n_maps"]
    return counts


@dataclass(frozen=True)
class ValScore:
    """What promotion compares: the headline RMSE and the worst predicted-bin bias (dB)."""

    rmse_db: float
    worst_bias_db: float
    maps: int


# Predicted-level bins with fewer cells than this are too noisy to judge calibration by.
MIN_BIN_CELLS = 1000


def worst_predicted_bias(model_report: dict) -> float:
    """Largest |bias| over the path-gain bins of the *prediction* (all valid cells); NaN when
    no bin holds enough cells to judge (promotion then treats the model as not calibrated).
    """
    bins = model_report["metrics"]["predicted_path_gain"].values()
    judged = [abs(b["bias_db"]) for b in bins if b["count"] >= MIN_BIN_CELLS]
    return max(judged, default=math.nan)


def val_score(data: Path, model: str, out: Path, cpu: dict) -> ValScore:
    """Headline RMSE (cells >= -130 dB) and calibration of ``model`` on the validation split."""
    if not out.exists():
        staging = out.with_name(f".{out.name}.partial")
        run(
            CLI
            + ["evaluate", str(data), "--model", model, "--split", "val", "--baselines", ""]
            + ["--threads", "2", "--quiet", "--json", str(staging)],
            cpu=cpu,
        )
        os.replace(staging, out)
    report = json.loads(out.read_text())
    model_report = report["models"][0]
    return ValScore(
        rmse_db=model_report["above_threshold"]["all"]["rmse_db"],
        worst_bias_db=worst_predicted_bias(model_report),
        maps=report["dataset"]["maps"],
    )


#: Ray seeds of the re-traces (the builder's own seeds are per map, drawn from the tile seed).
VAL_SEED, SECOND_SEED = 7, 11


def retrace(data: Path, split: str, samples: float, seed: int, out: Path, order: str) -> list[str]:
    """The command re-tracing ``split`` of ``data`` into ``out`` (resumable, tiles not done)."""
    return [sys.executable, str(ROOT / "scripts/retrace_split.py"), "--source", str(data)] + [
        "--split", split, "--samples", f"{float(samples):g}", "--seed", str(seed),
        "--order", order, "--out", str(out),
    ]  # fmt: skip


def default_weights(weights: Path, name: str) -> Path:
    """The shipped weights file of ``name`` in the ``weights`` folder."""
    index = json.loads((weights / "index.json").read_text())
    return weights / index[name]["file"]


def should_promote(
    candidate: ValScore,
    default: ValScore,
    *,
    min_gain_db: float = 0.0,
    max_bias_db: float = 3.0,
    bias_fix_cost_db: float = 0.75,
) -> bool:
    """Calibration first (every predicted bin's bias within ``max_bias_db``), then RMSE."""
    candidate_ok = candidate.worst_bias_db <= max_bias_db
    default_ok = default.worst_bias_db <= max_bias_db
    if candidate_ok != default_ok:
        return candidate_ok and candidate.rmse_db <= default.rmse_db + bias_fix_cost_db
    return bool(candidate.rmse_db < default.rmse_db - min_gain_db)


def start_channels(start: Path) -> str:
    """The input channels of the weights a round continues from, comma-separated."""
    from radiomap_geo.nets.weights import load_weights

    return ",".join(load_weights(start).metadata["channels"])


#: Input channels that carry physics priors, and how a model card names them.
PRIORS = {
    "los": "line-of-sight",
    "building_depth": "building-depth",
    "knife_edge_db": "knife-edge",
    "detour": "detour",
}


def describe(channels: str) -> str:
    """The promoted model's one-line description, naming the priors among its inputs."""
    names = [label for name, label in PRIORS.items() if name in channels.split(",")]
    priors = f" + {', '.join(names)} priors" if names else ""
    return f"UNet base 16{priors}, continued by scripts/keep_training.py (default)"


def newest_weights(run_dir: Path, name: str) -> Path:
    """The weights the last training step wrote."""
    files = sorted(run_dir.glob(f"{name}-*.pt"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise SystemExit(f"training wrote no {name}-*.pt in {run_dir}")
    return files[-1]


def one_round(opts: argparse.Namespace, state: dict, state_path: Path) -> None:
    """Grow, train, score, maybe promote, log; each finished step is recorded."""
    number = state["round"] + 1
    run_dir = ROOT / opts.runs_dir / f"round-{number:03d}"
    weights = ROOT / opts.weights_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    done = state.setdefault("steps", {})
    cpu = {
        "seconds": state.get("round_cpu_seconds", 0.0),
        "env": {**os.environ, "RADIOMAP_GEO_WEIGHTS": str(weights)},
    }

    def finish(step: str) -> None:
        done[step] = True
        state["round_cpu_seconds"] = cpu["seconds"]
        write_json(state_path, state)

    data = ROOT / opts.data
    val_data = ROOT / (opts.val_data or opts.data)
    second = ROOT / opts.second_traces
    if opts.grow_tiles and not done.get("grow"):
        tiles_now = len(json.loads((data / "manifest.json").read_text())["tiles"])
        target = state.get("grow_target") or tiles_now + opts.grow_tiles
        state["grow_target"] = target
        write_json(state_path, state)
        grow = CLI + ["dataset", "build", str(data), "--n-tiles", str(target), "--quiet"]
        if run(grow, cpu=cpu, tolerated=(TILES_FAILED,)) == TILES_FAILED:
            # Failed tiles are retried by the next build; the round trains on what is there.
            log("some tiles failed to trace (listed above); they are retried next round")
        finish("grow")
    if opts.val_samples and not done.get("retrace-val"):
        run(retrace(data, "val", opts.val_samples, VAL_SEED, val_data, order="tile"), cpu=cpu)
        finish("retrace-val")
    if opts.retrace_tiles and not done.get("retrace-train"):
        samples = json.loads((data / "manifest.json").read_text())["config"]["samples_per_tx"]
        command = retrace(data, "train", samples, SECOND_SEED, second, order="deep-shadow")
        run(command + ["--max-tiles", str(opts.retrace_tiles)], cpu=cpu)
        finish("retrace-train")
    averaging = bool(opts.retrace_tiles) and (second / "manifest.json").is_file()

    # The weights a round continues from keep their '-<sha12>.pt' name: loading verifies it.
    current = state.get("current")
    if current and opts.continue_from == "last":
        start = state_path.parent / current
    else:  # the first round, or --continue-from default: candidates that lost are dropped
        start = default_weights(weights, opts.model)
    log(f"round {number} continues from {start.name}")
    channels = opts.channels or start_channels(start)
    if not done.get("train"):
        run(
            CLI
            + ["train", str(data), "--arch", opts.arch, "--arch-kwargs", opts.arch_kwargs]
            + ["--channels", channels, "--name", opts.model, "-o", str(run_dir)]
            + ["--epochs", str(opts.epochs), "--lr", str(opts.lr), "--schedule", "cosine"]
            + ["--patience", str(opts.epochs), "--max-val-maps", str(opts.max_val_maps)]
            + ["--batch-size", "16", "--threads", "2", "--seed", str(number), "--quiet"]
            + ["--init-weights", str(start)]
            + (["--loss", opts.loss] if opts.loss else [])
            + (["--weak-weight", opts.weak_weight] if opts.weak_weight else [])
            + (["--second-traces", str(second)] if averaging else [])
            + (["--more-rays", str(ROOT / opts.more_rays)] if opts.more_rays else [])
            + (["--maps-from", str(ROOT / opts.maps_from)] if opts.maps_from else []),
            cpu=cpu,
        )
        finish("train")
    candidate = newest_weights(run_dir, opts.model)
    if opts.ray_correction:
        # Moved to the level of the traces with more rays, as the default was (see
        # radiomap_geo/nets/ray_correction.py): the two are compared on the same footing.
        corrected = run_dir / "corrected"
        if not done.get("correct"):
            run(
                [sys.executable, str(ROOT / "scripts" / "fit_ray_correction.py")]
                + ["--model", str(candidate), "--data", str(data)]
                + ["--more-rays", str(ROOT / opts.ray_correction), "--out", str(corrected)]
                + (["--second-traces", str(second)] if averaging else []),
                cpu=cpu,
            )
            finish("correct")
        candidate = newest_weights(corrected, opts.model)
    cand = val_score(val_data, str(candidate), run_dir / "val-candidate.json", cpu)
    base = val_score(val_data, opts.model, run_dir / "val-default.json", cpu)
    promoted = should_promote(
        cand,
        base,
        min_gain_db=opts.min_gain_db,
        max_bias_db=opts.max_bias_db,
        bias_fix_cost_db=opts.bias_fix_cost_db,
    )
    if promoted and not done.get("promote"):
        run(
            CLI
            + ["evaluate", str(data), "--model", str(candidate), "--threads", "2", "--quiet"]
            + ["--json", str(run_dir / "test.json"), "--markdown", str(run_dir / "test.md")]
            + ["--ship-to", str(weights), "--name", opts.model, "--default"]
            + ["--description", opts.description or describe(channels)],
            cpu=cpu,
        )
        finish("promote")

    train_log = json.loads((run_dir / "train_log.json").read_text())
    history = train_log.get("history", [])
    train_maps = int(train_log["data"]["train_maps"])
    state["maps_seen"] = state.get("maps_seen", 0) + train_maps * len(history)
    state["cpu_seconds"] = state.get("cpu_seconds", 0.0) + cpu["seconds"]
    kept = state_path.parent / candidate.name
    kept.write_bytes(candidate.read_bytes())
    # The committed record of the round: its epochs, and the test scores of a promoted model.
    for name in ("train_log.json", "test.md"):
        if (run_dir / name).is_file():
            target = state_path.parent / f"round-{number:03d}-{name}"
            target.write_bytes((run_dir / name).read_bytes())
    if current and current != candidate.name:
        (state_path.parent / current).unlink(missing_ok=True)
    state["current"] = candidate.name
    row = {
        "round": number,
        "finished_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dataset_maps": sum(dataset_counts(data).values()),
        "train_maps": train_maps,
        "epochs": len(history),
        "maps_seen_total": state["maps_seen"],
        "cpu_hours_round": round(cpu["seconds"] / 3600, 3),
        "cpu_hours_total": round(state["cpu_seconds"] / 3600, 3),
        "val_maps": cand.maps,
        "val_data": os.path.relpath(val_data, ROOT),
        "maps_traced_twice": train_log["data"].get("maps_traced_twice", 0),
        "maps_more_rays": train_log["data"].get("maps_with_more_rays", 0),
        "val_rmse_candidate_db": round(cand.rmse_db, 3),
        "val_rmse_default_db": round(base.rmse_db, 3),
        "val_worst_bias_candidate_db": round(cand.worst_bias_db, 2),
        "val_worst_bias_default_db": round(base.worst_bias_db, 2),
        "promoted": int(promoted),
        "candidate_file": candidate.name,
    }
    append_log_row(state_path.parent / "log.csv", row)
    log(
        f"round {number}: val RMSE {cand.rmse_db:.3f} vs default {base.rmse_db:.3f} dB, worst "
        f"predicted-bin bias {cand.worst_bias_db:.2f} vs {base.worst_bias_db:.2f} dB, "
        f"promoted={promoted}"
    )
    state.update(round=number, steps={}, round_cpu_seconds=0.0, grow_target=None)
    write_json(state_path, state)


def append_log_row(log_path: Path, row: dict) -> None:
    """Append ``row``; a log written before a column existed is rewritten with it left blank."""
    rows, rewrite = [], not log_path.exists()
    if log_path.exists():
        with log_path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != LOG_COLUMNS:
                rows, rewrite = list(reader), True
    if rewrite:
        staging = log_path.with_name(f".{log_path.name}.partial")
        with staging.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, LOG_COLUMNS, restval="")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(staging, log_path)
    with log_path.open("a", newline="") as handle:
        csv.DictWriter(handle, LOG_COLUMNS).writerow(row)


def main() -> int:
    """Run rounds until ``--rounds`` or a kill."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1000, help="stop after this many rounds")
    parser.add_argument("--data", default="data/radiomaps")
    parser.add_argument("--state-dir", default="training/keep")
    parser.add_argument("--runs-dir", default="runs/keep", help="training run folders")
    parser.add_argument("--weights-dir", default="weights", help="where the default is shipped")
    parser.add_argument("--model", default="unet-obs")
    parser.add_argument("--arch", default="unet")
    parser.add_argument("--arch-kwargs", default='{"base": 16, "depth": 4}')
    parser.add_argument(
        "--channels",
        help="input channels, comma-separated [default: those of the weights the round "
        "continues from; a list may add channels to them, not drop any]",
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs per round (one restart)")
    parser.add_argument("--lr", type=float, default=3e-4, help="peak learning rate per restart")
    parser.add_argument(
        "--continue-from",
        choices=("last", "default"),
        default="last",
        help="each round continues the lane's last candidate, or the shipped default",
    )
    parser.add_argument("--grow-tiles", type=int, default=0, help="tiles added per round")
    parser.add_argument("--loss", help="training loss (default: radiomap-geo train's)")
    parser.add_argument("--weak-weight", help="weight of weak labels (default: train's)")
    parser.add_argument("--max-val-maps", type=int, default=96, help="per-epoch validation maps")
    parser.add_argument(
        "--val-data",
        help="dataset folder whose val split promotion scores on [default: --data]",
    )
    parser.add_argument(
        "--val-samples",
        type=float,
        help="re-trace the val split at this many rays into --val-data first (e.g. 1e7)",
    )
    parser.add_argument(
        "--retrace-tiles",
        type=int,
        default=0,
        help="training tiles traced a second time per round (their labels are averaged)",
    )
    parser.add_argument("--second-traces", default="data/radiomaps-train-second")
    parser.add_argument(
        "--more-rays",
        help="folder of training tiles traced with more rays (e.g. data/radiomaps-train-1e7): "
        "their labels replace the dataset's",
    )
    parser.add_argument(
        "--maps-from", help="train on just the maps this dataset folder holds (an ablation)"
    )
    parser.add_argument(
        "--ray-correction",
        help="fit the candidate's ray-count correction on this folder of training tiles traced "
        "with more rays before scoring it (scripts/fit_ray_correction.py)",
    )
    parser.add_argument("--min-gain-db", type=float, default=0.0)
    parser.add_argument(
        "--max-bias-db",
        type=float,
        default=3.0,
        help="calibrated: every predicted path-gain bin's bias within this (dB)",
    )
    parser.add_argument(
        "--bias-fix-cost-db",
        type=float,
        default=0.75,
        help="RMSE a calibrated candidate may give up to replace an uncalibrated default",
    )
    parser.add_argument("--retry-wait", type=float, default=60.0, help="seconds after a failure")
    parser.add_argument(
        "--description",
        help="the model card's one-line description [default: names the priors among the inputs]",
    )
    opts = parser.parse_args()
    if opts.val_samples and not opts.val_data:
        parser.error("--val-samples needs --val-data: the folder the re-traced val split goes to")
    state_path = ROOT / opts.state_dir / "state.json"
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state = json.loads(state_path.read_text()) if state_path.exists() else {"round": 0}
    failed = False
    for attempt in range(opts.rounds):
        started = time.monotonic()
        try:
            one_round(opts, state, state_path)
            failed = False
        except subprocess.CalledProcessError as exc:
            # e.g. a half-edited working tree during development: the round resumes next time
            failed = True
            log(f"step failed ({exc}); the round resumes at the next attempt")
            if attempt + 1 < opts.rounds:
                time.sleep(opts.retry_wait)
            continue
        log(f"round took {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
