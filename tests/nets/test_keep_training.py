"""scripts/keep_training.py: promotion only on a better validation RMSE, rounds that continue.

Runs the real script (and through it the real `radiomap-geo train` / `evaluate` commands) on a
tiny dataset built with the fake tracer, with a tiny CNN shipped as the default of a temporary
weights folder. No dataset growth here (that step ray-traces with Sionna RT).
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "keep_training.py"
CHANNELS = "building_height,distance,free_space_db"
ARCH_KWARGS = '{"depth": 2, "width": 4}'


@pytest.fixture(scope="module")
def weights_dir(dataset_dir, tmp_path_factory):
    """A weights folder whose default is a tiny CNN trained one epoch."""
    from radiomap_geo.nets.pipeline import evaluate_on_dataset, ship_weights, train_from_dataset

    torch.set_num_threads(1)
    run = train_from_dataset(
        dataset_dir,
        "cnn",
        tmp_path_factory.mktemp("first"),
        name="tiny",
        channels=CHANNELS.split(","),
        arch_kwargs=json.loads(ARCH_KWARGS),
        epochs=1,
        batch_size=4,
        lr=1e-3,
    )
    folder = tmp_path_factory.mktemp("weights")
    report = evaluate_on_dataset(str(run.weights_path), dataset_dir, "val", baselines=[])
    ship_weights(run.weights_path, folder, "tiny", description="tiny", report=report, default=True)
    return folder


def keep_training(dataset_dir: Path, weights: Path, state: Path, *extra: str) -> None:
    command = [sys.executable, str(SCRIPT), "--rounds", "1", "--data", str(dataset_dir)]
    command += ["--state-dir", str(state), "--runs-dir", str(state.parent / "runs")]
    command += ["--weights-dir", str(weights), "--model", "tiny", "--arch", "cnn"]
    command += ["--arch-kwargs", ARCH_KWARGS, "--channels", CHANNELS, "--epochs", "1"]
    command += ["--max-val-maps", "4", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def log_rows(state: Path) -> list[dict]:
    with (state / "log.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_should_promote_needs_a_strictly_better_candidate():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from keep_training import should_promote
    finally:
        sys.path.pop(0)
    assert should_promote(7.0, 7.5, 0.0)
    assert not should_promote(7.5, 7.5, 0.0)
    assert not should_promote(7.6, 7.5, 0.0)
    assert not should_promote(7.4, 7.5, 0.2)


def test_rounds_refuse_a_worse_model_then_promote_and_continue(dataset_dir, weights_dir, tmp_path):
    state = tmp_path / "state"
    index_before = (weights_dir / "index.json").read_text()

    # Round 1 with an impossible bar: scored, logged, not promoted; the shipped default is kept.
    keep_training(dataset_dir, weights_dir, state, "--min-gain-db", "1000")
    (row,) = log_rows(state)
    assert row["round"] == "1" and row["promoted"] == "0"
    assert float(row["val_rmse_candidate_db"]) > 0 and float(row["val_rmse_default_db"]) > 0
    assert int(row["maps_seen_total"]) == int(row["train_maps"]) > 0
    assert (weights_dir / "index.json").read_text() == index_before
    kept = state / row["candidate_file"]
    assert json.loads((state / "state.json").read_text())["current"] == kept.name
    assert (
        kept.read_bytes()
        == (state.parent / "runs" / "round-001" / row["candidate_file"]).read_bytes()
    )

    # Round 2 continues from the kept checkpoint (not the shipped default) and, with the bar
    # lowered, promotes its candidate to the default.
    keep_training(dataset_dir, weights_dir, state, "--min-gain-db", "-1000")
    rows = log_rows(state)
    assert [r["round"] for r in rows] == ["1", "2"] and rows[1]["promoted"] == "1"
    train_log = json.loads((state.parent / "runs" / "round-002" / "train_log.json").read_text())
    assert str(kept) in train_log["command"]
    index = json.loads((weights_dir / "index.json").read_text())
    assert index["tiny"]["default"] is True
    assert index["tiny"]["sha256"][:12] in rows[1]["candidate_file"] or index_before != json.dumps(
        index
    )
    assert (weights_dir / "index.json").read_text() != index_before
    assert json.loads((state / "state.json").read_text())["round"] == 2
