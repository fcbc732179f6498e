"""``dataset build`` refuses bad numbers up front (flag and value named, no folder left), and
``dataset info`` reports the source mix the build followed.
"""

import json
import math
from dataclasses import replace

import pytest
from click.testing import CliRunner

from radiomap_geo.cli.main import cli
from radiomap_geo.dataset import read_manifest
from radiomap_geo.dataset.build import BuildConfig, build_dataset
from radiomap_geo.dataset.sampling import SiteSampling
from radiomap_geo.errors import InputError

#: The audit's tiny build (procedural only: no source files needed).
TINY_ARGS = [
    *("--sources", "procedural", "--size", "16", "--resolution", "4", "--sites-per-tile", "1"),
    *("--samples", "1e4", "--max-depth", "1", "--no-diffraction", "--n-tiles", "2", "--quiet"),
]
TINY = dict(size=16, resolution_m=4.0, samples_per_tx=10_000, sites_per_tile=1, max_depth=1)


@pytest.fixture
def fake_rt(monkeypatch, fake_tracer_class):
    """Replace ray tracing by a free-space formula; the ids of the tiles computed."""
    return fake_tracer_class().install(monkeypatch).tile_ids


def _build(out, *extra: str):
    return CliRunner().invoke(cli, ["dataset", "build", str(out), *TINY_ARGS, *extra])


@pytest.mark.parametrize(
    ("extra", "flag", "words"),
    [
        (("--rx-height", "nan"), "--rx-height", "must be a finite number, got nan"),
        (("--rx-height", "-1"), "--rx-height", "must be above 0 and at most 500, got -1"),
        (("--rx-height", "600"), "--rx-height", "must be above 0 and at most 500, got 600"),
        (("--samples", "1.5"), "--samples", "must be a whole number, got 1.5"),
        (("--samples", "nan"), "--samples", "must be a finite number, got nan"),
        (("--samples", "0"), "--samples", "must be at least 1 and at most 1e+09, got 0"),
        (("--frequency", "0"), "--frequency", "must be at least 10 and at most 100000, got 0"),
        (("--frequency", "nan"), "--frequency", "must be a finite number, got nan"),
        (("--frequency", "3.5e6"), "--frequency", "at most 100000, got 3.5e+06"),
        (("--margin", "-5"), "--margin", "must be at least 0, got -5"),
        (("--margin", "inf"), "--margin", "must be a finite number, got inf"),
        (("--n-tiles", "0"), "--n-tiles", "must be at least 1, got 0"),
        (("--n-tiles", "-3"), "--n-tiles", "must be at least 1, got -3"),
        (("--tiles-per-shard", "0"), "--tiles-per-shard", "must be at least 1, got 0"),
        (("--sites-per-tile", "0"), "--sites-per-tile", "must be at least 1, got 0"),
        (("--resolution", "0"), "--resolution", "must be above 0, got 0"),
        (("--region-factor", "0.5"), "--region-factor", "must be at least 1, got 0.5"),
        (("--workers", "0"), "--workers", "must be at least 1, got 0"),
        (("--size", "4"), "--size", "must be at least 8 and at most 4096, got 4"),
        (("--max-depth", "-1"), "--max-depth", "must be at least 0, got -1"),
        (("--seed", "-1"), "--seed", "must be at least 0, got -1"),
        (("--sources", "procedural:nan"), "--sources", "procedural must be a positive number"),
    ],
)
def test_build_refuses_a_bad_number_up_front(tmp_path, extra, flag, words):
    out = tmp_path / "ds"
    result = _build(out, *extra)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: {flag}: "), result.output
    assert words in result.output
    assert isinstance(result.exception, SystemExit)  # a message, no traceback
    assert "rerun the same command" not in result.output
    assert not out.exists()  # checked before any folder is created


