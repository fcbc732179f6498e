import json

import numpy as np
import pytest

from radiomap_geo.dataset import store
from radiomap_geo.dataset.store import (
    GAIN_ENCODING,
    decode_gain,
    encode_gain,
    pack_mask,
    read_npz,
    unpack_mask,
    write_npz,
)


def test_gain_quantisation_error_is_bounded():
    rng = np.random.default_rng(0)
    gain = rng.uniform(-167.0, -40.0, size=(3, 50, 50))
    valid = rng.random(gain.shape) > 0.2
    code = encode_gain(gain, valid)
    assert code.dtype == np.uint8
    back = decode_gain(code)
    err = np.abs(back[valid] - gain[valid])
    assert err.max() <= GAIN_ENCODING["step_db"] / 2 + 1e-4
    assert np.sqrt(np.mean(err**2)) < 0.16
    assert np.isnan(back[~valid]).all() and (code[~valid] == 0).all()
    assert (code[valid] > 0).all()


def test_gain_out_of_range_is_clipped_not_lost():
    gain = np.array([[-300.0, -167.2, -40.0, -10.0, np.nan]])
    valid = np.array([[True, True, True, True, True]])
    code = encode_gain(gain, valid)
    assert code.tolist() == [[1, 1, 255, 255, 0]]
    assert decode_gain(code)[0, :4].tolist() == [-167.0, -167.0, -40.0, -40.0]
    assert store.clipped_counts(gain, valid) == (1, 1)  # -167.2 rounds to code 1 (0.2 dB off)


@pytest.mark.parametrize("shape", [(32, 32), (5, 7), (128, 128)])
def test_mask_bits_round_trip(shape):
    rng = np.random.default_rng(1)
    mask = rng.random((4, *shape)) > 0.5
    bits = pack_mask(mask)
    assert bits.shape == (4, (shape[0] * shape[1] + 7) // 8)
    assert np.array_equal(unpack_mask(bits, shape), mask)


def test_heights_in_decimetres():
    h = np.array([[0.0, 3.14, 12.35, 250.0]])
    dm = store.encode_heights(h)
    assert dm.dtype == np.uint16 and dm.tolist() == [[0, 31, 124, 2500]]


def test_npz_is_atomic_and_readable_by_numpy(tmp_path):
    arrays = {"a": np.arange(10, dtype=np.uint8), "s": np.array(["EPSG:32632", "iso"])}
    path = tmp_path / "x" / "f.npz"
    size = write_npz(path, arrays)
    assert size == path.stat().st_size
    assert not list(path.parent.glob(".*tmp"))
    back = read_npz(path)
    assert np.array_equal(back["a"], arrays["a"]) and back["s"].tolist() == ["EPSG:32632", "iso"]
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["a", "s"]


def test_json_write_is_atomic(tmp_path):
    path = tmp_path / "m.json"
    store.write_json(path, {"a": 1})
    store.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_select_and_concat_keep_maps_with_their_tiles():
    def part(tid, n):
        return {
            "tile_id": np.array([tid], np.int32),
            "tile_crs": np.array(["EPSG:32632"]),
            "tile_transform": np.zeros((1, 6)),
            "height_dm": np.full((1, 4, 4), tid, np.uint16),
            "map_tile": np.zeros(n, np.int32),
            **{
                k: np.full(n, tid)
                for k in store.MAP_MEMBERS
                if k not in ("map_tile", "gain_q", "mask_bits")
            },
            "gain_q": np.full((n, 4, 4), tid, np.uint8),
            "mask_bits": np.zeros((n, 2), np.uint8),
        }

    joined = store.concat_members([part(5, 2), part(9, 3)])
    assert joined["map_tile"].tolist() == [0, 0, 1, 1, 1]
    only9 = store.select_tiles(joined, joined["tile_id"] == 9)
    assert only9["tile_id"].tolist() == [9]
    assert only9["map_tile"].tolist() == [0, 0, 0]
    assert (only9["gain_q"] == 9).all() and (only9["height_dm"] == 9).all()
