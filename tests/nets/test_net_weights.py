"""Weights files: round trip, metadata, hash verification, safe loading."""

import pickle
import re
import shutil

import pytest
import torch

from radiomap_geo.errors import InputError, WeightsError
from radiomap_geo.nets import build_network, load_weights, make_metadata, save_weights
from radiomap_geo.nets import weights as weights_module
from radiomap_geo.nets.scaling import OutputScaling
from radiomap_geo.nets.weights import sha256_file

CHANNELS = ["building_height", "tx", "distance", "azimuth_cos", "azimuth_sin", "antenna_gain"]


@pytest.fixture
def trained(tmp_path):
    net = build_network("unet_dcn", len(CHANNELS), base=4, depth=2)
    # Move BN statistics and DCN offsets away from their initial values.
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(2, len(CHANNELS), 16, 16))
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    net.eval()
    meta = make_metadata(
        net,
        CHANNELS,
        metres_per_pixel=2.0,
        frequency_mhz=3500.0,
        reach_m=256.0,
        scaling=OutputScaling(-170.0, -30.0),
        training_data={"source": "sionna-rt 2.2", "maps": 1234, "rays": 3e6},
        metrics={"rmse_db": 5.5},
        name="unet_dcn-test",
    )
    path = save_weights(net, meta, tmp_path)
    return net, meta, path


def test_round_trip_outputs_and_metadata(trained):
    net, meta, path = trained
    assert re.fullmatch(r"unet_dcn-test-[0-9a-f]{12}\.pt", path.name)
    assert sha256_file(path).startswith(path.stem.rsplit("-", 1)[1])
    loaded = load_weights(path)
    assert loaded.metadata == meta
    assert loaded.metadata["channels"] == CHANNELS
    assert loaded.metadata["training_data"]["maps"] == 1234
    assert loaded.scaling == OutputScaling(-170.0, -30.0)
    # Floating-point tensors are stored as float16.
    assert all(
        t.dtype == torch.float16 for t in loaded.state_dict.values() if t.is_floating_point()
    )
    twin = loaded.build()
    x = torch.randn(1, len(CHANNELS), 16, 16)
    with torch.no_grad():
        a, b = net(x), twin(x)
    assert torch.allclose(a, b, rtol=2e-2, atol=2e-2), (a - b).abs().max()
    assert (a - b).abs().max() > 0  # really rounded: the file is half precision


def test_weights_files_get_the_usual_file_mode(trained):
    import os

    umask = os.umask(0)
    os.umask(umask)
    path = trained[2]
    assert (os.stat(path).st_mode & 0o777) == 0o666 & ~umask


def test_tampered_file_is_refused(trained, tmp_path):
    _, _, path = trained
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "copy" / path.name
    bad.parent.mkdir()
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt or was modified"):
        load_weights(bad)


def test_wrong_expected_hash_and_missing_hash(trained, tmp_path):
    _, _, path = trained
    with pytest.raises(WeightsError, match="corrupt or was modified"):
        load_weights(path, expected_sha256="0" * 64)
    renamed = tmp_path / "renamed.pt"
    shutil.copy(path, renamed)
    with pytest.raises(WeightsError, match="cannot verify"):
        load_weights(renamed)
    assert load_weights(renamed, expected_sha256=sha256_file(path)).metadata["arch"] == "unet_dcn"
    weights_module.KNOWN_WEIGHTS["renamed.pt"] = sha256_file(path)
    try:
        assert load_weights(renamed).sha256 == sha256_file(path)
    finally:
        del weights_module.KNOWN_WEIGHTS["renamed.pt"]
    with pytest.raises(WeightsError, match="not found"):
        load_weights(tmp_path / "nothing-0123456789ab.pt")


def test_loading_uses_weights_only(trained, monkeypatch):
    _, _, path = trained
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_weights(path)
    assert calls and all(c.get("weights_only") is True for c in calls)


class _Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_code_is_never_run(tmp_path, capsys):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "radiomap-geo-weights/1", "x": _Payload()}, evil, pickle_protocol=2)
    named = tmp_path / f"evil-{sha256_file(evil)[:12]}.pt"
    evil.rename(named)
    with pytest.raises(WeightsError, match="could not be read"):
        load_weights(named)
    assert "code ran" not in capsys.readouterr().out
    # A plain pickle (not a torch zip file) is refused too.
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(WeightsError):
        load_weights(raw, expected_sha256=sha256_file(raw))


def test_metadata_is_validated():
    net = build_network("cnn", 2, depth=2, width=4)
    with pytest.raises(InputError, match="unknown input channels"):
        make_metadata(net, ["tx", "bogus"], metres_per_pixel=2, frequency_mhz=3500, reach_m=100)
    with pytest.raises(InputError, match="network takes 2"):
        make_metadata(net, ["tx"], metres_per_pixel=2, frequency_mhz=3500, reach_m=100)
    with pytest.raises(InputError, match="metres_per_pixel"):
        make_metadata(net, ["tx", "distance"], metres_per_pixel=0, frequency_mhz=3500, reach_m=1)


def test_mismatched_tensors_are_a_weights_error(trained, tmp_path):
    net, meta, _ = trained
    meta = dict(meta, arch_kwargs=dict(meta["arch_kwargs"], base=8))
    path = save_weights(net, meta, tmp_path / "other")
    with pytest.raises(WeightsError, match="do not fit"):
        load_weights(path).build()
