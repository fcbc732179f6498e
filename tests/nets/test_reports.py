"""Model cards: scores on further label sets are added beside the shipped ones."""

from __future__ import annotations

import re
import shutil

import pytest
import torch
from click.testing import CliRunner

from radiomap_geo.cli.evaluate import evaluate
from radiomap_geo.nets.pipeline import evaluate_on_dataset, ship_weights, train_from_dataset


@pytest.fixture(scope="module")
def shipped(dataset_dir, tmp_path_factory):
    """A tiny network trained on the fake-traced dataset and shipped with its test scores."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("card")
    run = train_from_dataset(
        dataset_dir, "cnn", folder / "run", name="cnn-card",
        arch_kwargs={"depth": 2, "width": 4}, epochs=1, batch_size=8, max_train_maps=8,
    )  # fmt: skip
    report = evaluate_on_dataset(
        run.weights_path,
        dataset_dir,
        baselines=("3gpp-uma",),
        max_maps=2,
        command="radiomap-geo evaluate ds",
    )
    entry = ship_weights(run.weights_path, folder / "weights", "cnn-card", report=report)
    return folder / "weights" / entry["file"], folder / "weights" / "cnn-card.md"


def _sections(card: str) -> list[str]:
    return re.findall(r"^### (\w+ split of `[^`]+`: \d+ maps)", card, flags=re.M)


def test_scores_on_other_labels_are_added_then_replaced(shipped, dataset_dir, tmp_path):
    weights, card = shipped
    more_rays = tmp_path / "ds-more-rays"  # stands for the split re-traced with more rays
    shutil.copytree(dataset_dir, more_rays)
    shipped_sections = _sections(card.read_text())
    assert len(shipped_sections) == 1 and "ds-more-rays" not in shipped_sections[0]

    def add(maps: int):
        args = [str(more_rays), "--model", str(weights), "--baselines", "3gpp-uma"]
        args += ["--max-maps", str(maps), "--add-to-card", str(card), "--quiet"]
        return CliRunner().invoke(evaluate, args)

    result = add(3)
    assert result.exit_code == 0, result.output
    sections = _sections(card.read_text())
    assert sections[0] == shipped_sections[0]
    assert sections[1] == f"test split of `{more_rays}`: 3 maps"
    assert add(2).exit_code == 0  # a rerun replaces its own section
    text = card.read_text()
    assert _sections(text) == [shipped_sections[0], f"test split of `{more_rays}`: 2 maps"]
    assert (
        text.count("| 3gpp-uma | empirical | 2 |") == 2
        and "| 3gpp-uma | empirical | 3 |" not in text
    )
    assert text.count("## Metrics") == 1 and text.count("Produced by:") == 2


def test_a_card_of_other_weights_is_refused_before_scoring(shipped, dataset_dir, tmp_path):
    weights, card = shipped
    other = tmp_path / "other.md"
    sha = re.search(r"\| sha256 \| `([0-9a-f]{64})`", card.read_text()).group(1)
    other.write_text(card.read_text().replace(sha, "0" * 64))
    before = other.read_text()
    runner = CliRunner()
    args = [str(dataset_dir), "--model", str(weights), "--add-to-card", str(other), "--quiet"]
    result = runner.invoke(evaluate, args)
    assert result.exit_code != 0 and "describes other weights" in result.output
    assert "| 3gpp-uma |" not in result.output and other.read_text() == before
    result = runner.invoke(evaluate, [str(dataset_dir), "--add-to-card", str(card), "--quiet"])
    assert result.exit_code != 0 and "--add-to-card needs --model" in result.output
    missing = [str(dataset_dir), "--model", str(weights), "--add-to-card", str(tmp_path / "x.md")]
    result = runner.invoke(evaluate, missing)
    assert result.exit_code != 0 and "not found" in result.output
