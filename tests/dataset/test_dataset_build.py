import json

import numpy as np
import pytest
from click.testing import CliRunner

from radiomap_geo.dataset import build as build_mod
from radiomap_geo.dataset import load_dataset, read_manifest, tracing
from radiomap_geo.dataset.build import BuildConfig, build_dataset, parse_sources
from radiomap_geo.dataset.sampling import TileSpec, plan_tiles
from radiomap_geo.dataset.sources import open_sources
from radiomap_geo.dataset.store import iter_maps
from radiomap_geo.errors import Cancelled, InputError

TINY = dict(size=16, resolution_m=4.0, samples_per_tx=100_000, sites_per_tile=2, tiles_per_shard=2)


@pytest.fixture
def fake_rt(monkeypatch, fake_tracer_class):
    """Replace ray tracing by a free-space formula; the ids of the tiles computed."""
    return fake_tracer_class().install(monkeypatch).tile_ids


def _config(n, sample_pbf, **kw):
    return BuildConfig(
        n_tiles=n,
        sources={"procedural": 0.6, "helsinki": 0.4},
        helsinki=str(sample_pbf),
        **{**TINY, **kw},
    )


def test_build_resume_extend_and_read(tmp_path, sample_pbf, fake_rt):
    out = tmp_path / "ds"
    first = build_dataset(out, _config(5, sample_pbf))
    assert first["tiles"] == 5 and first["new_maps"] == 10 and fake_rt == [0, 1, 2, 3, 4]
    assert not list((out / "parts").glob("*.npz"))  # everything packed at the end
    again = build_dataset(out, _config(5, sample_pbf))
    assert again["new_maps"] == 0 and len(fake_rt) == 5
    more = build_dataset(out, _config(8, sample_pbf))
    assert more["tiles"] == 8 and more["new_maps"] == 6 and fake_rt[5:] == [5, 6, 7]

    manifest = read_manifest(out)
    assert manifest["n_tiles_requested"] == 8 and len(manifest["runs"]) == 2
    assert manifest["encoding"]["gain"]["step_db"] == 0.5
    files = {r["file"] for r in manifest["tiles"].values()}
    assert all(f.startswith("shards/") and (out / f).is_file() for f in files)
    for name, shard in manifest["shards"].items():
        assert name.startswith(f"shards/{shard['split']}-")

    everything = load_dataset(out, split=None)
    assert len(everything) == 16 and sorted(everything.tile_id.tolist()) == list(range(8))
    assert np.array_equal(everything.mask, np.isfinite(everything.gain_db))
    per_split = {}
    for split in ("train", "val", "test"):
        tiles = [r for r in manifest["tiles"].values() if r["split"] == split]
        if tiles:
            per_split[split] = len(load_dataset(out, split))
            assert per_split[split] == 2 * len(tiles)
            assert sum(1 for _ in iter_maps(out, split)) == per_split[split]
    assert sum(per_split.values()) == 16
    # georeferencing and sites survive the round trip
    i = 3
    grid = everything.grid(int(everything.map_tile[i]))
    site = everything.site(i)
    assert grid.rowcol(site.x, site.y) == (
        everything.sites["site_row"][i],
        everything.sites["site_col"][i],
    )
    assert grid.shape == (16, 16) and grid.resolution == 4.0


def test_cancel_then_resume_recomputes_nothing_done(tmp_path, sample_pbf, fake_rt):
    out = tmp_path / "ds"
    steps = []

    def progress(done, total, message):
        steps.append(done)

    with pytest.raises(Cancelled):
        build_dataset(
            out, _config(6, sample_pbf), progress=progress, is_cancelled=lambda: len(fake_rt) >= 3
        )
    assert fake_rt == [0, 1, 2]
    manifest = read_manifest(out)
    assert sorted(int(k) for k in manifest["tiles"]) == [0, 1, 2]
    assert manifest["runs"][-1]["status"] == "cancelled"
    # a part written after the last manifest update (a crash) is adopted, not recomputed
    build_mod.run_tile(
        plan_tiles(
            6,
            {
                "procedural": None,
                "helsinki": open_sources(["helsinki"], None, sample_pbf)[0]["helsinki"],
            },
            {"procedural": 0.6, "helsinki": 0.4},
            size=16,
            resolution=4.0,
            seed=0,
        )[3].to_dict(),
        _config(6, sample_pbf).to_dict(),
        str(out),
    )
    assert (out / "parts" / "tile-000003.npz").exists()
    done = build_dataset(out, _config(6, sample_pbf), progress=progress)
    assert done["tiles"] == 6
    assert fake_rt == [0, 1, 2, 3, 4, 5]  # tile 3 computed once only (by hand above)
    assert steps[-1] == 6


