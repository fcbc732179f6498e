"""``radiomap-geo train`` and ``evaluate``: bad options fail before any work, naming the flag,
with no traceback, nothing written and the inputs unchanged (tiny dataset, fake ray tracer).
"""

import logging
import re

import click
import pytest
from click.testing import CliRunner

from radiomap_geo.cli.evaluate import evaluate
from radiomap_geo.cli.main import cli
from radiomap_geo.cli.train import train


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(result, code=1):
    """The run failed with ``code``, a one-line error and no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and "Error:" in result.output
    return result.output


TINY = ["--arch", "cnn", "--arch-kwargs", '{"depth": 2, "width": 4}', "--epochs", "1"]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--weak-weight", "nan"], 1, ["--weak-weight", "nan"]),
        (["--lr", "nan"], 1, ["--lr", "nan"]),
        (["--lr", "-1"], 1, ["--lr", "-1", "above 0"]),
        (["--lr", "inf"], 1, ["--lr", "inf"]),
        (["--weight-decay", "nan"], 1, ["--weight-decay", "nan"]),
        (["--reach", "nan"], 1, ["--reach", "nan"]),
        (["--no-ray-label", "nan"], 1, ["--no-ray-label", "nan"]),
        (["--ortho-augment", "nan"], 1, ["--ortho-augment", "nan"]),
        (["--patience", "0"], 2, ["--patience", "0"]),
        (["--epochs", "0"], 2, ["--epochs"]),
        (["--batch-size", "0"], 2, ["--batch-size"]),
        (["--threads", "0"], 2, ["--threads", "0"]),
        (["--max-train-maps", "0"], 2, ["--max-train-maps"]),
        (["--crop", "0"], 2, ["--crop", "0"]),
        (["--crop", "1000"], 1, ["--crop", "1000", "32 x 32"]),
        (["--arch", "nosuch"], 1, ["--arch", "'nosuch'"]),
        (["--channels", "distance,nosuch"], 1, ["--channels", "'nosuch'"]),
        (["--arch-kwargs", "[1]"], 1, ["--arch-kwargs", "'[1]'"]),
        (["--arch-kwargs", '{"nosuch": 1}'], 1, ["--arch-kwargs", "nosuch"]),
    ],
)
def test_train_refuses_bad_options_and_writes_nothing(dataset_dir, tmp_path, args, code, words):
    before = _files(dataset_dir)
    out = tmp_path / "runs" / "run"
    result = CliRunner().invoke(train, [str(dataset_dir), *TINY, "-o", str(out), *args, "--quiet"])
    output = _refused(result, code)
    for word in words:
        assert word in output, output
    assert not (tmp_path / "runs").exists()  # no run.json, no folder
    assert _files(dataset_dir) == before


@pytest.mark.parametrize("inside", [".", "run"])
def test_train_refuses_a_run_folder_in_the_dataset(dataset_dir, inside):
    before = _files(dataset_dir)
    out = dataset_dir / inside
    result = CliRunner().invoke(train, [str(dataset_dir), *TINY, "-o", str(out), "--quiet"])
    output = _refused(result)
    assert "--out-dir" in output and "DATASET_DIR" in output and "dataset folder" in output
    assert _files(dataset_dir) == before and not (dataset_dir / "run").exists()


def test_train_without_a_val_split_warns_on_the_command_line(dataset_dir, tmp_path, caplog):
    import json
    import shutil

    dataset = tmp_path / "no-val"
    shutil.copytree(dataset_dir, dataset)
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["tiles"] = {k: r for k, r in manifest["tiles"].items() if r["split"] != "val"}
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(
            cli, ["train", str(dataset), *TINY, "--max-train-maps", "4", "-o", str(out), "--quiet"]
        )
    assert result.exit_code == 0, result.output
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert re.match(r".*no-val has no val split: training runs all 1 epochs", warning.getMessage())
    assert len(list(out.glob("cnn-*.pt"))) == 1


def _evaluate(dataset_dir, *args):
    base = [str(dataset_dir), "--split", "val", "--baselines", "3gpp-uma", "--quiet"]
    return CliRunner().invoke(evaluate, [*base, *args])


@pytest.mark.parametrize("name", ["manifest.json", "report.json", "shards/report.json"])
def test_evaluate_refuses_a_report_in_the_dataset_folder(dataset_dir, name):
    before = _files(dataset_dir)
    output = _refused(_evaluate(dataset_dir, "--json", str(dataset_dir / name)))
    assert "--json" in output and "DATASET_DIR" in output
    assert _files(dataset_dir) == before  # the manifest is untouched, nothing added
    output = _refused(_evaluate(dataset_dir, "--markdown", str(dataset_dir / name)))
    assert "--markdown" in output and _files(dataset_dir) == before


def test_evaluate_refuses_one_file_for_two_outputs(dataset_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    output = _refused(_evaluate(dataset_dir, "--json", "r.json", "--markdown", "./r.json"))
    assert "--json" in output and "--markdown" in output and "r.json" in output
    assert list(tmp_path.iterdir()) == []


def test_evaluate_refuses_a_report_over_the_model_or_its_card(dataset_dir, tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not read: refused first")
    card = tmp_path / "w.md"
    card.write_text("# card\n")
    output = _refused(_evaluate(dataset_dir, "--model", str(weights), "--json", str(weights)))
    assert "--json" in output and "--model" in output
    output = _refused(
        _evaluate(
            dataset_dir, "--model", f"net:{weights}", "--add-to-card", str(card),
            "--markdown", str(card),
        )
    )  # fmt: skip
    assert "--markdown" in output and "--add-to-card" in output
    assert weights.read_bytes() == b"not read: refused first" and card.read_text() == "# card\n"


def test_evaluate_refuses_shipping_into_the_dataset_or_over_a_report(dataset_dir, tmp_path):
    before = _files(dataset_dir)
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    ship = ["--model", str(weights), "--name", "tiny"]
    output = _refused(_evaluate(dataset_dir, *ship, "--ship-to", str(dataset_dir / "weights")))
    assert "--ship-to" in output and "DATASET_DIR" in output
    assert _files(dataset_dir) == before
    shipped = tmp_path / "shipped"
    output = _refused(
        _evaluate(
            dataset_dir, *ship, "--ship-to", str(shipped), "--markdown", str(shipped / "tiny.md")
        )
    )
    assert "--markdown" in output and "--ship-to" in output and not shipped.exists()


def test_evaluate_names_baselines_for_an_unknown_baseline(dataset_dir, tmp_path):
    result = CliRunner().invoke(
        evaluate,
        [
            str(dataset_dir),
            "--baselines",
            "3gpp-uma,nosuch",
            "--json",
            str(tmp_path / "r.json"),
            "--quiet",
        ],
    )
    output = _refused(result)
    assert "Error: --baselines: unknown baseline 'nosuch'" in output
    assert "--model" not in output and "3gpp-umi" in output
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("command", [train, evaluate])
def test_every_option_has_help(command):
    options = [p for p in command.params if isinstance(p, click.Option)]
    assert options and all(p.help and p.help.strip() for p in options), [
        p.name for p in options if not p.help
    ]


def test_batch_size_help_shows_its_default():
    result = CliRunner().invoke(train, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if "--batch-size" in x)
    assert "Maps (or crops) per optimisation step." in line and "[default: 8" in line
