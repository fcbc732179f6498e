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
    from radiomap_geo.dataset.store import decode_gain, iter_shards, read_manifest
    from radiomap_geo.dataset.traces import power_mean_db
    from radiomap_geo.sparse.data import load_contexts

    data = Path(__file__).resolve().parents[2] / "data"
    first_dir, second_dir = data / "radiomaps", data / "radiomaps-train-second"
    if not (second_dir / "manifest.json").is_file():
        pytest.skip("no second traces committed")
    contexts = load_contexts(
        first_dir, "train", max_maps=2, cache_dir=tmp_path, second_traces=second_dir
    )
    assert len(contexts) == 2
    second = load_dataset(second_dir, "train")  # small: the maps traced twice
    runs = {
        (int(second.tile_id[second.map_tile[j]]), int(second.sites["map_site"][j])): j
        for j in range(len(second))
    }
    # The first run's labels of those maps, read shard by shard (the split is large).
    wanted = {int(second.tile_id[second.map_tile[j]]) for j in range(len(second))}
    encoding = read_manifest(first_dir)["encoding"]["gain"]
    first = {}
    for _, members in iter_shards(first_dir, "train"):
        for t, tile_id in enumerate(members["tile_id"]):
            if int(tile_id) in wanted:
                for k in np.flatnonzero(members["map_tile"] == t):
                    key = (int(tile_id), int(members["map_site"][k]))
                    first[key] = decode_gain(members["gain_q"][k], encoding)
    for ctx in contexts:  # each context is one map traced twice, with the averaged labels
        matches = [
            key
            for key, j in runs.items()
            if np.array_equal(
                ctx.gain_db, power_mean_db(first[key], second.gain_db[j]), equal_nan=True
            )
        ]
        assert len(matches) == 1
        assert not np.array_equal(ctx.gain_db, first[matches[0]], equal_nan=True)
    with pytest.raises(InputError, match="no second trace"):
        load_contexts(first_dir, "val", max_maps=1, cache_dir=tmp_path, second_traces=second_dir)