def test_other_settings_are_refused(tmp_path, sample_pbf, fake_rt):
    out = tmp_path / "ds"
    build_dataset(out, _config(1, sample_pbf))
    with pytest.raises(InputError, match="other settings"):
        build_dataset(out, _config(2, sample_pbf, samples_per_tx=200_000))
    with pytest.raises(InputError, match="not a radiomap-geo dataset"):
        read_manifest(tmp_path)


def test_parse_sources():
    assert parse_sources("procedural,helsinki:0.25") == {"procedural": 0.5, "helsinki": 0.25}
    with pytest.raises(InputError, match="unknown dataset source"):
        parse_sources("munich")
    with pytest.raises(InputError):
        BuildConfig(sources={"procedural": 0.0}).validate()


def test_missing_sources_are_skipped(tmp_path, sample_pbf, fake_rt):
    config = BuildConfig(
        n_tiles=2,
        sources={"procedural": 0.5, "radiomapseer": 0.3, "delft": 0.2},
        shared_data=str(tmp_path / "nowhere"),
        **TINY,
    )
    summary = build_dataset(tmp_path / "ds", config)
    assert set(summary["skipped_sources"]) == {"radiomapseer", "delft"}
    assert summary["maps_per_source"] == {"procedural": 4}
    with pytest.raises(InputError, match="none of the sources"):
        build_dataset(
            tmp_path / "ds2",
            BuildConfig(n_tiles=1, sources={"delft": 1.0}, shared_data=str(tmp_path), **TINY),
        )


