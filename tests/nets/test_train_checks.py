"""Training runs refuse bad settings before any work, never save NaN weights and leave nothing
behind when they fail (tiny dataset, fake ray tracer).
"""

import json
import logging
import math
import shutil

import pytest
import torch

from radiomap_geo.errors import InputError
from radiomap_geo.nets import MapBatches, MapSample, OutputScaling, TrainConfig, build_network
from radiomap_geo.nets.pipeline import train_from_dataset
from radiomap_geo.nets.train import TrainingDiverged, train

TINY = {"arch_kwargs": {"depth": 2, "width": 4}, "batch_size": 8, "max_train_maps": 4}


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("kwargs", "parameter", "words"),
    [
        ({"lr": math.nan}, "lr", "finite"),
        ({"lr": -1.0}, "lr", "above 0"),
        ({"lr": 5.0}, "lr", "at most 1"),
        ({"train_config": {"weak_weight": math.nan}}, "weak_weight", "finite"),
        ({"train_config": {"weight_decay": -0.1}}, "weight_decay", "at least 0"),
        ({"train_config": {"patience": 0}}, "patience", "at least 1"),
        ({"train_config": {"huber_delta_db": math.inf}}, "huber_delta_db", "finite"),
        ({"epochs": 0}, "epochs", "at least 1"),
        ({"batch_size": 0}, "batch_size", "at least 1"),
        ({"crop": 1000}, "crop", "larger than the dataset's maps (32 x 32"),
        ({"crop": 0}, "crop", "at least 1"),
        ({"max_val_maps": 0}, "max_val_maps", "at least 1"),
        ({"reach_m": math.nan}, "reach_m", "finite"),
        ({"no_ray_label_db": math.nan}, "no_ray_label_db", "finite"),
        ({"channels": ["distance", "nosuch"]}, "channels", "'nosuch'"),
        ({"channels": ["distance", "distance"]}, "channels", "more than once"),
        ({"arch": "nosuch"}, "arch", "'nosuch'"),
        ({"arch_kwargs": {"nosuch": 1}}, "arch_kwargs", "nosuch"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(
    dataset_dir, tmp_path, kwargs, parameter, words
):
    before = _files(dataset_dir)
    out = tmp_path / "runs" / "run"
    settings = {"arch": "cnn", **TINY, "epochs": 1, **kwargs}
    arch = settings.pop("arch")
    with pytest.raises(InputError) as caught:
        train_from_dataset(dataset_dir, arch, out, **settings)
    assert caught.value.parameter == parameter
    assert words in str(caught.value)
    assert not (tmp_path / "runs").exists()
    assert _files(dataset_dir) == before


@pytest.mark.parametrize("inside", [".", "run", "shards/run"])
def test_a_run_folder_in_the_dataset_is_refused(dataset_dir, inside):
    before = _files(dataset_dir)
    out = dataset_dir / inside
    with pytest.raises(InputError, match="dataset folder") as caught:
        train_from_dataset(dataset_dir, "cnn", out, epochs=1, **TINY)
    assert caught.value.parameter == "out_dir" and str(out) in str(caught.value)
    assert _files(dataset_dir) == before
    assert not (dataset_dir / "run").exists() and not (dataset_dir / "shards" / "run").exists()


def test_a_failed_run_leaves_nothing_behind(dataset_dir, tmp_path):
    def broken(done, total, message):
        raise OSError("the progress display failed")

    out = tmp_path / "new" / "run"
    with pytest.raises(OSError, match="display failed"):
        train_from_dataset(dataset_dir, "cnn", out, epochs=1, progress=broken, **TINY)
    assert not (tmp_path / "new").exists()  # the folders it made are gone too
    # in a folder that was there, only what the run added goes
    kept = tmp_path / "mine"
    kept.mkdir()
    (kept / "notes.txt").write_text("keep me")
    with pytest.raises(OSError, match="display failed"):
        train_from_dataset(dataset_dir, "cnn", kept, epochs=1, progress=broken, **TINY)
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
    assert (kept / "notes.txt").read_text() == "keep me"


def _no_val_copy(dataset_dir, tmp_path):
    copy = tmp_path / "no-val"
    shutil.copytree(dataset_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["tiles"] = {k: r for k, r in manifest["tiles"].items() if r["split"] != "val"}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_training_without_a_val_split_warns_and_keeps_the_last_epoch(dataset_dir, tmp_path, caplog):
    dataset = _no_val_copy(dataset_dir, tmp_path)
    with caplog.at_level(logging.WARNING, logger="radiomap_geo.nets.training_run"):
        run = train_from_dataset(
            dataset, "cnn", tmp_path / "run", epochs=2, train_config={"patience": 1}, **TINY
        )
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "has no val split" in warned[0].getMessage()
    assert "all 2 epochs without validation" in warned[0].getMessage()
    history = run.result.history
    assert [r["epoch"] for r in history] == [0, 1] and "val_loss" not in history[0]
    assert run.result.best_epoch is None and not run.result.stopped_early
    assert run.metadata["metrics"] == {} and run.weights_path.is_file()


def test_training_with_a_val_split_does_not_warn(dataset_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="radiomap_geo.nets.training_run"):
        train_from_dataset(dataset_dir, "cnn", tmp_path / "run", epochs=1, max_val_maps=1, **TINY)
    assert not [r for r in caplog.records if "val split" in r.getMessage()]


def test_a_diverging_loss_stops_training_before_any_checkpoint(geo, tmp_path):
    grid = geo.make_grid(16, 16, 4.0)
    scene = geo.random_scene(grid, seed=0, blocks=3)
    site = geo.site_at_cell(grid, 5, 5, height_m=10.0)
    gain = torch.full((16, 16), -130.0).numpy()  # every label "weak"
    batches = MapBatches([MapSample(scene, site, gain, scene.building_height == 0)], ["tx"], 1)
    net = build_network("cnn", 1, depth=2, width=4)
    config = TrainConfig(epochs=3, lr=1e-3, weak_weight=math.nan)  # the loop's own settings
    with pytest.raises(TrainingDiverged, match="epoch 1: the training loss is nan") as caught:
        train(net, batches, None, config, OutputScaling(), checkpoint_path=tmp_path / "c.pt")
    assert "learning rate (now 0.001)" in str(caught.value)
    assert isinstance(caught.value, RuntimeError)  # the command line shows it without traceback
    assert not (tmp_path / "c.pt").exists()


def test_non_finite_start_weights_are_refused_before_anything_is_written(dataset_dir, tmp_path):
    first = train_from_dataset(dataset_dir, "cnn", tmp_path / "first", epochs=1, **TINY)
    from radiomap_geo.nets.weights import load_weights, save_weights

    loaded = load_weights(first.weights_path)
    net = loaded.build()
    with torch.no_grad():
        next(iter(net.parameters())).fill_(math.nan)
    poisoned = save_weights(net, dict(loaded.metadata), tmp_path / "poisoned", "nan")
    out = tmp_path / "second"
    with pytest.raises(InputError, match="NaN or infinite") as caught:
        train_from_dataset(dataset_dir, "cnn", out, epochs=2, init_weights=poisoned, **TINY)
    assert caught.value.parameter == "init_weights" and str(poisoned) in str(caught.value)
    assert not out.exists()
