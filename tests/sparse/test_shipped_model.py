"""The shipped default measurement model: small, verified, calibrated, and it honours measurements."""

from pathlib import Path

import numpy as np
import pytest

from radiomap_geo.errors import WeightsError
from radiomap_geo.sparse.baselines import geometry_only
from radiomap_geo.sparse.evaluate import draw_measurements
from radiomap_geo.sparse.model import (
    MeasurementModel,
    default_measurement_model,
    get_measurement_model,
    read_measurement_index,
)
from radiomap_geo.sparse.sampling import Pattern
from radiomap_geo.sparse.uncertainty import Calibration

DATASET = Path(__file__).resolve().parents[2] / "data" / "radiomaps"

DEFAULT = "geo-residual"

pytestmark = pytest.mark.skipif(
    DEFAULT not in read_measurement_index(), reason="no shipped measurement model"
)


def test_default_is_small_float16_calibrated_and_hash_checked(tmp_path):
    assert default_measurement_model() == DEFAULT
    entry = read_measurement_index()[DEFAULT]
    assert entry["path"].stat().st_size < 2_000_000
    model = get_measurement_model()
    assert model.metadata["kind"] == "measurement-model" and model.metadata["residual"]
    cal = Calibration.from_dict(model.metadata["uncertainty"])
    assert 0 < cal.q68 < cal.q95
    tampered = tmp_path / entry["path"].name
    data = bytearray(entry["path"].read_bytes())
    data[-100] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt or was modified"):
        MeasurementModel.from_file(tampered)


@pytest.fixture(scope="module")
def held_out_maps(tmp_path_factory):
    if not (DATASET / "manifest.json").is_file():
        pytest.skip("no dataset")
    from radiomap_geo.sparse.data import load_contexts

    cache = tmp_path_factory.mktemp("cache")
    return load_contexts(DATASET, "test", max_maps=3, cache_dir=cache)


def test_measured_values_are_honoured_within_the_model_noise(held_out_maps):
    model = get_measurement_model()
    cal = Calibration.from_dict(model.metadata["uncertainty"])
    inside, total = 0, 0
    for ctx in held_out_maps:
        measured, values = draw_measurements(ctx, Pattern.parse("count:50"), 0, 0)
        pred = model.predict(ctx, measured, values)
        std = cal.std_db(measured, ctx.los, ctx.outdoor, ctx.resolution)
        err = np.abs(pred - values)[measured]
        inside += int((err <= std[measured]).sum())
        total += int(measured.sum())
    assert inside / total >= 0.68


def test_files_written_before_the_base_settings_keep_their_base():
    # emgan-geo was trained on the first smoothing (kernel up to 24 cells, no bias shrinkage)
    old = get_measurement_model("emgan-geo").spec
    assert (old.smooth_max_cells, old.bias_pseudo_count) == (24.0, 0.0)
    new = get_measurement_model(DEFAULT).spec
    assert new.smooth_max_cells < 24.0 and new.bias_pseudo_count > 0


@pytest.mark.parametrize(("pattern", "margin_db"), [("uniform:5%", 0.3), ("count:50", 0.0)])
def test_measurements_improve_on_the_geometry_network(held_out_maps, pattern, margin_db):
    # a few dozen sensors must not make the map worse than no measurements at all
    model = get_measurement_model()
    sq_model, sq_geometry, n = 0.0, 0.0, 0
    for ctx in held_out_maps:
        measured, values = draw_measurements(ctx, Pattern.parse(pattern), 0, 3)
        keep = ctx.measurable & ~measured
        for pred, acc in (
            (model.predict(ctx, measured, values), "m"),
            (geometry_only(ctx, measured, values), "g"),
        ):
            sq = float(((np.clip(pred, -160, -40) - values)[keep] ** 2).sum())
            if acc == "m":
                sq_model += sq
            else:
                sq_geometry += sq
        n += int(keep.sum())
    assert np.sqrt(sq_model / n) < np.sqrt(sq_geometry / n) - margin_db
