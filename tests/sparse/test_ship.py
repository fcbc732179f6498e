"""Shipping a measurement model: calibrated on one folder's val split, covered on another's test;
the file it replaces is removed."""

import json
from pathlib import Path

import pytest

from radiomap_geo.sparse.data import load_contexts
from radiomap_geo.sparse.model import MeasurementModel
from radiomap_geo.sparse.ship import calibrate_and_ship
from radiomap_geo.sparse.train import train_measurement_model
from radiomap_geo.train_options import SparseTrainConfig

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.skipif(
    not (DATA / "radiomaps-test-1e7" / "manifest.json").is_file(), reason="no dataset"
)
def test_shipped_model_records_its_data_and_warm_start(tmp_path):
    cache = tmp_path / "cache"
    contexts = load_contexts(DATA / "radiomaps", "train", max_maps=2, cache_dir=cache)
    config = SparseTrainConfig(steps=3, batch_size=2, crop=32, lr_schedule="cosine")
    _, first = train_measurement_model(
        DATA / "radiomaps", "geo-residual", tmp_path / "a", config, contexts=contexts
    )
    warm = SparseTrainConfig(**{**config.__dict__, "init_weights": str(first)})
    _, second = train_measurement_model(
        DATA / "radiomaps", "geo-residual", tmp_path / "b", warm, contexts=contexts
    )
    out = tmp_path / "weights"
    options = dict(
        val_maps=4,
        test_maps=1,
        test_dataset_dir=DATA / "radiomaps-test-1e7",
        cache_dir=cache,
        patterns=("uniform:5%",),
        default=True,
    )
    earlier, _ = calibrate_and_ship(first, DATA / "radiomaps-val-1e7", out, **options)
    path, coverage = calibrate_and_ship(second, DATA / "radiomaps-val-1e7", out, **options)
    assert path != earlier and not earlier.exists()  # replaced: no file the index does not name
    meta = MeasurementModel.from_file(path).metadata
    assert meta["uncertainty"]["val_data"].endswith("radiomaps-val-1e7")
    assert meta["uncertainty"]["test_data"].endswith("radiomaps-test-1e7")
    assert meta["training"]["init_weights"] == str(first)
    c = coverage["all"]
    assert c["cells"] > 100 and 0 < c["within_1_std"] <= c["within_z95_std"] <= 1
    index = json.loads((out / "measurement-models.json").read_text())
    assert index["geo-residual"]["file"] == path.name and index["geo-residual"]["default"]
    card = (out / "geo-residual.md").read_text()
    assert f"continued from `{first.name}`" in card
    assert "cosine learning rate from 0.0004" in card
    assert "test cells of `" in card and "radiomaps-test-1e7`" in card
