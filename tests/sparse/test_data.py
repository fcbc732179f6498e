"""radiomap_geo.sparse.data: which maps a measurement set can be drawn from."""

from dataclasses import replace
from pathlib import Path

import numpy as np
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


def _rmse(dataset, cache, work) -> float:
    from radiomap_geo.sparse.evaluate import evaluate_measurements

    report = evaluate_measurements(
        dataset,
        split="train",
        methods=["geometry"],
        patterns=["uniform:5%"],
        max_maps=4,
        work_dir=work,
        cache_dir=cache,
    )
    return report["results"]["geometry"]["uniform:5%"]["all"]["rmse_db"]


def test_datasets_with_the_same_tile_ids_score_alike_in_one_cache_folder(tiny_datasets, tmp_path):
    """The geometry cache of dataset A is never read for dataset B (same tile ids and sites,
    other buildings): B scores as in a fresh cache, and so does A after B."""
    from radiomap_geo.dataset import load_dataset
    from radiomap_geo.sparse.data import _identity

    a, b = tiny_datasets["a"], tiny_datasets["b"]
    ids = [_identity(d, range(len(d))).tolist() for d in map(load_dataset, (a, b))]
    assert ids[0] == ids[1]  # what the cache used to key on alone
    fresh = [_rmse(d, tmp_path / f"fresh-{d.name}", tmp_path / f"w-{d.name}") for d in (a, b)]
    shared = tmp_path / "shared"
    after = [_rmse(d, shared, tmp_path / f"s{k}") for k, d in enumerate((a, b, a))]
    assert after == [fresh[0], fresh[1], fresh[0]]
    assert abs(fresh[0] - fresh[1]) > 0.1  # the two datasets do score differently
    assert len(list(shared.glob("train-*.npz"))) == 2  # one chunk each, none overwritten


def test_a_cache_of_smaller_tiles_is_not_read_for_larger_ones(tiny_datasets, tmp_path):
    from radiomap_geo.sparse.data import load_contexts

    narrow = load_contexts(tiny_datasets["a"], "train", max_maps=4, cache_dir=tmp_path)
    wide = load_contexts(tiny_datasets["wide"], "train", max_maps=4, cache_dir=tmp_path)
    fresh = load_contexts(tiny_datasets["wide"], "train", max_maps=4, cache_dir=tmp_path / "new")
    assert [c.shape for c in narrow] == [(32, 32)] * 4
    assert [c.shape for c in wide] == [(64, 64)] * 4
    for got, want in zip(wide, fresh):
        np.testing.assert_array_equal(got.geometry_db, want.geometry_db)
        np.testing.assert_array_equal(got.los, want.los)


def test_cache_files_without_fingerprints_serve_their_own_dataset_only(tiny_datasets, tmp_path):
    """Files written before fingerprints were stored: their rows are used where the map's line
    of sight matches (the dataset they were made for), recomputed elsewhere."""
    from radiomap_geo.sparse.data import load_contexts

    a, b = tiny_datasets["a"], tiny_datasets["b"]
    cache = tmp_path / "cache"
    want_a = load_contexts(a, "train", max_maps=4, cache_dir=cache)
    (old,) = cache.glob("train-*.npz")
    with np.load(old) as data:  # as the previous version wrote it
        arrays = {k: data[k] for k in ("index", "identity", "geometry_db", "los")}
    arrays["geometry_db"] = arrays["geometry_db"] + np.float16(1.0)  # tells its rows apart
    old.unlink()
    np.savez_compressed(old, **arrays)
    got_a = load_contexts(a, "train", max_maps=4, cache_dir=cache)
    assert list(cache.glob("train-*.npz")) == [old]  # read, nothing recomputed
    for got, want in zip(got_a, want_a):
        np.testing.assert_allclose(got.geometry_db, want.geometry_db + 1.0, atol=0.1)
    got_b = load_contexts(b, "train", max_maps=4, cache_dir=cache)
    want_b = load_contexts(b, "train", max_maps=4, cache_dir=tmp_path / "fresh")
    for got, want in zip(got_b, want_b):
        np.testing.assert_array_equal(got.geometry_db, want.geometry_db)
    assert len(list(cache.glob("train-*.npz"))) == 2
