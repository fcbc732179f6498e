"""Averaging a split with a second ray-traced run of its tiles, or replacing its labels by a
trace with more rays (cleaner training labels)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radiomap_geo.dataset.store import (
    decode_gain,
    encode_gain,
    iter_shards,
    load_dataset,
    pack_mask,
    read_manifest,
    write_json,
    write_npz,
)
from radiomap_geo.dataset.traces import (
    maps_also_in,
    power_mean_db,
    with_more_rays,
    with_second_traces,
)
from radiomap_geo.errors import InputError


def test_the_two_run_label_is_the_power_mean_of_the_runs_that_reached_the_cell():
    first = np.array([-100.0, -90.0, -100.0, np.nan, np.nan], np.float32)
    second = np.array([-100.0, -100.0, np.nan, -120.0, np.nan], np.float32)
    out = power_mean_db(first, second)
    expected = [-100.0, -90.0 + 10 * np.log10(0.55), -100.0, -120.0]
    np.testing.assert_allclose(out[:4], expected, atol=1e-3)
    assert np.isnan(out[4])


def second_run(
    dataset_dir, tmp_path, shift_db: float, drop_first_cells: int = 0, max_tiles=None, **site_change
):
    """A second-trace folder of the train split: every label ``shift_db`` stronger, the first
    cells of each map unreached, as retrace_split.py writes it (one part file per tile; the
    first ``max_tiles`` tiles only when given)."""
    out = tmp_path / "second"
    (out / "parts").mkdir(parents=True)
    manifest = read_manifest(dataset_dir)
    manifest["tiles"], manifest["shards"] = {}, []
    source = read_manifest(dataset_dir)
    encoding = manifest["encoding"]["gain"]
    for _, members in iter_shards(dataset_dir, "train"):
        for t, tile_id in enumerate(members["tile_id"]):
            if max_tiles is not None and len(manifest["tiles"]) >= max_tiles:
                break
            maps = members["map_tile"] == t
            tile_members = ("tile_id", "tile_crs", "tile_transform", "height_dm")
            part = {k: members[k][t : t + 1] for k in tile_members}
            part.update({k: v[maps] for k, v in members.items() if k not in tile_members})
            part["map_tile"] = np.zeros(maps.sum(), np.int32)
            gain = decode_gain(part["gain_q"], encoding) + np.float32(shift_db)
            flat = gain.reshape(len(gain), -1)
            flat[:, :drop_first_cells] = np.nan
            valid = np.isfinite(gain)
            part["gain_q"] = encode_gain(gain, valid)
            part["mask_bits"] = pack_mask(valid)
            for key, value in site_change.items():
                part[key] = part[key] + value
            name = f"parts/tile-{int(tile_id):06d}.npz"
            write_npz(out / name, part)
            manifest["tiles"][str(int(tile_id))] = {
                **source["tiles"][str(int(tile_id))],
                "file": name,
            }
    write_json(out / "manifest.json", manifest)
    return out


def test_labels_of_maps_traced_twice_become_the_two_run_estimate(dataset_dir, tmp_path):
    train = load_dataset(dataset_dir, "train")
    second = second_run(dataset_dir, tmp_path, shift_db=3.0, drop_first_cells=5)
    averaged, twice = with_second_traces(train, second, "train")
    assert np.array_equal(twice, np.arange(len(train))) and len(twice) > 0
    both = train.mask & np.isfinite(train.gain_db)
    both[:, 0, :5] = False  # the cells the second run missed
    # 0.5 dB codes: the shifted run is 3 dB stronger up to one code step.
    expected = train.gain_db + np.float32(10 * np.log10((1 + 10**0.3) / 2))
    np.testing.assert_allclose(averaged.gain_db[both], expected[both], atol=0.26)
    missed = train.mask.copy()
    missed[:, :, 5:] = False
    missed[:, 1:, :] = False
    np.testing.assert_allclose(averaged.gain_db[missed], train.gain_db[missed], atol=1e-3)
    assert np.array_equal(averaged.mask, train.mask)  # no cell gained or lost a label here
    assert np.isfinite(train.gain_db[both]).all()  # the loaded split itself is untouched


def test_a_second_run_of_other_maps_or_another_ray_count_is_refused(dataset_dir, tmp_path):
    train = load_dataset(dataset_dir, "train")
    moved = second_run(dataset_dir, tmp_path, shift_db=0.0, site_x=np.float64(4.0))
    with pytest.raises(InputError, match="not the same map"):
        with_second_traces(train, moved, "train")
    manifest = read_manifest(moved)
    manifest["config"]["samples_per_tx"] *= 10
    write_json(moved / "manifest.json", manifest)
    with pytest.raises(InputError, match="rays per transmitter"):
        with_second_traces(train, moved, "train")


def train_tiny(dataset_dir, out, **labels) -> dict:
    """One epoch of a tiny CNN with the label options given; the run's ``run.json``."""
    from radiomap_geo.nets.training_run import train_from_dataset

    train_from_dataset(
        dataset_dir,
        "cnn",
        out,
        arch_kwargs={"depth": 2, "width": 4},
        channels=["building_height", "distance"],
        epochs=1,
        batch_size=4,
        **labels,
    )
    return json.loads((out / "run.json").read_text())


