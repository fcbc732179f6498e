import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from radiomap_geo.errors import InputError
from radiomap_geo.sparse.model import measurement_metadata, save_measurement_model
from radiomap_geo.sparse.networks import NETWORKS
from radiomap_geo.sparse.train import train_network
from radiomap_geo.train_options import SparseTrainConfig, learning_rate

from .helpers import street_map


@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_network_trains_with_falling_loss(name):
    contexts = [street_map(64, seed=s, index=s) for s in range(3)]
    config = SparseTrainConfig(steps=12, batch_size=4, crop=32, lr=2e-3, same_batch=True)
    result = train_network(name, contexts, config)
    l1 = [h["l1_db"] for h in result.history]
    assert result.finished and len(l1) == 12
    assert np.mean(l1[-3:]) < 0.7 * np.mean(l1[:3])


def test_training_resumes_from_its_checkpoint(tmp_path):
    contexts = [street_map(64)]
    path = tmp_path / "ck.pt"
    config = SparseTrainConfig(steps=4, batch_size=2, crop=32, checkpoint_every=2)
    first = train_network(
        "eme-net", contexts, SparseTrainConfig(**{**config.__dict__, "steps": 2}), checkpoint=path
    )
    assert first.step == 2 and path.is_file()
    second = train_network("eme-net", contexts, config, checkpoint=path)
    assert second.step == 4 and len(second.history) == 4
    assert second.history[:2] == first.history
    with pytest.raises(InputError, match="belongs to 'eme-net'"):
        train_network("emgan", contexts, config, checkpoint=path)


def test_unknown_network_is_refused():
    with pytest.raises(InputError, match="available: interpolation-net"):
        train_network("nope", [street_map()])


def test_cosine_schedule_falls_to_zero_and_resumes_on_the_same_rates(tmp_path):
    config = SparseTrainConfig(steps=10, lr=1e-3, lr_schedule="cosine")
    rates = [learning_rate(config, k) for k in range(11)]
    assert rates[0] == pytest.approx(1e-3) and rates[5] == pytest.approx(5e-4)
    assert rates[10] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    # a run stopped half-way and resumed ends where an uninterrupted one ends
    contexts = [street_map(64)]
    small = {"steps": 4, "batch_size": 2, "crop": 32, "lr_schedule": "cosine"}
    whole = train_network("geo-residual", contexts, SparseTrainConfig(**small))
    path = tmp_path / "ck.pt"
    train_network(
        "geo-residual", contexts, SparseTrainConfig(**small, max_seconds=1e-9), checkpoint=path
    )
    resumed = train_network("geo-residual", contexts, SparseTrainConfig(**small), checkpoint=path)
    losses = [h["l1_db"] for h in resumed.history]
    assert len(losses) == 4 and losses == pytest.approx([h["l1_db"] for h in whole.history])


def test_unknown_schedule_is_refused():
    with pytest.raises(InputError, match="schedule 'step'.*constant, cosine"):
        train_network("eme-net", [street_map()], SparseTrainConfig(lr_schedule="step"))


def test_training_starts_from_a_model_file_of_the_same_network(tmp_path):
    contexts = [street_map(64, seed=s, index=s) for s in range(2)]
    config = SparseTrainConfig(steps=6, batch_size=2, crop=32, lr=2e-3, same_batch=True)
    first = train_network("geo-residual", contexts, config)
    meta = measurement_metadata(
        first.spec, first.generator, metres_per_pixel=2.0, frequency_mhz=3500.0
    )
    weights = save_measurement_model(first.generator, meta, tmp_path)
    # zero steps: the generator is the loaded one (float16 on disk, so close, not equal)
    again = train_network(
        "geo-residual", contexts, replace(config, steps=0, init_weights=str(weights))
    )
    for name, tensor in first.generator.state_dict().items():
        if tensor.is_floating_point():
            assert torch.allclose(again.generator.state_dict()[name], tensor, atol=2e-3), name
    # continuing from it starts at the level the first run ended at, not from scratch
    fresh = train_network("geo-residual", contexts, replace(config, steps=1))
    warm = train_network(
        "geo-residual", contexts, replace(config, steps=1, init_weights=str(weights))
    )
    assert warm.history[0]["l1_db"] < fresh.history[0]["l1_db"]
    with pytest.raises(InputError, match="is a 'geo-residual' model.*training 'emgan'"):
        train_network("emgan", contexts, replace(config, init_weights=str(weights)))


def test_maps_smaller_than_the_crop_are_refused_before_training():
    with pytest.raises(InputError, match="32 cells across, smaller than the 64-cell") as err:
        train_network("eme-net", [street_map(32)], SparseTrainConfig(steps=2))
    assert err.value.parameter == "dataset"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("lr", math.nan),
        ("lr", math.inf),
        ("lr", 0.0),
        ("lr", -1e-3),
        ("steps", -1),
        ("steps", 2.5),
        ("batch_size", 0),
        ("crop", 0),
    ],
)
def test_unusable_settings_are_refused_naming_the_setting(setting, value):
    config = replace(SparseTrainConfig(steps=1, batch_size=1, crop=32), **{setting: value})
    with pytest.raises(InputError, match=f"{setting.replace('_', ' ')}|learning rate") as err:
        train_network("eme-net", [street_map(64)], config)
    assert err.value.parameter == setting
    assert repr(value) in str(err.value)


def _tiny_train_args(dataset, tmp_path, *more):
    return ["train-measurements", str(dataset), "--network", "eme-net", "--steps", "2",
            "--batch-size", "1", "--max-maps", "2", "-o", str(tmp_path / "out"), "--quiet",
            *more]  # fmt: skip


@pytest.mark.parametrize(
    ("dataset", "more", "needle"),
    [
        ("a", (), "DATASET: the dataset's maps are 32 cells across, smaller than the 64-cell"),
        ("wide", ("--lr", "nan"), "--lr: learning rate nan is not a positive finite number"),
        ("wide", ("--lr", "inf"), "--lr: learning rate inf is not a positive finite number"),
    ],
)
def test_train_command_refuses_before_any_work(
    tiny_datasets, tmp_path, monkeypatch, dataset, more, needle
):
    from click.testing import CliRunner

    from radiomap_geo.cli.main import cli

    monkeypatch.chdir(tmp_path)  # the geometry cache would go to ./runs
    before = sorted(p.name for p in tiny_datasets[dataset].rglob("*"))
    result = CliRunner().invoke(cli, _tiny_train_args(tiny_datasets[dataset], tmp_path, *more))
    assert result.exit_code == 1, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # no cache, no run folder
    assert sorted(p.name for p in tiny_datasets[dataset].rglob("*")) == before


def test_train_command_trains_on_maps_as_large_as_the_crop(tiny_datasets, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from radiomap_geo.cli.main import cli

    monkeypatch.chdir(tmp_path)
    args = _tiny_train_args(tiny_datasets["wide"], tmp_path, "--threads", "1")
    i = args.index("eme-net")
    result = CliRunner().invoke(cli, [*args[:i], "geo-residual", *args[i + 1 :]])
    assert result.exit_code == 0, result.output
    assert "geo-residual: finished 2 steps" in result.output
    assert len(list((tmp_path / "out" / "geo-residual").glob("geo-residual-*.pt"))) == 1
