"""The model registry: baselines, shipped networks verified against index.json, net:PATH."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from radiomap_geo.errors import InputError, WeightsError
from radiomap_geo.models import registry
from radiomap_geo.models.baselines import BASELINES
from radiomap_geo.models.blend import BlendedModel

CHANNELS = ["building_height", "tx_height", "distance", "antenna_gain"]


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    empty = tmp_path / "none"
    empty.mkdir()
    monkeypatch.setenv(registry.WEIGHTS_ENV, str(empty))
    return empty


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A weights folder with one tiny network marked default."""
    from radiomap_geo.nets import build_network, make_metadata, save_weights
    from radiomap_geo.nets.weights import sha256_file

    torch.manual_seed(0)
    net = build_network("unet", len(CHANNELS), base=4, depth=2)
    meta = make_metadata(
        net, CHANNELS, metres_per_pixel=2.0, frequency_mhz=3500.0, reach_m=40.0, name="tiny"
    )
    folder = tmp_path / "weights"
    path = save_weights(net, meta, folder, "tiny")
    index = {
        "tiny": {
            "file": path.name,
            "sha256": sha256_file(path),
            "description": "a tiny test network",
            "default": True,
        }
    }
    (folder / "index.json").write_text(json.dumps(index))
    monkeypatch.setenv(registry.WEIGHTS_ENV, str(folder))
    return folder, path


def test_baselines_without_shipped_networks(no_weights):
    assert registry.default_model() == registry.DEFAULT_MODEL == "3gpp-uma"
    names = registry.list_models()
    assert names[0] == "3gpp-uma" and sorted(names) == sorted(BASELINES)
    assert registry.describe_models()["3gpp-umi"] == BASELINES["3gpp-umi"].description
    assert registry.get_model() is BASELINES["3gpp-uma"]
    assert registry.get_model("3GPP-UMI", reach_m=500.0).reach_m == 500.0
    with pytest.raises(InputError, match="unknown model 'nope'; available: 3gpp-uma"):
        registry.get_model("nope")
    with pytest.raises(InputError, match="positive"):
        registry.get_model("free-space", reach_m=0.0)
    with pytest.raises(InputError, match="networks only"):
        registry.get_model("3gpp-uma+3gpp-umi")


def test_repository_weights_folder_is_found(monkeypatch, repo_root):
    monkeypatch.delenv(registry.WEIGHTS_ENV, raising=False)
    if (repo_root / "weights" / "index.json").is_file():
        assert registry.weights_dir() == repo_root / "weights"
        registry.read_index()  # the committed index is valid
    else:
        assert registry.weights_dir() is None


def test_shipped_network_is_listed_default_and_blended(shipped, tmp_path):
    folder, path = shipped
    assert registry.default_model() == "tiny"
    assert registry.list_models()[:2] == ["tiny", "3gpp-uma"]
    assert "a tiny test network" in registry.describe_models()["tiny"]
    model = registry.get_model()
    assert isinstance(model, BlendedModel) and model.name == "tiny+3gpp-uma"
    assert model.net.reach_m == 40.0 and model.reach_m == BASELINES["3gpp-uma"].reach_m
    assert model.net.name == "tiny"
    other = registry.get_model("TINY+3gpp-umi", reach_m=800.0)
    assert other.fallback.name == "3gpp-umi" and other.reach_m == 800.0
    assert other.net.reach_m == 40.0  # capped at the trained reach
    bare = registry.get_model("tiny+none", reach_m=25.0)
    assert not isinstance(bare, BlendedModel) and bare.reach_m == 25.0
    with pytest.raises(InputError, match="needs\na fallback|fallback model beyond"):
        registry.get_model("tiny+none", reach_m=100.0)
    by_path = registry.get_model(f"net:{path}")
    assert isinstance(by_path, BlendedModel) and by_path.net.name.startswith("net:tiny-")
    with pytest.raises(WeightsError, match="not found"):
        registry.get_model(f"net:{tmp_path / 'missing-0123456789ab.pt'}")
    # the listing command shows it first
    from radiomap_geo.cli.main import cli

    listing = CliRunner().invoke(cli, ["models"])
    assert listing.exit_code == 0 and listing.output.split()[0] == "tiny"


