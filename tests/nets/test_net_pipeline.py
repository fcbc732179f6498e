"""Training and evaluation on a dataset folder, end to end (tiny dataset, fake ray tracer)."""

import json
import math
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from radiomap_geo.errors import Cancelled, InputError
from radiomap_geo.nets import NetworkModel, load_weights, pipeline, scoring
from radiomap_geo.nets.augment import transform_array
from radiomap_geo.nets.pipeline import (
    evaluate_on_dataset,
    report_markdown,
    save_report,
    train_from_dataset,
)

TINY_NET = {"base": 4, "depth": 2}


@pytest.fixture(scope="module")
def trained(dataset_dir, tmp_path_factory):
    """A tiny UNet trained a few epochs (shared by the evaluation tests)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run")
    return train_from_dataset(
        dataset_dir,
        "unet",
        out,
        name="unet-tiny",
        arch_kwargs=TINY_NET,
        epochs=8,
        batch_size=4,
        lr=1e-2,
        crop=16,
    )


def test_training_lowers_the_loss_and_writes_a_usable_weights_file(trained, dataset_dir):
    history = trained.result.history
    assert len(history) == 8
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"], history
    assert all(math.isfinite(r["val_rmse_db"]) for r in history)
    loaded = load_weights(trained.weights_path)  # hash in the name verified
    meta = loaded.metadata
    assert trained.weights_path.name.startswith("unet-tiny-")
    assert meta["metres_per_pixel"] == 4.0 and meta["frequency_mhz"] == 3500.0
    assert meta["reach_m"] == pytest.approx(0.75 * 32 * 4.0)
    assert meta["training_data"]["train_maps"] == 20 and meta["training_data"]["val_maps"] == 4
    assert meta["training"]["epochs_run"] == 8 and meta["training"]["seconds"] >= 0
    assert all(
        v.dtype == torch.float16 for v in loaded.state_dict.values() if v.is_floating_point()
    )
    log = json.loads(trained.log_path.read_text())
    assert log["status"] == "finished" and len(log["history"]) == 8
    assert log["sha256"] == trained.sha256
    # the weights plug into the prediction engine's contract
    from radiomap_geo.dataset import load_dataset
    from radiomap_geo.models.base import SceneInputs

    test = load_dataset(dataset_dir, "test")
    model = NetworkModel.from_weights(trained.weights_path, device="cpu")
    scene = SceneInputs(test.grid(0), test.building_height_m[0])
    out = model.path_gain_db(scene, test.site(0), scene.grid)
    assert out.shape == (32, 32) and np.isfinite(out[test.mask[0]]).mean() > 0.5


def test_resume_continues_from_the_checkpoint_epoch(dataset_dir, tmp_path):
    kwargs = dict(
        name="cnn-tiny",
        arch_kwargs={"depth": 2, "width": 4},
        epochs=4,
        batch_size=8,
        lr=1e-3,
        max_train_maps=8,
        max_val_maps=2,
    )

    def fail_after_second(record):
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_from_dataset(dataset_dir, "cnn", tmp_path, log=fail_after_second, **kwargs)
    first = json.loads((tmp_path / pipeline.LOG_FILE).read_text())
    assert first["status"] == "running" and [r["epoch"] for r in first["history"]] == [0, 1]
    seen, steps = [], []
    run = train_from_dataset(
        dataset_dir,
        "cnn",
        tmp_path,
        log=seen.append,
        progress=lambda done, total, msg: steps.append((done, total)),
        **kwargs,
    )
    assert [r["epoch"] for r in seen] == [2, 3]  # only the missing epochs were trained
    assert [r["epoch"] for r in run.result.history] == [0, 1, 2, 3]
    assert run.result.history[:2] == first["history"]
    assert steps[0][0] == 2 * (steps[0][1] // 4)  # progress starts at epoch 3 of 4
    # the same maps were used (fixed in run.json at the start)
    assert len(json.loads((tmp_path / pipeline.RUN_FILE).read_text())["train_maps"]) == 8
    with pytest.raises(InputError, match="other settings"):
        train_from_dataset(dataset_dir, "cnn", tmp_path, **{**kwargs, "batch_size": 4})
    # cancelling stops after the checkpoint; starting over is allowed with resume=False
    with pytest.raises(Cancelled):
        train_from_dataset(
            dataset_dir,
            "cnn",
            tmp_path,
            resume=False,
            is_cancelled=lambda: True,
            **{**kwargs, "batch_size": 4},
        )
    with pytest.raises(InputError, match="multiple of 4"):
        train_from_dataset(dataset_dir, "unet", tmp_path / "u", crop=10, arch_kwargs=TINY_NET)


def test_fine_tuning_starts_from_the_given_weights(trained, dataset_dir, tmp_path):
    first = trained.result.history
    run = train_from_dataset(
        dataset_dir,
        "unet",
        tmp_path,
        name="unet-tuned",
        arch_kwargs=TINY_NET,
        epochs=1,
        batch_size=4,
        lr=1e-7,
        init_weights=trained.weights_path,
    )
    # an epoch at a negligible learning rate keeps the start weights and their validation error
    best = next(r for r in first if r["epoch"] == trained.result.best_epoch)
    assert run.result.history[0]["val_rmse_db"] == pytest.approx(best["val_rmse_db"], abs=0.05)
    start, tuned = load_weights(trained.weights_path), load_weights(run.weights_path)
    for key, value in start.state_dict.items():
        if value.is_floating_point() and "running" not in key:
            assert torch.allclose(tuned.state_dict[key].float(), value.float(), atol=1e-2), key
    assert run.metadata["training"]["settings"]["init_weights"].startswith(
        trained.weights_path.name
    )
    with pytest.raises(InputError, match="architecture"):
        train_from_dataset(
            dataset_dir,
            "unet",
            tmp_path / "other",
            arch_kwargs={"base": 8, "depth": 2},
            epochs=1,
            init_weights=trained.weights_path,
        )
    # new input channels start at zero weight: the network starts exactly as the start
    from radiomap_geo.nets.registry import DEFAULT_CHANNELS

    wider = train_from_dataset(
        dataset_dir,
        "unet",
        tmp_path / "wider",
        name="unet-wider",
        channels=[*DEFAULT_CHANNELS, "building_depth"],
        arch_kwargs=TINY_NET,
        epochs=1,
        batch_size=4,
        lr=1e-7,
        init_weights=trained.weights_path,
    )
    assert wider.result.history[0]["val_rmse_db"] == pytest.approx(best["val_rmse_db"], abs=0.05)
    with pytest.raises(InputError, match="drop"):
        train_from_dataset(
            dataset_dir,
            "unet",
            tmp_path / "narrower",
            channels=list(DEFAULT_CHANNELS)[:-1],
            arch_kwargs=TINY_NET,
            epochs=1,
            init_weights=trained.weights_path,
        )


ORTHO_NET = [
    "ortho_r",
    "ortho_g",
    "ortho_b",
    "ndsm",
    "tx_height",
    "anchor_x",
    "anchor_y",
    "distance",
    "antenna_gain",
]


@pytest.fixture(scope="module")
def ortho_trained(dataset_dir, tmp_path_factory):
    """A tiny UNet on rendered orthophotos + nDSM + geometry, trained a few epochs."""
    torch.set_num_threads(1)
    return train_from_dataset(
        dataset_dir,
        "unet",
        tmp_path_factory.mktemp("ortho-run"),
        name="unet-ortho",
        channels=ORTHO_NET,
        arch_kwargs=TINY_NET,
        epochs=8,
        batch_size=4,
        lr=1e-2,
        crop=16,
        ortho_seed=3,
    )


def test_dataset_samples_share_one_rendering_per_tile_and_crops_cut_it(dataset_dir):
    from radiomap_geo.dataset import load_dataset
    from radiomap_geo.dataset.ortho import tile_seed, with_rendered_inputs
    from radiomap_geo.models.base import SceneInputs
    from radiomap_geo.nets.augment import TileRenderer

    train = load_dataset(dataset_dir, "train")
    renderer = TileRenderer(ORTHO_NET, seed=3)
    samples = pipeline.dataset_samples(train, range(len(train)), renderer=renderer)
    tiles = np.asarray(train.map_tile)
    for tile in np.unique(tiles):
        same = [s for s, t in zip(samples, tiles) if t == tile]
        assert len(same) == 4 and all(s.scene.ortho is same[0].scene.ortho for s in same)
        assert all(s.scene.ndsm is same[0].scene.ndsm for s in same)
    tile = int(tiles[0])
    plain = SceneInputs(train.grid(tile), train.building_height_m[tile])
    fresh = with_rendered_inputs(plain, tile_seed(int(train.tile_id[tile]), 3), bands=3, ndsm=True)
    np.testing.assert_array_equal(samples[0].scene.ortho, fresh.ortho)
    np.testing.assert_array_equal(samples[0].scene.ndsm, fresh.ndsm)
    (again,) = pipeline.dataset_samples(train, [0], renderer=renderer)
    assert again.scene.ortho is samples[0].scene.ortho  # rendered once, not per call
    assert pipeline.dataset_samples(train, [0])[0].scene.ortho is None  # no renderer, as before
    whole = samples[0]
    crop = pipeline.crop_sample(whole, 16, np.random.default_rng(0))
    r0, c0 = crop.scene.grid.offset_in(whole.scene.grid)
    window = (slice(r0, r0 + 16), slice(c0, c0 + 16))
    np.testing.assert_array_equal(crop.scene.ortho, whole.scene.ortho[(slice(None), *window)])
    np.testing.assert_array_equal(crop.scene.ndsm, whole.scene.ndsm[window])
    np.testing.assert_array_equal(crop.path_gain_db, whole.path_gain_db[window])


def test_dataset_samples_are_keyed_by_their_map(dataset_dir):
    from radiomap_geo.dataset import load_dataset

    train = load_dataset(dataset_dir, "train")
    samples = pipeline.dataset_samples(train, [3, 0, 5])
    keys = pipeline._map_keys(train)
    assert [s.key for s in samples] == [keys[3], keys[0], keys[5]]
    assert len(set(keys)) == len(keys) and all(s.is_whole for s in samples)


# -- cached ray-walk channels of cropped maps ------------------------------------------------------
RAY_NET = ["distance", "los", "building_depth", "knife_edge_db", "antenna_gain"]
RAY = ["los", "building_depth", "knife_edge_db"]
F16 = {"rtol": 5e-4, "atol": 1e-7}  # float16 storage of the obstruction channels


def _keyed_map(geo, key=0, row=7, col=15, size=24):
    from radiomap_geo.nets.augment import MapSample

    grid = geo.make_grid(size, size, res=2.0)
    site = geo.site_at_cell(grid, row, col, antenna="tr38901", azimuth_deg=30.0, tilt_deg=6.0)
    gain = np.random.default_rng(key).normal(-100, 10, grid.shape).astype(np.float32)
    return MapSample(geo.random_scene(grid, seed=3), site, gain, np.ones(grid.shape, bool), key=key)


def test_crops_record_where_they_lie_in_the_keyed_map(geo):
    from radiomap_geo.nets.augment import transform_sample

    whole = _keyed_map(geo)
    rng = np.random.default_rng(1)
    crop = pipeline.crop_sample(whole, 12, rng)
    r0, c0 = crop.scene.grid.offset_in(whole.scene.grid)
    assert crop.key == 0 and crop.window == (r0, c0, 12, 12) and not crop.is_whole
    inner = pipeline.crop_sample(crop, 8, rng)
    r1, c1 = inner.scene.grid.offset_in(whole.scene.grid)
    assert inner.window == (r1, c1, 8, 8) and inner.key == 0
    turned = transform_sample(crop, 1, False)
    assert turned.window == crop.window and turned.symmetry == (1, False)
    assert pipeline.crop_sample(turned, 8, rng).key is None  # windows are taken before symmetries
    assert pipeline.crop_sample(whole, 32, rng) is whole


@pytest.mark.parametrize(("k", "flip"), [(0, False), (1, False), (2, True), (3, True)])
def test_cached_channels_of_a_crop_are_the_crop_of_the_whole_maps(geo, k, flip):
    from radiomap_geo.nets.augment import RayChannelCache, input_stack, transform_sample
    from radiomap_geo.rasterize import feature_stack

    whole = _keyed_map(geo)
    cache = RayChannelCache(RAY_NET)
    cache.remember(whole)
    full = feature_stack(whole.scene, whole.site, RAY)
    rng = np.random.default_rng(k)
    for _ in range(3):
        moved = transform_sample(pipeline.crop_sample(whole, 12, rng), k, flip)
        r0, c0, h, w = moved.window
        expected = transform_array(full[:, r0 : r0 + h, c0 : c0 + w], k, flip)
        got = input_stack(moved, RAY_NET, cache)
        np.testing.assert_array_equal(got[1], expected[0])  # los exactly
        np.testing.assert_allclose(got[2:4], expected[1:], **F16)
        fresh = feature_stack(moved.scene, moved.site, RAY_NET)
        np.testing.assert_array_equal(got[[0, 4]], fresh[[0, 4]])  # cheap ones computed
        # The site is inside the crop, so every ray stays inside it: a fresh walk on the crop
        # agrees up to ray samples on cell boundaries.
        assert np.isclose(got[1:4], fresh[1:4], **F16).mean() > 0.99
    assert cache.computed == 1


def test_rays_leaving_a_crop_see_the_whole_maps_buildings(geo):
    """A fresh walk on a crop that leaves the site outside misses the buildings outside it; the
    cached channels keep them (what the labels were traced with)."""
    from radiomap_geo.nets.augment import MapSample, RayChannelCache, input_stack
    from radiomap_geo.rasterize import feature_stack

    whole = _keyed_map(geo, row=12, col=1)
    heights = np.zeros((24, 24), np.float32)
    heights[:, 4:6] = 60.0  # a wall east of the site, taller than the antenna
    whole = replace(whole, scene=replace(whole.scene, building_height=heights))
    cache = RayChannelCache(["los"])
    cache.remember(whole)
    window = (0, 8, 24, 16)  # east of the wall, without the site
    sl = (slice(0, 24), slice(8, 24))
    crop = MapSample(
        whole.scene.crop(*window),
        whole.site,
        whole.path_gain_db[sl],
        whole.valid[sl],
        key=whole.key,
        window=window,
    )
    cached = input_stack(crop, ["los"], cache)[0]
    assert not cached.any()  # behind the wall
    np.testing.assert_array_equal(cached, feature_stack(whole.scene, whole.site, ["los"])[0][sl])
    assert feature_stack(crop.scene, crop.site, ["los"])[0].all()  # the crop alone: no wall


def test_cropped_batches_compute_each_map_once(geo):
    samples = [_keyed_map(geo, key=i, row=5 + 3 * i, col=6 + 4 * i) for i in range(4)]
    kw = dict(crop=16, augment=True, shuffle=True, seed=2)
    cached = pipeline.CroppedMapBatches(samples, RAY_NET, 2, **kw)
    fresh = pipeline.CroppedMapBatches(samples, RAY_NET, 2, cache=False, **kw)
    for _ in range(2):
        for (x, t, m), (x0, t0, m0) in zip(cached, fresh, strict=True):
            assert x.shape == (2, 5, 16, 16) and torch.equal(t, t0) and torch.equal(m, m0)
            assert torch.equal(x[:, [0, 4]], x0[:, [0, 4]])
            assert np.isclose(x[:, 1:4], x0[:, 1:4], **F16).mean() > 0.99
    assert cached.cache.computed == len(cached.cache) == 4
    assert cached.cache.nbytes == 4 * 24 * 24 * (1 + 2 + 2)


def test_ortho_network_trains_on_rendered_tiles(ortho_trained, dataset_dir):
    history = ortho_trained.result.history
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"], history
    assert all(math.isfinite(r["val_rmse_db"]) for r in history)
    settings = ortho_trained.metadata["training"]["settings"]
    assert settings["channels"] == ORTHO_NET
    assert settings["ortho_seed"] == 3 and settings["ortho_augment"] == 1.0
    out = ortho_trained.log_path.parent
    assert json.loads((out / pipeline.RUN_FILE).read_text())["settings"]["ortho_seed"] == 3
    kwargs = dict(name="unet-ortho", channels=ORTHO_NET, arch_kwargs=TINY_NET, epochs=8)
    kwargs.update(batch_size=4, lr=1e-2, crop=16)
    for change, key in (({"ortho_augment": 0.5}, "ortho_augment"), ({}, "ortho_seed")):
        with pytest.raises(InputError, match=key):  # a resume must render and augment alike
            train_from_dataset(dataset_dir, "unet", out, **kwargs, **change)
    with pytest.raises(InputError, match="orthophoto channels"):
        train_from_dataset(dataset_dir, "unet", out / "x", arch_kwargs=TINY_NET, ortho_augment=1)


def test_evaluate_scores_an_ortho_network_on_fixed_renderings(ortho_trained, dataset_dir):
    def run(model, **kw):
        return evaluate_on_dataset(model, dataset_dir, "test", max_maps=4, **kw)

    def same(a, b):
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)

    first = run(ortho_trained.weights_path, baselines=("3gpp-uma",))
    second = run(ortho_trained.weights_path, baselines=("3gpp-uma",))
    baselines_alone = run(None, baselines=("3gpp-uma",))
    # rendered with the seed the network was trained and validated with
    assert first["settings"]["rendered_inputs"] == {"seed": 3, "bands": 3, "ndsm": True}
    assert baselines_alone["settings"]["rendered_inputs"] is None
    net, baseline = first["models"]
    assert net["kind"] == "network" and net["maps"] == 4 and net["coverage"] == 1.0
    assert math.isfinite(net["metrics"]["all"]["rmse_db"])
    assert same(net["metrics"], second["models"][0]["metrics"])  # reproducible
    assert same(baseline["metrics"], baselines_alone["models"][0]["metrics"])  # as before
    other = run(ortho_trained.weights_path, baselines=(), ortho_seed=0)
    assert other["settings"]["rendered_inputs"]["seed"] == 0
    assert not same(net["metrics"], other["models"][0]["metrics"])  # the network reads them


def test_cli_train_passes_the_ortho_settings(dataset_dir, tmp_path):
    from radiomap_geo.cli.train import train

    out = tmp_path / "run"
    result = CliRunner().invoke(
        train,
        [
            str(dataset_dir),
            "--arch", "cnn",
            "--arch-kwargs", '{"depth": 2, "width": 4}',
            "--channels", "ortho_r,ortho_g,ortho_b,ortho_ir,distance",
            "-o", str(out),
            "--epochs", "1",
            "--max-train-maps", "4",
            "--max-val-maps", "1",
            "--ortho-augment", "0.5",
            "--ortho-seed", "2",
            "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = json.loads((out / pipeline.RUN_FILE).read_text())
    assert run["settings"]["ortho_seed"] == 2 and run["settings"]["ortho_augment"] == 0.5
    assert "--ortho-augment 0.5 --ortho-seed 2" in run["command"]


def _fake_retrace(dataset, tile, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for index in np.flatnonzero(dataset.map_tile == tile):
        noisy = dataset.gain_db[index] + rng.normal(0.0, 1.0, dataset.gain_db[index].shape)
        out[int(index)] = (noisy.astype(np.float32), 0.5)
    return out


def test_evaluate_scores_network_baselines_and_tracer_noise(
    trained, dataset_dir, monkeypatch, tmp_path
):
    monkeypatch.setattr(scoring, "retrace_tile", _fake_retrace)
    started = time.perf_counter()
    report = evaluate_on_dataset(
        trained.weights_path,
        dataset_dir,
        "test",
        baselines=("3gpp-umi", "3gpp-uma", "free-space"),
        rt_noise_tiles=1,
        command="radiomap-geo evaluate ds",
    )
    wall_ms = 1000.0 * (time.perf_counter() - started)
    names = [m["name"] for m in report["models"]]
    assert names[0].startswith("net:unet-tiny") and names[1:] == [
        "3gpp-umi",
        "3gpp-uma",
        "free-space",
    ]
    assert report["dataset"]["maps"] == 8 and report["dataset"]["tiles"] == 2
    for m in report["models"]:
        assert m["kind"] in ("network", "empirical") and m["maps"] == 8
        # the time of the model's own predictions: part of the call's wall time
        assert m["coverage"] == 1.0 and 0 < m["ms_per_map"] * m["maps"] < wall_ms
        for block in (m["metrics"], m["above_threshold"]):
            for key in ("rmse_db", "mae_db", "nmse_db", "bias_db"):
                assert math.isfinite(block["all"][key]), (m["name"], key)
            assert block["los"]["count"] + block["nlos"]["count"] == block["all"]["count"]
        above = m["above_threshold"]["all"]["count"]
        assert 0 < above <= m["metrics"]["all"]["count"]
    # free space ignores the 20 dB NLOS penalty of the fake labels
    free = report["models"][3]["metrics"]
    assert free["nlos"]["rmse_db"] > free["los"]["rmse_db"] + 10.0
    rt = report["rt_noise"]
    assert rt["maps"] == 4 and [m["name"] for m in rt["models"]][-1] == "sionna-rt (second run)"
    assert rt["models"][-1]["metrics"]["all"]["rmse_db"] == pytest.approx(1.0, abs=0.15)
    assert rt["models"][-1]["ms_per_map"] == pytest.approx(500.0)
    assert all(m["maps"] == 4 for m in rt["models"])
    text = report_markdown(report)
    for name in ("3gpp-umi", "3gpp-uma", "sionna-rt (second run)", "[-130, -120) dB", "[0, 50) m"):
        assert name in text
    path = save_report(report, tmp_path / "r.json")

    def strict(value):
        raise ValueError(value)

    assert json.loads(path.read_text(), parse_constant=strict)["format"] == pipeline.REPORT_FORMAT
    # through the prediction engine: the network blended with its fallback covers every cell
    engine = evaluate_on_dataset(
        f"net:{trained.weights_path}+3gpp-uma",
        dataset_dir,
        "test",
        baselines=(),
        net_mode="engine",
        max_maps=2,
    )
    (only,) = engine["models"]
    assert only["name"].endswith("+3gpp-uma") and only["coverage"] == 1.0 and only["maps"] == 2
    with pytest.raises(InputError, match="nothing to evaluate"):
        evaluate_on_dataset(None, dataset_dir, baselines=())


def test_cli_train_evaluate_and_ship(trained, dataset_dir, tmp_path, monkeypatch):
    from radiomap_geo.cli.evaluate import evaluate
    from radiomap_geo.cli.train import train
    from radiomap_geo.models import registry

    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(
        train,
        [
            str(dataset_dir),
            "--arch", "cnn",
            "--arch-kwargs", '{"depth": 2, "width": 4}',
            "--name", "cnn-cli",
            "-o", str(out),
            "--epochs", "2",
            "--batch-size", "8",
            "--max-train-maps", "8",
            "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and len(list(out.glob("cnn-cli-*.pt"))) == 1
    bad = runner.invoke(train, [str(dataset_dir), "--arch-kwargs", "[1]", "--quiet"])
    assert bad.exit_code != 0 and "JSON object" in bad.output
    listing = runner.invoke(train, ["--list-archs"])
    assert listing.exit_code == 0 and "unet_dcn" in listing.output

    shipped = tmp_path / "weights"
    result = runner.invoke(
        evaluate,
        [
            str(dataset_dir),
            "--model", str(trained.weights_path),
            "--baselines", "3gpp-uma",
            "--max-maps", "2",
            "--json", str(tmp_path / "eval.json"),
            "--ship-to", str(shipped),
            "--name", "tiny-net",
            "--default",
            "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| 3gpp-uma | empirical | 2 |" in result.output
    report = json.loads((tmp_path / "eval.json").read_text())
    assert (
        report["command"].startswith("radiomap-geo evaluate ") and "--ship-to" in report["command"]
    )
    index = json.loads((shipped / "index.json").read_text())
    entry = index["tiny-net"]
    assert entry["default"] is True and (shipped / entry["file"]).is_file()
    card = (shipped / "tiny-net.md").read_text()
    for text in (
        "Inputs, in order",
        "1. `building_height`",
        "metres per pixel | 4",
        "3500 MHz",
        report["command"],
    ):
        assert text in card
    monkeypatch.setenv(registry.WEIGHTS_ENV, str(shipped))
    assert registry.list_models()[0] == "tiny-net" and registry.default_model() == "tiny-net"
    model = registry.get_model()
    assert model.name == "tiny-net+3gpp-uma" and model.net.metadata["metrics"]["evaluation"]


@pytest.mark.rt
def test_retrace_reproduces_a_real_tile_up_to_ray_noise(tmp_path):
    from radiomap_geo.errors import DependencyError
    from radiomap_geo.rt.llvm import import_sionna_rt, libllvm_available

    try:
        import_sionna_rt()
    except DependencyError as exc:
        pytest.skip(str(exc))
    import mitsuba as mi

    if mi.variant().startswith("llvm") and not libllvm_available():
        pytest.skip("libLLVM 19 not found")
    from radiomap_geo.dataset import load_dataset
    from radiomap_geo.dataset.build import BuildConfig, build_dataset
    from radiomap_geo.los import line_of_sight

    config = BuildConfig(
        n_tiles=1,
        size=32,
        resolution_m=2.0,
        samples_per_tx=200_000,
        sites_per_tile=2,
        sources={"procedural": 1.0},
        tiles_per_shard=1,
    )
    build_dataset(tmp_path / "rt", config)
    data = load_dataset(tmp_path / "rt", split=None)
    started = time.perf_counter()
    second = pipeline.retrace_tile(data, 0, seed=7)
    wall = time.perf_counter() - started
    assert sorted(second) == [0, 1]
    assert 0 < sum(seconds for _, seconds in second.values()) < wall  # each site's tracing time
    heights = data.building_height_m[0]
    for index, (gain, _) in second.items():
        assert gain.shape == (32, 32)
        assert np.isnan(gain[heights > 0]).all()
        site = data.site(index)
        los = line_of_sight(
            heights, data.grid(0), data.grid(0), (site.x, site.y), site.height_m, 1.5
        )
        both = los & data.mask[index] & np.isfinite(gain)
        assert both.sum() > 50
        err = gain[both] - data.gain_db[index][both]
        assert np.sqrt(np.mean(err**2)) < 2.0  # same scene, same site: only ray noise differs
