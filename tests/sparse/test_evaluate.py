import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from radiomap_geo.cli.main import cli
from radiomap_geo.sparse.evaluate import aggregate, score_map

from .helpers import street_map

DATASET = Path(__file__).resolve().parents[2] / "data" / "radiomaps"


def test_scores_use_only_unmeasured_cells_and_perfect_maps_score_zero():
    ctx = street_map()
    measured = np.zeros(ctx.shape, bool)
    measured[0, :10] = True
    truth = np.nan_to_num(ctx.gain_db, nan=-160.0)
    wrong_at_measured = np.where(measured, truth + 30.0, truth)
    record = score_map(wrong_at_measured, ctx, measured, threshold_db=-200.0)
    report = aggregate(
        [{**record, "method": "m", "pattern": "p", "map": 0, "seconds": 0.0, "points": 10}]
    )
    entry = report["results"]["m"]["p"]
    assert entry["all"]["rmse_db"] == pytest.approx(0.0, abs=1e-9)
    assert entry["share_ratio_below_3db"] == 1.0
    record = score_map(truth + 2.0, ctx, measured, threshold_db=-200.0)
    entry = aggregate(
        [{**record, "method": "m", "pattern": "p", "map": 0, "seconds": 0.0, "points": 10}]
    )["results"]["m"]["p"]
    assert entry["all"]["rmse_db"] == pytest.approx(2.0, abs=0.05)
    assert entry["all"]["bias_db"] == pytest.approx(2.0, abs=0.05)
    # PSNR over the whole image, buildings equal (0) in both: 2 dB on the labelled share only
    share = ctx.valid.mean()
    expected = 20 * np.log10(120 / 2.0) - 10 * np.log10(share)
    assert entry["ssim"] < 1.0 and entry["psnr_db"] == pytest.approx(expected, abs=0.5)


@pytest.mark.skipif(not (DATASET / "manifest.json").is_file(), reason="no dataset")
def test_evaluate_command_writes_tables_and_resumes(tmp_path):
    args = [
        "evaluate-measurements",
        str(DATASET),
        "--methods",
        "geometry,idw,regression-kriging",
        "--patterns",
        "uniform:5%,count:30",
        "--max-maps",
        "2",
        "--work-dir",
        str(tmp_path / "work"),
        "--report",
        str(tmp_path / "r"),
        "--quiet",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "| regression-kriging |" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    by = report["results"]
    # measurements help: regression kriging beats the geometry network at 5 % density
    assert (
        by["regression-kriging"]["uniform:5%"]["all"]["rmse_db"]
        < by["geometry"]["uniform:5%"]["all"]["rmse_db"]
    )
    assert (tmp_path / "r.png").stat().st_size > 10_000
    lines = (tmp_path / "work" / "records.jsonl").read_text().splitlines()
    assert len(lines) == 3 * 2 * 2
    # a second run reads the records instead of recomputing, and refuses to overwrite
    again = CliRunner().invoke(cli, args)
    assert again.exit_code != 0 and "--overwrite" in again.output
    again = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert again.exit_code == 0
    assert len((tmp_path / "work" / "records.jsonl").read_text().splitlines()) == 12
    # records made with other geometry weights (a new default network) are not reused
    work = tmp_path / "work" / "records.jsonl"
    stale = [json.loads(line) for line in work.read_text().splitlines()]
    work.write_text(
        "".join(json.dumps({**r, "geometry": "unet-obs-000000000000"}) + "\n" for r in stale)
    )
    again = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert again.exit_code == 0
    assert len(work.read_text().splitlines()) == 24
    assert json.loads((tmp_path / "r.json").read_text())["settings"]["geometry_weights"].startswith(
        "unet-obs-"
    )


def test_records_of_a_retrained_network_are_not_reused(tmp_path):
    from radiomap_geo.sparse.evaluate import _read_records, method_version

    class Net:  # what a loaded measurement model carries: its weights hash
        sha256 = "d35af4cd3d6d" + "0" * 52

    assert method_version("idw", lambda *a: None) == "idw"
    assert method_version("geo-residual", Net()) == "geo-residual-d35af4cd3d6d"
    path = tmp_path / "records.jsonl"
    old = {"method": "geo-residual", "pattern": "uniform:1%", "map": 0, "geometry": "g"}
    rows = [
        {**old, "version": "geo-residual-8286c187fdef"},  # the previous weights
        {**old, "map": 1},  # written before records named a version
        {**old, "map": 2, "version": "geo-residual-d35af4cd3d6d"},
        {"method": "idw", "pattern": "uniform:1%", "map": 0, "geometry": "g"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    versions = {"geo-residual": "geo-residual-d35af4cd3d6d", "idw": "idw"}
    assert set(_read_records(path, "g", versions)) == {
        ("geo-residual", "uniform:1%", 2),
        ("idw", "uniform:1%", 0),
    }


@pytest.mark.skipif(not DATASET.is_dir(), reason="committed dataset absent")
def test_the_maps_scored_do_not_depend_on_what_is_cached(tmp_path):
    from radiomap_geo.sparse.data import load_contexts, select_maps

    cache = tmp_path / "cache"
    four = load_contexts(DATASET, "test", max_maps=4, cache_dir=cache)
    three = load_contexts(DATASET, "test", max_maps=3, cache_dir=cache)  # 4 maps now cached
    fresh = load_contexts(DATASET, "test", max_maps=3, cache_dir=tmp_path / "empty")
    # the old choice, spread over the 4 cached maps, would have taken a different middle map
    assert (
        [c.index for c in three]
        == [c.index for c in fresh]
        != [four[i].index for i in select_maps(4, 3)]
    )


@pytest.mark.parametrize(
    ("more", "needles"),
    [
        (
            ("--methods", "nosuch"),
            ["--methods: unknown measurement model 'nosuch'", "networks ", "baselines geometry, "
             "idw, knn, random-forest, kriging, regression-kriging"],
        ),
        # the split is checked before the networks load (a missing weights file would answer)
        (("--split", "bogus", "--methods", "net:missing.pt"), ["--split: split 'bogus'",
                                                               "use one of train, val"]),
        (("--max-minutes", "nan"), ["--max-minutes: time budget nan minutes"]),
        (("--patterns", "count:0"), ["--patterns:", "count needs at least 1 point"]),
        (("--work-dir", "{dataset}/work"), ["--work-dir:", "inside the dataset folder"]),
        (("--work-dir", "{dataset}"), ["--work-dir:", "inside the dataset folder"]),
    ],
)  # fmt: skip
def test_evaluate_command_refuses_bad_settings_before_any_work(
    tiny_datasets, tmp_path, monkeypatch, more, needles
):
    monkeypatch.chdir(tmp_path)
    dataset = tiny_datasets["a"]
    before = sorted(p.name for p in dataset.rglob("*"))
    args = ["evaluate-measurements", str(dataset), "--split", "val", "--methods", "geometry",
            "--patterns", "uniform:5%", "--max-maps", "2", "--quiet",
            *(m.format(dataset=dataset) for m in more)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output
    assert sorted(p.name for p in dataset.rglob("*")) == before  # no records.jsonl in it
    assert list(tmp_path.iterdir()) == []  # no cache, no work folder