def test_model_version_names_the_weights_not_the_path(shipped, tmp_path):
    folder, path = shipped
    sha12 = json.loads((folder / "index.json").read_text())["tiny"]["sha256"][:12]
    assert registry.model_version() == f"tiny-{sha12}"
    copy = tmp_path / "elsewhere" / path.name
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    assert registry.model_version(f"net:{copy}") == f"tiny-{sha12}"  # wherever the file lies
    assert registry.model_version("3gpp-uma") == "3gpp-uma"


def test_a_tampered_shipped_file_is_refused(shipped):
    folder, path = shipped
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt or was modified"):
        registry.get_model("tiny")


def test_index_hash_is_checked_and_bad_indexes_are_reported(shipped):
    folder, path = shipped
    index = json.loads((folder / "index.json").read_text())
    index["tiny"]["sha256"] = "0" * 64  # the file is intact, the index disagrees
    (folder / "index.json").write_text(json.dumps(index))
    with pytest.raises(WeightsError, match="corrupt or was modified"):
        registry.get_model("tiny")
    path.unlink()
    with pytest.raises(WeightsError, match="missing"):
        registry.get_model("tiny")
    (folder / "index.json").write_text(json.dumps({"tiny": {"file": "x.pt"}}))
    with pytest.raises(WeightsError, match="needs 'file' and 'sha256'"):
        registry.read_index()
    assert registry.list_models()[0] == "3gpp-uma"  # listing survives a broken index
    (folder / "index.json").write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read"):
        registry.get_model("tiny")


def test_shipped_network_predicts_through_the_engine(shipped):
    from affine import Affine
    from pyproj import CRS

    from radiomap_geo.grid import Grid
    from radiomap_geo.predict import predict_coverage
    from radiomap_geo.sites import Sites

    grid = Grid(CRS.from_epsg(32635), Affine(2.0, 0, 500_000.0, 0, -2.0, 6_700_000.0), (64, 64))
    x, y = grid.xy(32, 32)
    sites = Sites.from_records([{"site_id": "a", "x": x, "y": y, "height_m": 10.0}], grid.crs)
    result = predict_coverage(grid, sites, None, model="tiny", max_range_m=60.0)
    assert result.model == "tiny+3gpp-uma"
    xs, ys = grid.cell_centers()
    d = np.hypot(xs - x, ys - y)
    assert np.isfinite(result["rsrp_dbm"][d <= 59.0]).all()
    assert np.isnan(result["rsrp_dbm"][d > 61.0]).all()


def test_other_resolutions_are_resampled_within_a_factor_two(shipped):
    from radiomap_geo.models.base import SceneInputs
    from radiomap_geo.sites import Site

    model = registry.get_model("tiny+none")
    assert model.resolution_mode == "resample"
    for res, ok in ((3.0, True), (5.0, False)):
        grid = make_grid(24, res)
        x, y = grid.xy(12, 12)
        scene = SceneInputs(grid, np.zeros(grid.shape, np.float32))
        site = Site(site_id="a", x=float(x), y=float(y), height_m=10.0)
        if ok:
            assert np.isfinite(model.path_gain_db(scene, site, grid)).any()
        else:
            with pytest.raises(InputError, match="trained on 2 m cells"):
                model.path_gain_db(scene, site, grid)


def make_grid(n, res):
    from affine import Affine
    from pyproj import CRS

    from radiomap_geo.grid import Grid

    return Grid(CRS.from_epsg(32635), Affine(res, 0, 500_000.0, 0, -res, 6_700_000.0), (n, n))