def test_cli_build_and_info(tmp_path, sample_pbf, fake_rt):
    from radiomap_geo.cli.dataset import dataset

    out = tmp_path / "ds"
    runner = CliRunner()
    result = runner.invoke(
        dataset,
        [
            "build",
            str(out),
            "--n-tiles",
            "3",
            "--size",
            "16",
            "--resolution",
            "4",
            "--samples",
            "1e5",
            "--sites-per-tile",
            "2",
            "--sources",
            "procedural,helsinki",
            "--helsinki",
            str(sample_pbf),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "3 tiles, 6 maps" in result.output
    result = runner.invoke(dataset, ["info", str(out)])
    assert result.exit_code == 0, result.output
    assert "tiles 3 of 3 requested" in result.output and "16x16 cells at 4 m" in result.output
    result = runner.invoke(dataset, ["info", str(out), "--json"])
    assert json.loads(result.output)["maps"] == 6
    result = runner.invoke(
        dataset, ["build", str(out), "--n-tiles", "3", "--size", "32", "--quiet"]
    )
    assert result.exit_code != 0 and "other settings" in result.output


# -- real ray tracing ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sionna_ready():
    from radiomap_geo.errors import DependencyError
    from radiomap_geo.rt.llvm import import_sionna_rt, libllvm_available

    try:
        import_sionna_rt()
    except DependencyError as exc:
        pytest.skip(str(exc))
    import mitsuba as mi

    if mi.variant().startswith("llvm") and not libllvm_available():
        pytest.skip("libLLVM 19 not found: apt-get install libllvm19")


@pytest.mark.rt
def test_real_build_is_resumable(tmp_path, sample_pbf, sionna_ready):
    out = tmp_path / "rt"
    config = BuildConfig(
        n_tiles=1,
        size=32,
        resolution_m=2.0,
        samples_per_tx=100_000,
        sites_per_tile=2,
        sources={"procedural": 0.5, "helsinki": 0.5},
        helsinki=str(sample_pbf),
        tiles_per_shard=4,
    )
    first = build_dataset(out, config)
    assert first["new_maps"] == 2
    second = build_dataset(out, build_mod.with_tiles(config, 2))
    assert second["new_maps"] == 2 and second["tiles"] == 2
    third = build_dataset(out, build_mod.with_tiles(config, 2))
    assert third["new_maps"] == 0

    data = load_dataset(out, split=None)
    assert len(data) == 4 and data.gain_db.shape == (4, 32, 32)
    manifest = data.manifest
    assert (
        manifest["backend"]["sionna_rt_version"] and manifest["config"]["samples_per_tx"] == 100_000
    )
    assert {r["source"] for r in manifest["tiles"].values()} == {"procedural", "helsinki"}
    for i in range(len(data)):
        heights = data.building_height_m[data.map_tile[i]]
        mask = data.mask[i]
        assert not (mask & (heights > 0)).any()  # no labels inside buildings
        assert mask.mean() > 0.05
        values = data.gain_db[i][mask]
        assert values.min() >= -167.0 and values.max() <= -40.0
        r, c = data.sites["site_row"][i], data.sites["site_col"][i]
        if data.sites["site_kind"][i] == 0:  # street site: its own cell is lit
            assert mask[r, c] and data.gain_db[i][r, c] > -90


def test_a_failing_tile_is_skipped_and_retried(tmp_path, sample_pbf, fake_rt, monkeypatch):
    out = tmp_path / "ds"
    real = tracing.tile_heights

    def flaky(spec, config, grid):
        if spec.tile_id == 1:
            raise ValueError("high - low < 0")
        return real(spec, config, grid)

    monkeypatch.setattr(tracing, "tile_heights", flaky)
    first = build_dataset(out, _config(3, sample_pbf))
    assert first["tiles"] == 2 and set(first["failed_tiles"]) == {1}
    assert read_manifest(out)["runs"][-1]["status"] == "incomplete"
    monkeypatch.setattr(tracing, "tile_heights", real)
    second = build_dataset(out, _config(3, sample_pbf))
    assert second["tiles"] == 3 and second["new_maps"] == 2 and not second["failed_tiles"]


def _build_args(out, sample_pbf, n_tiles=3):
    return [
        *("dataset", "build", str(out), "--n-tiles", str(n_tiles), "--size", "16"),
        *("--resolution", "4", "--samples", "1e5", "--sites-per-tile", "2"),
        *("--tiles-per-shard", "2", "--sources", "procedural:0.6,helsinki:0.4"),
        *("--helsinki", str(sample_pbf), "--quiet"),
    ]


def test_build_command_names_failed_tiles_and_exits_non_zero(
    tmp_path, sample_pbf, fake_rt, monkeypatch
):
    from radiomap_geo.cli.dataset import EXIT_TILES_FAILED
    from radiomap_geo.cli.main import cli

    real = tracing.tile_heights

    def flaky(spec, config, grid):
        if spec.tile_id == 2:
            raise OSError("Input/output error reading the footprints")
        return real(spec, config, grid)

    monkeypatch.setattr(tracing, "tile_heights", flaky)
    out = tmp_path / "ds"
    failed = CliRunner().invoke(cli, _build_args(out, sample_pbf))
    assert failed.exit_code == EXIT_TILES_FAILED == 3, failed.output
    assert "tile 2 failed: OSError: Input/output error" in failed.output
    assert "1 tile(s) failed" in failed.output and "rerun the same command" in failed.output
    assert sorted(read_manifest(out)["tiles"]) == ["0", "1"]  # the finished ones are kept
    monkeypatch.setattr(tracing, "tile_heights", real)
    retried = CliRunner().invoke(cli, _build_args(out, sample_pbf))
    assert retried.exit_code == 0, retried.output
    assert sorted(read_manifest(out)["tiles"]) == ["0", "1", "2"]


def _interrupted_build_with_a_part(out, sample_pbf):
    """A build stopped after tile 0, plus tile 1's part written after the last manifest update."""
    cancel = iter([False, False, True])
    with pytest.raises(Cancelled):
        build_dataset(
            out, _config(4, sample_pbf, tiles_per_shard=10), is_cancelled=lambda: next(cancel, True)
        )
    config = _config(4, sample_pbf, tiles_per_shard=10)
    sources = {
        "procedural": None,
        "helsinki": open_sources(["helsinki"], None, sample_pbf)[0]["helsinki"],
    }
    weights = {"procedural": 0.6, "helsinki": 0.4}
    spec = plan_tiles(
        4,
        sources,
        weights,
        size=16,
        resolution=4.0,
        seed=config.seed,
        region_factor=config.region_factor,
    )[1]
    build_mod.run_tile(spec.to_dict(), config.to_dict(), str(out))
    part = build_mod.part_path(out, 1)
    assert part.is_file() and "1" not in read_manifest(out)["tiles"]
    return part


def test_a_part_file_survives_a_transient_read_error(tmp_path, sample_pbf, fake_rt, monkeypatch):
    import errno

    from radiomap_geo.dataset import manifest as manifest_mod

    out = tmp_path / "ds"
    part = _interrupted_build_with_a_part(out, sample_pbf)
    real_load = np.load

    def failing_io(path, *args, **kwargs):  # what a network file system's hiccup raises
        if str(path) == str(part):
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(manifest_mod.np, "load", failing_io)
    with pytest.raises(Cancelled):
        build_dataset(out, _config(4, sample_pbf, tiles_per_shard=10), is_cancelled=lambda: True)
    assert part.is_file()  # kept, not deleted
    monkeypatch.setattr(manifest_mod.np, "load", real_load)
    computed = len(fake_rt)
    summary = build_dataset(out, _config(4, sample_pbf, tiles_per_shard=10))
    assert summary["tiles"] == 4 and 1 not in fake_rt[computed:]  # adopted, not recomputed


def test_a_damaged_part_is_set_aside_and_recomputed(tmp_path, sample_pbf, fake_rt):
    out = tmp_path / "ds"
    part = _interrupted_build_with_a_part(out, sample_pbf)
    part.write_bytes(part.read_bytes()[:200])  # damaged after it was written
    computed = len(fake_rt)
    summary = build_dataset(out, _config(4, sample_pbf, tiles_per_shard=10))
    assert summary["tiles"] == 4 and 1 in fake_rt[computed:]
    aside = part.with_name(part.name + ".corrupt")
    assert aside.is_file() and aside.stat().st_size == 200


# -- source mixes from a tile on ----------------------------------------------------------------

#: A manifest's config as every dataset built before source mixes could change stores it.
OLD_CONFIG = {
    "size": 128,
    "resolution_m": 2.0,
    "rx_height_m": 1.5,
    "samples_per_tx": 3000000,
    "max_depth": 3,
    "diffraction": True,
    "refraction": False,
    "sites_per_tile": 4,
    "seed": 0,
    "sources": {"procedural": 0.5, "radiomapseer": 0.3, "helsinki": 0.17, "delft": 0.03},
    "margin_m": 0.0,
    "region_factor": 1.5,
    "materials": {},
    "sampling": {
        "rooftop_fraction": 0.5,
        "directional_fraction": 0.5,
        "street_height_m": [3.0, 10.0],
        "rooftop_above_m": [1.0, 5.0],
        "tilt_deg": [0.0, 12.0],
        "frequency_mhz": 3500.0,
        "clearance_cells": 1,
        "edge_cells": 1,
    },
}
LATER = {"procedural": 0.2, "helsinki": 0.8}


def test_a_manifest_without_mixes_round_trips_as_one_mix(tmp_path):
    from radiomap_geo.dataset.manifest import (
        _check_compatible,
        _compat,
        record_mixes,
        resolve_mixes,
    )

    config = BuildConfig.from_dict(OLD_CONFIG)
    assert config.sources_from == () and config.phases() == ((0, OLD_CONFIG["sources"]),)
    assert json.loads(json.dumps(_compat(config))) == OLD_CONFIG  # nothing added
    manifest = {"config": json.loads(json.dumps(OLD_CONFIG)), "tiles": {"0": {}}, "sources": {}}
    _check_compatible(manifest, BuildConfig(), tmp_path)  # today's defaults still match
    resolved = resolve_mixes(manifest, BuildConfig(), tmp_path)
    record_mixes(manifest, resolved, {})
    assert resolved.sources_from == () and manifest["config"] == OLD_CONFIG
    # and a config with a later mix survives JSON
    mixed = BuildConfig(sources_from=((1685, LATER),))
    assert BuildConfig.from_dict(json.loads(json.dumps(mixed.to_dict()))) == mixed
    assert json.loads(json.dumps(_compat(mixed)))["sources_from"] == [[1685, LATER]]


def _mixed_plan(n, sample_pbf, later):
    sources = {
        "procedural": None,
        "helsinki": open_sources(["helsinki"], None, sample_pbf)[0]["helsinki"],
    }
    weights = {"procedural": 0.6, "helsinki": 0.4}
    tiling = dict(size=16, resolution=4.0, seed=0)
    return plan_tiles(n, sources, weights, weights_from=later, **tiling)


def test_a_mix_from_now_leaves_built_tiles_and_is_kept(tmp_path, sample_pbf, fake_rt):
    out = tmp_path / "ds"
    build_dataset(out, _config(3, sample_pbf))
    before = read_manifest(out)["tiles"]
    build_dataset(out, _config(8, sample_pbf), sources_from_now=LATER)
    manifest = read_manifest(out)
    assert manifest["config"]["sources_from"] == [[3, LATER]]
    assert {k: manifest["tiles"][k] for k in before} == before  # the built tiles untouched
    # a plain build (no mix given) keeps the recorded mix, as does the same command again
    build_dataset(out, _config(10, sample_pbf))
    summary = build_dataset(out, _config(10, sample_pbf), sources_from_now=LATER)
    assert summary["source_mixes"] == [[0, {"procedural": 0.6, "helsinki": 0.4}], [3, LATER]]
    manifest = read_manifest(out)
    assert manifest["config"]["sources_from"] == [[3, LATER]]
    planned = _mixed_plan(10, sample_pbf, [(3, LATER)])
    for spec in planned:
        assert build_mod.same_spec(spec, TileSpec.from_dict(manifest["tiles"][str(spec.tile_id)]))
    single = _mixed_plan(10, sample_pbf, [])
    assert planned[:3] == single[:3] and planned[3:] != single[3:]  # the mix did change


def test_a_mix_without_tiles_yet_is_replaced(tmp_path, sample_pbf, fake_rt):
    from radiomap_geo.dataset.manifest import next_tile_id

    out = tmp_path / "ds"
    build_dataset(out, _config(3, sample_pbf))
    build_dataset(out, _config(3, sample_pbf), sources_from_now=LATER)  # records, builds none
    build_dataset(out, _config(3, sample_pbf), sources_from_now={"procedural": 1.0})
    assert read_manifest(out)["config"]["sources_from"] == [[3, {"procedural": 1.0}]]
    # a part file not adopted yet is a built tile too
    part = _interrupted_build_with_a_part(tmp_path / "parted", sample_pbf)
    assert next_tile_id(part.parent.parent, read_manifest(part.parent.parent)) == 2


def test_a_mix_starting_at_a_built_tile_is_refused(tmp_path, sample_pbf, fake_rt):
    from dataclasses import replace

    out = tmp_path / "ds"
    build_dataset(out, _config(3, sample_pbf))
    early = replace(_config(6, sample_pbf), sources_from=((2, LATER),))
    with pytest.raises(
        InputError, match=r"from tile 2 would change .* start the new mix at tile 3"
    ):
        build_dataset(out, early)
    build_dataset(out, _config(4, sample_pbf), sources_from_now=LATER)
    other = replace(_config(6, sample_pbf), sources_from=((3, {"procedural": 1.0}),))
    with pytest.raises(InputError, match="records other source mixes"):
        build_dataset(out, other)
    assert read_manifest(out)["config"]["sources_from"] == [[3, LATER]]
    with pytest.raises(InputError, match="holds no tile yet"):
        build_dataset(tmp_path / "new", _config(2, sample_pbf), sources_from_now=LATER)


def test_cli_sources_from_now(tmp_path, sample_pbf, fake_rt):
    from radiomap_geo.cli.main import cli

    out = tmp_path / "ds"
    runner = CliRunner()
    first = runner.invoke(cli, _build_args(out, sample_pbf, n_tiles=2))
    assert first.exit_code == 0, first.output
    mix = ["--sources-from-now", "procedural:0.2,helsinki:0.8"]
    grown = runner.invoke(cli, _build_args(out, sample_pbf, n_tiles=4) + mix)
    assert grown.exit_code == 0, grown.output
    assert "source mix from tile 2 on: procedural 0.2, helsinki 0.8" in grown.output
    info = runner.invoke(cli, ["dataset", "info", str(out)])
    assert "source mix from tile 0: procedural 0.6, helsinki 0.4" in info.output
    assert "source mix from tile 2: procedural 0.2, helsinki 0.8" in info.output
    as_json = json.loads(runner.invoke(cli, ["dataset", "info", str(out), "--json"]).output)
    assert as_json["source_mixes"] == [[0, {"procedural": 0.6, "helsinki": 0.4}], [2, LATER]]
    fresh = runner.invoke(cli, _build_args(tmp_path / "new", sample_pbf) + mix)
    assert (
        fresh.exit_code == 1 and "Error: " in fresh.output and "holds no tile yet" in fresh.output
    )
    assert isinstance(fresh.exception, SystemExit)  # a message, no traceback
    changed = [
        a if a != "procedural:0.6,helsinki:0.4" else "procedural:0.2"
        for a in _build_args(out, sample_pbf)
    ]
    refused = runner.invoke(cli, changed)
    assert refused.exit_code != 0 and "--sources-from-now" in refused.output