def test_training_records_how_many_maps_were_averaged(dataset_dir, tmp_path):
    second = second_run(dataset_dir, tmp_path, shift_db=0.0)
    record = train_tiny(dataset_dir, tmp_path / "run", second_traces=second)["settings"]
    assert record["second_traces"] == str(second)
    assert record["maps_traced_twice"] == len(load_dataset(dataset_dir, "train"))


def test_maps_traced_once_keep_their_labels(dataset_dir, tmp_path):
    train = load_dataset(dataset_dir, "train")
    second = second_run(dataset_dir, tmp_path, shift_db=6.0, max_tiles=1)
    averaged, twice = with_second_traces(train, second, "train")
    first_tile = np.asarray(train.map_tile) == 0
    assert np.array_equal(twice, np.flatnonzero(first_tile)) and len(twice) == 4
    np.testing.assert_array_equal(averaged.gain_db[~first_tile], train.gain_db[~first_tile])
    changed = averaged.gain_db[first_tile] - train.gain_db[first_tile]
    assert np.nanmean(changed) > 3.0  # 6 dB stronger second run: about +3.97 dB


def more_rays_run(dataset_dir, tmp_path, shift_db: float, **options):
    """A trace of the train split's maps (see :func:`second_run`) with 10x the rays."""
    out = second_run(dataset_dir, tmp_path, shift_db, **options)
    manifest = read_manifest(out)
    manifest["config"]["samples_per_tx"] *= 10
    write_json(out / "manifest.json", manifest)
    return out


def test_a_trace_with_more_rays_replaces_the_labels_of_its_maps(dataset_dir, tmp_path):
    train = load_dataset(dataset_dir, "train")
    more = more_rays_run(dataset_dir, tmp_path, shift_db=6.0, drop_first_cells=3, max_tiles=1)
    relabelled, replaced = with_more_rays(train, more, "train")
    first_tile = np.asarray(train.map_tile) == 0
    assert np.array_equal(replaced, np.flatnonzero(first_tile)) and len(replaced) == 4
    kept = train.mask[first_tile] & relabelled.mask[first_tile]
    change = relabelled.gain_db[first_tile][kept] - train.gain_db[first_tile][kept]
    np.testing.assert_allclose(change, 6.0, atol=0.26)  # its label, not a mean with ours
    # The cells its rays missed lose their label; the other maps keep theirs.
    assert not relabelled.mask[first_tile][:, 0, :3].any()
    np.testing.assert_array_equal(relabelled.gain_db[~first_tile], train.gain_db[~first_tile])


def test_a_label_replacement_with_as_few_rays_is_refused(dataset_dir, tmp_path):
    train = load_dataset(dataset_dir, "train")
    same = second_run(dataset_dir, tmp_path, shift_db=0.0)
    with pytest.raises(InputError, match="needs more rays"):
        with_more_rays(train, same, "train")


def test_training_on_just_the_maps_with_more_rays(dataset_dir, tmp_path):
    more = more_rays_run(dataset_dir, tmp_path, shift_db=0.0, max_tiles=1)
    record = train_tiny(dataset_dir, tmp_path / "run", more_rays=more, maps_from=more)
    assert record["settings"]["maps_with_more_rays"] == 4
    first_tile_id = int(load_dataset(dataset_dir, "train").tile_id[0])
    assert sorted(tile for tile, _ in record["train_maps"]) == [first_tile_id] * 4


def test_the_maps_two_folders_share_and_a_folder_that_shares_none(dataset_dir, tmp_path):
    train = load_dataset(dataset_dir, "train")
    one_tile = more_rays_run(dataset_dir, tmp_path, shift_db=0.0, max_tiles=1)
    assert maps_also_in(train, one_tile, "train") == np.flatnonzero(train.map_tile == 0).tolist()
    with pytest.raises(InputError, match="holds none of the val maps"):
        maps_also_in(load_dataset(dataset_dir, "val"), one_tile, "val")


def test_the_ray_count_correction_is_the_gap_from_the_labels_trained_on(dataset_dir, tmp_path):
    """fit_ray_correction on crafted traces: 3 dB more in the trace with more rays; from labels
    averaged with a second run 1 dB stronger (the power mean of x and x + 1 dB, x + 0.54 dB)
    the gap left is 2.46 dB."""
    import torch

    from radiomap_geo.nets import build_network, make_metadata, save_weights
    from radiomap_geo.nets.ray_correction_fit import fit_ray_correction

    channels = ["building_height", "distance"]
    torch.manual_seed(0)
    net = build_network("cnn", len(channels), depth=2, width=4)
    meta = make_metadata(net, channels, metres_per_pixel=4.0, frequency_mhz=3500.0, reach_m=60.0)
    weights = save_weights(net, meta, tmp_path / "w", "tiny")
    more = more_rays_run(dataset_dir, tmp_path / "m", shift_db=3.0)
    second = second_run(dataset_dir, tmp_path / "s", shift_db=1.0)
    for labels, gap in ((None, 3.0), (second, 3.0 - 10 * np.log10((1 + 10**0.1) / 2))):
        table = fit_ray_correction(weights, dataset_dir, more, second_traces=labels)
        fitted = np.array(table.nlos_db + table.los_db)
        assert table.cells > 1000 and (fitted != 0).any()
        np.testing.assert_allclose(fitted[fitted != 0], gap, atol=0.3)