@pytest.mark.parametrize(
    ("settings", "parameter"),
    [
        ({"rx_height_m": math.nan}, "rx_height_m"),
        ({"rx_height_m": -1.0}, "rx_height_m"),
        ({"samples_per_tx": 1.5}, "samples_per_tx"),
        ({"samples_per_tx": math.nan}, "samples_per_tx"),
        ({"sampling": SiteSampling(frequency_mhz=0.0)}, "frequency_mhz"),
        ({"margin_m": -5.0}, "margin_m"),
        ({"n_tiles": 0}, "n_tiles"),
        ({"tiles_per_shard": 0}, "tiles_per_shard"),
        ({"sites_per_tile": True}, "sites_per_tile"),
        ({"region_factor": 0.5}, "region_factor"),
    ],
)
def test_build_dataset_checks_every_number_first(tmp_path, settings, parameter):
    out = tmp_path / "ds"
    config = replace(BuildConfig(sources={"procedural": 1.0}, **TINY), **settings)
    with pytest.raises(InputError) as err:
        build_dataset(out, config)
    assert err.value.parameter == parameter
    assert not out.exists()


def test_build_dataset_checks_workers_and_later_mix_first(tmp_path):
    out = tmp_path / "ds"
    config = BuildConfig(sources={"procedural": 1.0}, **TINY)
    with pytest.raises(InputError, match="at least 1, got 0") as err:
        build_dataset(out, config, workers=0)
    assert err.value.parameter == "workers" and not out.exists()
    with pytest.raises(InputError, match="positive number, got -1") as err:
        build_dataset(out, config, sources_from_now={"procedural": -1.0})
    assert err.value.parameter == "sources_from_now" and not out.exists()
    with pytest.raises(InputError, match="holds no tile yet"):  # refused after planning
        build_dataset(out, config, sources_from_now={"procedural": 1.0})
    assert not out.exists()


def test_mix_shares_are_the_planners():
    from radiomap_geo.dataset.config import mix_shares

    phases = ((0, {"procedural": 0.5}), (4, {"procedural": 1.0, "helsinki": 3.0, "delft": 2.0}))
    assert mix_shares(phases, ["procedural", "helsinki"]) == (
        (0, {"procedural": 1.0}),
        (4, {"procedural": 0.25, "helsinki": 0.75}),
    )


def test_info_shows_the_mix_followed(tmp_path, fake_rt):
    out = tmp_path / "ds"
    built = _build(out)
    assert built.exit_code == 0, built.output
    assert read_manifest(out)["config"]["samples_per_tx"] == 10_000  # 1e4 stored whole
    info = CliRunner().invoke(cli, ["dataset", "info", str(out)])
    assert info.exit_code == 0, info.output
    assert "source mix from tile 0: procedural 1\n" in info.output
    as_json = json.loads(CliRunner().invoke(cli, ["dataset", "info", str(out), "--json"]).output)
    assert as_json["source_mixes"] == [[0, {"procedural": 1.0}]]
    assert as_json["config"]["sources"] == {"procedural": 0.5}  # the weight as given stays
    # a source whose files are missing gets no share
    other = tmp_path / "other"
    mixed = ["--sources", "procedural:1,delft:3", "--shared-data", str(tmp_path / "nowhere")]
    assert _build(other, *mixed).exit_code == 0
    info = CliRunner().invoke(cli, ["dataset", "info", str(other)])
    assert "source mix from tile 0: procedural 1\n" in info.output


def test_info_reads_a_manifest_with_a_null_receiver_height(tmp_path, fake_rt):
    out = tmp_path / "ds"
    assert _build(out).exit_code == 0
    manifest = read_manifest(out)
    manifest["config"]["rx_height_m"] = None  # what a build with --rx-height nan once stored
    (out / "manifest.json").write_text(json.dumps(manifest))
    info = CliRunner().invoke(cli, ["dataset", "info", str(out)])
    assert info.exit_code == 0, info.output
    assert "receiver unknown m" in info.output
