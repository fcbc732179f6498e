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
    # no --channels: a round takes the inputs of the weights it continues from
    command += ["--arch-kwargs", ARCH_KWARGS, "--epochs", "1"]
    command += ["--max-val-maps", "4", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def log_rows(state: Path) -> list[dict]:
    with (state / "log.csv").open() as handle:
        return list(csv.DictReader(handle))


def script_module():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import keep_training
    finally:
        sys.path.pop(0)
    return keep_training


def test_the_description_names_the_priors_among_the_inputs():
    lane = script_module()
    assert lane.describe("distance,los,knife_edge_db") == (
        "UNet base 16 + line-of-sight, knife-edge priors, continued by scripts/keep_training.py "
        "(default)"
    )
    assert "+" not in lane.describe(CHANNELS)


def test_should_promote_needs_a_strictly_better_candidate():
    lane = script_module()

    def promote(candidate_rmse, default_rmse, min_gain_db=0.0):
        calibrated = 1.0  # both calibrated: RMSE decides
        return lane.should_promote(
            lane.ValScore(candidate_rmse, calibrated, 10),
            lane.ValScore(default_rmse, calibrated, 10),
            min_gain_db=min_gain_db,
        )

    assert promote(7.0, 7.5)
    assert not promote(7.5, 7.5)
    assert not promote(7.6, 7.5)
    assert not promote(7.4, 7.5, min_gain_db=0.2)


def test_should_promote_puts_calibration_first():
    lane = script_module()
    calibrated, biased = lane.ValScore(8.2, 2.1, 10), lane.ValScore(7.7, 6.9, 10)
    # a calibrated candidate replaces a biased default at a bounded RMSE cost ...
    assert lane.should_promote(calibrated, biased, bias_fix_cost_db=0.75)
    assert not lane.should_promote(calibrated, biased, bias_fix_cost_db=0.25)
    # ... and a biased one never replaces a calibrated default, however low its RMSE
    assert not lane.should_promote(lane.ValScore(6.0, 6.9, 10), calibrated)
    # both biased: RMSE decides
    assert lane.should_promote(lane.ValScore(7.6, 7.5, 10), biased)


def test_worst_predicted_bias_ignores_near_empty_bins():
    lane = script_module()
    bins = {
        "[-140, -130) dB": {"count": 5000, "bias_db": 6.9},
        "[-130, -120) dB": {"count": 9000, "bias_db": -2.0},
        "[-inf, -150) dB": {"count": 12, "bias_db": 40.0},
    }
    assert lane.worst_predicted_bias({"metrics": {"predicted_path_gain": bins}}) == 6.9


def test_log_written_before_a_new_column_is_rewritten_with_it(tmp_path):
    lane = script_module()
    log = tmp_path / "log.csv"
    old_columns = [c for c in lane.LOG_COLUMNS if "bias" not in c]
    log.write_text(
        ",".join(old_columns) + "\n" + ",".join(str(i) for i in range(len(old_columns))) + "\n"
    )
    lane.append_log_row(log, {c: "x" for c in lane.LOG_COLUMNS})
    rows = log_rows(tmp_path)
    assert list(rows[0]) == lane.LOG_COLUMNS
    assert rows[0]["round"] == "0" and rows[0]["val_worst_bias_default_db"] == ""
    assert rows[1]["val_worst_bias_default_db"] == "x"


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

    # Round 3 with --continue-from default starts from the shipped default, not the lane's own.
    keep_training(
        dataset_dir, weights_dir, state, "--min-gain-db", "1000", "--continue-from", "default"
    )
    shipped = weights_dir / index["tiny"]["file"]
    train_log = json.loads((state.parent / "runs" / "round-003" / "train_log.json").read_text())
    assert (
        str(shipped) in train_log["command"]
        and str(state / rows[1]["candidate_file"]) not in train_log["command"]
    )


def test_a_round_can_retrace_val_and_average_training_labels(dataset_dir, weights_dir, tmp_path):
    """--val-samples re-traces the val split (Sionna RT) and promotion scores on it;
    --retrace-tiles traces training tiles a second time and training averages their labels."""
    pytest.importorskip("sionna.rt")
    from radiomap_geo.dataset import load_dataset

    state, val, second = tmp_path / "state", tmp_path / "val-clean", tmp_path / "second"
    keep_training(
        dataset_dir, weights_dir, state, "--val-samples", "2000", "--val-data", str(val),
        "--retrace-tiles", "1", "--second-traces", str(second), "--min-gain-db", "1000",
    )  # fmt: skip
    (row,) = log_rows(state)
    clean_val = load_dataset(val, "val")
    assert len(clean_val) == len(load_dataset(dataset_dir, "val"))
    assert clean_val.manifest["config"]["samples_per_tx"] == 2000
    assert len(json.loads((second / "manifest.json").read_text())["tiles"]) == 1
    assert int(row["maps_traced_twice"]) == 4  # the sites of the one tile traced twice
    assert Path(row["val_data"]).name == "val-clean"
    report = json.loads((state.parent / "runs" / "round-001" / "val-candidate.json").read_text())
    assert report["dataset"]["maps"] == len(clean_val)


def test_a_round_can_train_on_just_the_maps_traced_with_more_rays(
    dataset_dir, weights_dir, tmp_path
):
    """--more-rays DIR --maps-from DIR: the round trains on the maps DIR re-traced with more
    rays (Sionna RT), with their labels, and the log says how many; --ray-correction DIR
    scores the candidate moved to those traces' level."""
    pytest.importorskip("sionna.rt")
    more, state = tmp_path / "more", tmp_path / "state"
    retrace = [sys.executable, str(REPO / "scripts" / "retrace_split.py")]
    retrace += ["--source", str(dataset_dir), "--split", "train", "--samples", "2000"]
    retrace += ["--seed", "5", "--max-tiles", "1", "--out", str(more)]
    done = subprocess.run(retrace, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    keep_training(
        dataset_dir, weights_dir, state, "--more-rays", str(more), "--maps-from", str(more),
        "--ray-correction", str(more), "--min-gain-db", "1000",
    )  # fmt: skip
    (row,) = log_rows(state)
    assert row["maps_more_rays"] == row["train_maps"] == "4"  # the one tile's four sites
    assert int(row["maps_seen_total"]) == 4
    # --ray-correction: the candidate scored (and kept) carries its fitted output correction
    from radiomap_geo.nets.weights import load_weights

    kept = load_weights(state / row["candidate_file"])
    assert kept.metadata["output_correction"]["rays"] == [1000.0, 2000.0]
    assert kept.metadata["output_correction"]["cells"] > 0
