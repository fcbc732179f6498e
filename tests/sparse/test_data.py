"""radiomap_geo.sparse.data: which maps a measurement set can be drawn from."""

from dataclasses import replace
from pathlib import Path

import pytest

from radiomap_geo.errors import InputError
from radiomap_geo.sparse.data import measurable_contexts

from .helpers import street_map


def test_maps_without_a_measurable_cell_are_left_out_of_training(caplog):
    good = street_map(64)
    silent = replace(good, index=1, gain_db=good.gain_db - 200.0)  # all below -130 dB
    assert good.measurable.any() and not silent.measurable.any()
    with caplog.at_level("WARNING"):
        kept = measurable_contexts([good, silent], "training")
    assert kept == [good]
    assert "skipped 1 of 2 training maps" in caplog.text
    with pytest.raises(InputError, match="no training map has a measurable cell"):
        measurable_contexts([silent], "training")


def test_second_traces_train_on_the_maps_traced_twice_with_their_labels_averaged(tmp_path):
    """load_contexts(second_traces=...) picks maps of the second-trace folder only, and their
    labels are the two runs' power mean."""
    import numpy as np

    from radiomap_geo.dataset import load_dataset
    from radiomap_geo.dataset.traces import power_mean_db
    from radiomap_geo.sparse.data import load_contexts

    data = Path(__file__).resolve().parents[2] / "data"
    second_dir = data / "radiomaps-train-second"
    if not (second_dir / "manifest.json").is_file():
        pytest.skip("no second traces committed")
    contexts = load_contexts(
        data / "radiomaps", "train", max_maps=2, cache_dir=tmp_path, second_traces=second_dir
    )
    first, second = load_dataset(data / "radiomaps", "train"), load_dataset(second_dir, "train")
    twice = {(int(second.tile_id[second.map_tile[j]]), int(second.sites["map_site"][j])): j
             for j in range(len(second))}  # fmt: skip
    assert len(contexts) == 2
    for ctx in contexts:
        key = (
            int(first.tile_id[first.map_tile[ctx.index]]),
            int(first.sites["map_site"][ctx.index]),
        )
        expected = power_mean_db(first.gain_db[ctx.index], second.gain_db[twice[key]])
        np.testing.assert_array_equal(ctx.gain_db, expected)
        assert not np.array_equal(ctx.gain_db, first.gain_db[ctx.index], equal_nan=True)
    with pytest.raises(InputError, match="no second trace"):
        load_contexts(
            data / "radiomaps", "val", max_maps=1, cache_dir=tmp_path, second_traces=second_dir
        )
