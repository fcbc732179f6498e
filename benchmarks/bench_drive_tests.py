"""Drive-test benchmark: paper 004's models on the real Ottawa LTE walks, and synthetic walks.

    nice -n 5 flock /tmp/radiomap-heavy.lock .venv/bin/python benchmarks/bench_drive_tests.py \
        --max-seconds 540          # rerun until it prints the report; every step is resumable

Steps (each cached in ``--work``, default ``runs/drive_tests``; a killed run continues):

1. import all Ottawa walk files (``../shared/data/ottawa_lte_walks``), locate the towers;
2. train the VAE once on every bin's link image (no labels), as the paper trains it offline;
3. 20-fold random CV and 20-fold spatially blocked CV (100 m blocks) of ldpl, mlp and
   vae-likelihood, per site; MAE pooled over cells with >= 30 samples, interval coverage;
4. synthetic walks on ray-traced test maps (``data/radiomaps``, known towers, 2 dB noise):
   localisation error, and a model fitted on three walks scored on a fourth (other streets);
5. the report: ``benchmarks/results/drive_tests.md`` / ``.json`` and the Fig. 4-like boxplot
   ``benchmarks/results/drive_tests_boxplot.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from radiomap_geo.measurements import crossval, fitting, learners, service  # noqa: E402
from radiomap_geo.measurements import features as feats  # noqa: E402
from radiomap_geo.measurements.locate import locate_towers  # noqa: E402
from radiomap_geo.models.base import SceneInputs  # noqa: E402
from radiomap_geo.models.registry import get_model  # noqa: E402

METHODS = ("ldpl", "mlp", "vae-likelihood")
GEO_METHODS = ("vae-likelihood-geo", "mlp-physics-x5")
SCHEMES = ("random", "blocked")
RESULTS = REPO / "benchmarks" / "results"
log = logging.getLogger("bench_drive_tests")


class Budget:
    """Stops starting new work once ``seconds`` have passed (the run is resumable)."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> bool:
        return time.monotonic() < self.end


def ottawa_inputs(work: Path, data: Path):
    meas, towers = work / "ottawa.gpkg", work / "ottawa_towers.gpkg"
    if not meas.exists():
        service.run_import(sorted(data.glob("*/*.csv")), meas)
    if not towers.exists():
        service.run_locate(meas, towers)
    return meas, towers


def ottawa_vae(work: Path, table, layers, epochs: int) -> learners.LinkVAE:
    path = work / "ottawa_vae.pt"
    if path.exists():
        vae = learners.LinkVAE()
        vae.load_state_dict(torch.load(path, weights_only=True))
        return vae.eval()
    vae = fitting.train_link_vae(table, layers, epochs=epochs)
    torch.save(vae.state_dict(), path)
    return vae


def ottawa_cv(work: Path, table, layers, vae, folds: int, budget: Budget) -> bool:
    """Run missing folds; True when every fold of both schemes is done."""
    done = True
    latents = crossval.all_latents(table, vae, layers)
    for scheme in SCHEMES:
        for k in range(folds):
            out = work / f"cv_{scheme}_{k:02d}.csv"
            if out.exists():
                continue
            if not budget.left():
                return False
            t0 = time.monotonic()
            scores = crossval.cross_validate(
                table,
                METHODS,
                folds,
                scheme == "blocked",
                layers,
                vae,
                run_folds=[k],
                latents=latents,
            )
            scores.to_csv(out, index=False)
            log.info("%s fold %d: %.0f s", scheme, k, time.monotonic() - t0)
    return done


def ottawa_geo_cv(work: Path, table, layers, vae, folds: int, budget: Budget) -> bool:
    """The beyond-the-paper default (geometry input, distance/bearing, count-aware, ensemble)
    and its ablation: the plain MLP with the same distance/bearing inputs and ensemble."""
    from radiomap_geo.measurements.geometry import geometry_path_gain

    cache = work / "ottawa_geo_pg.npy"
    if not cache.exists():
        np.save(cache, geometry_path_gain(table))
        (work / "ottawa_geo_weights.txt").write_text(_default_weights())
    geo_pg = np.load(cache)
    latents = crossval.all_latents(table, vae, layers)
    for scheme in SCHEMES:
        for k in range(folds):
            out = work / f"cv_{scheme}_geo_{k:02d}.csv"
            if out.exists():
                continue
            if not budget.left():
                return False
            scores = crossval.cross_validate(
                table,
                GEO_METHODS,
                folds,
                scheme == "blocked",
                layers,
                vae,
                geo_pg=geo_pg,
                run_folds=[k],
                latents=latents,
            )
            scores.to_csv(out, index=False)
    return True


def synthetic(work: Path, n_maps: int, budget: Budget, noise_db: float) -> bool:
    """Localisation and other-street transfer on ray-traced test maps; per-map CSV rows.

    Each map's case (walks, samples, located tower) is cached in ``synthetic_cases/`` with its
    own random stream, so a run cut short by the budget resumes at the next map.
    """
    from radiomap_geo.dataset import load_dataset

    out = work / "synthetic.csv"
    if out.exists():
        return True
    ds = load_dataset(REPO / "data" / "radiomaps", split="test")
    chosen = np.random.default_rng(7).choice(len(ds), size=min(n_maps, len(ds)), replace=False)
    cache = work / "synthetic_cases"
    cache.mkdir(exist_ok=True)
    cases = []
    for i in chosen:
        case = _cached_case(cache, ds, int(i), noise_db, budget)
        if case is False:
            return False
        if case is not None:
            cases.append(case)
    if not budget.left():
        return False
    # the lane grows the split: which maps are drawn depends on its size, so it is recorded
    rows = [{**c["row"], "drawn": len(chosen), "split_maps": len(ds)} for c in cases]
    _synthetic_transfer(cases, rows)
    pd.DataFrame(rows).to_csv(out, index=False)
    return True


def _cached_case(cache: Path, ds, i: int, noise_db: float, budget: Budget):
    """The case of map ``i`` (None when skipped), from the cache or computed; False: no time."""
    import pickle

    from radiomap_geo.measurements.synthetic import random_walk, walk_samples

    path = cache / f"map_{i:04d}_noise{noise_db:g}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    if not budget.left():
        return False
    rng = np.random.default_rng([7, i])  # one stream per map: the draw does not depend on order
    case = _synthetic_case(ds, i, rng, noise_db, random_walk, walk_samples)
    path.write_bytes(pickle.dumps(case))
    return case


def _synthetic_case(ds, i, rng, noise_db, random_walk, walk_samples):
    grid = ds.grid(int(ds.map_tile[i]))
    site = ds.site(i)
    mask = ds.mask[i] & (ds.building_height_m[ds.map_tile[i]] <= 0)
    walks = [random_walk(mask, 150, rng) for _ in range(4)]
    # Walks turn back at dead ends, so only a map without 30 connected open cells is skipped.
    if min(len({tuple(c) for c in w}) for w in walks) < 30:
        return None
    samples = walk_samples(
        ds.gain_db[i], grid, (site.x, site.y), site.height_m, walks, noise_db, rng=rng
    )
    towers = locate_towers(samples, height_m=site.height_m)
    located = towers.to_crs(grid.crs).geometry.iloc[0]
    error = float(np.hypot(located.x - site.x, located.y - site.y))
    row = {
        "map": i,
        "antenna": site.antenna,
        "samples": len(samples),
        "walk_cells": int(np.mean([len({tuple(c) for c in w}) for w in walks])),
        "loc_error_m": error,
        "uncertainty_m": float(towers.uncertainty_m.iloc[0]),
        "fitted_antenna": str(towers.antenna.iloc[0]),
    }
    heights = ds.building_height_m[ds.map_tile[i]]
    # The shipped default network's path gain on the tile: the geo variant's extra input.
    geometry = get_model().path_gain_db(SceneInputs(grid, heights), site, grid)
    return {
        "row": row,
        "samples": samples,
        "grid": grid,
        "site": site,
        "heights": heights,
        "towers": towers,
        "geometry": geometry,
    }


def _synthetic_transfer(cases, rows) -> None:
    """Fit on walks 0-2 with the true tower, score walk 3's bins not shared with training."""
    import geopandas as gpd
    from shapely.geometry import Point

    from radiomap_geo.measurements.drive_test import bin_samples

    tables, layer_list = [], []
    for case in cases:
        truth = case["towers"].copy()
        lonlat = gpd.GeoSeries([Point(case["site"].x, case["site"].y)], crs=case["grid"].crs)
        truth = truth.set_geometry(lonlat.to_crs("EPSG:4326").values)
        bins = bin_samples(case["samples"])
        table = fitting.link_table(bins.to_crs(case["grid"].crs), truth)
        tables.append(table)
        heights = case["heights"]
        layer_list.append(
            feats.Layers(
                (heights > 0).astype(np.float32),
                np.zeros_like(heights, np.float32),
                case["grid"].transform,
            )
        )
    # One VAE on every map's link images (no labels), as for Ottawa.
    images = np.concatenate(
        [
            feats.link_images(lay, t[["sx", "sy"]].to_numpy(float), t[["x", "y"]].to_numpy(float))
            for t, lay in zip(tables, layer_list)
        ]
    )
    vae = learners.train_vae(images, epochs=8)
    for case, table, layers, row in zip(cases, tables, layer_list, rows):
        test_walk = _bins_of_walk(case, table, 3)
        train = table.loc[~test_walk].reset_index(drop=True)
        train.attrs = table.attrs
        test = table.loc[test_walk].reset_index(drop=True)
        if len(test) < 3 or len(train) < fitting.MIN_SITE_BINS:
            continue
        rr, cc = case["grid"].rowcol(table.x.to_numpy(), table.y.to_numpy())
        h, w = case["geometry"].shape  # a 10 m bin's centre may lie just off the 256 m tile
        geo = case["geometry"][np.clip(rr, 0, h - 1), np.clip(cc, 0, w - 1)].astype(float)
        geo[~np.isfinite(geo)] = np.nanmedian(geo)
        for method in (*METHODS, "vae-likelihood-geo"):
            model = fitting.fit_model(train, method, layers=layers, vae=vae, geo_pg=geo[~test_walk])
            mu, _ = model.predict(test, geo_pg=geo[test_walk])
            row[f"transfer_mae_{method}"] = float(np.mean(np.abs(mu - test.rsrp)))
        row["transfer_test_bins"] = len(test)


def _bins_of_walk(case, table, walk: int) -> np.ndarray:
    """Bins visited by walk ``walk`` only (a bin also walked by a training walk is left out)."""
    s = case["samples"].to_crs(case["grid"].crs)
    key = (
        np.floor(s.geometry.x / 10).astype(int).astype(str)
        + ":"
        + np.floor(s.geometry.y / 10).astype(int).astype(str)
    )
    test_keys = set(key[s.source_file == f"walk-{walk}"])
    train_keys = set(key[s.source_file != f"walk-{walk}"])
    only = test_keys - train_keys
    tkey = (
        np.floor(table.x / 10).astype(int).astype(str)
        + ":"
        + np.floor(table.y / 10).astype(int).astype(str)
    )
    return tkey.isin(only).to_numpy()


def _default_weights() -> str:
    """The default network's weights file (its name carries the SHA-256 prefix)."""
    from radiomap_geo.models.registry import read_index

    return next((e["file"] for e in read_index().values() if e.get("default")), "unknown")


def report(work: Path, table, towers_path: Path, folds: int) -> dict:
    import geopandas as gpd

    cells = crossval.cells_with_samples(table)
    out: dict = {"cells_with_30_samples": len(cells), "folds": folds}
    lines = [
        "# Drive-test benchmark (paper 004 on the Ottawa LTE walks)",
        "",
        "Command: `nice -n 5 flock /tmp/radiomap-heavy.lock .venv/bin/python "
        "benchmarks/bench_drive_tests.py` (resumable; rerun until the report is written).",
        "",
    ]
    weights = work / "ottawa_geo_weights.txt"
    if weights.exists():
        out["geometry_weights"] = weights.read_text().strip()
        lines += [f"Geometry input (`vae-likelihood-geo`): `{out['geometry_weights']}`.", ""]
    per_fold_all = []
    for scheme in SCHEMES:
        scores = pd.concat([pd.read_csv(p) for p in sorted(work.glob(f"cv_{scheme}_*.csv"))])
        pooled, per_cell, per_fold = crossval.summarise(scores, cells)
        pooled["folds_done"] = scores.groupby("method").fold.nunique()
        per_fold_all.append(per_fold.assign(scheme=scheme))
        mae = pooled["mae_db"]
        ratio = {
            "vs_ldpl": mae["vae-likelihood"] / mae["ldpl"],
            "geo_vs_ldpl": mae.get("vae-likelihood-geo", np.nan) / mae["ldpl"],
            "geo_vs_mlp": mae.get("vae-likelihood-geo", np.nan) / mae["mlp"],
            "geo_vs_ablation": mae.get("vae-likelihood-geo", np.nan)
            / mae.get("mlp-physics-x5", np.nan),
            "vs_mlp": mae["vae-likelihood"] / mae["mlp"],
        }
        out[scheme] = {
            "pooled": pooled.reset_index().to_dict("records"),
            "ratios": ratio,
            "per_cell_mae": per_cell.reset_index().to_dict("records"),
        }
        lines += [
            f"## {folds}-fold {scheme} CV, cells with >= 30 samples ({len(cells)} cells)",
            "",
            crossval.markdown_table(pooled, "{:.3f}"),
            "",
            "Shipped default `vae-likelihood-geo` (paper 004's VAE + likelihood model with the "
            "geometry network's path gain, link distance and bearing as inputs, count-aware "
            f"variance, 5-network ensemble): / log-distance {ratio['geo_vs_ldpl']:.3f} "
            f"(target <= 0.8), / the paper's plain MLP {ratio['geo_vs_mlp']:.3f} (target <= 0.9); "
            "ablation `mlp-physics-x5` (the plain MLP with the same distance and bearing inputs "
            f"and a 5-network ensemble): default / ablation {ratio['geo_vs_ablation']:.3f}. "
            f"Paper-exact `vae-likelihood`: / log-distance {ratio['vs_ldpl']:.3f}, / plain MLP "
            f"{ratio['vs_mlp']:.3f}. cover_1s / cover_2s: share of held-out bins inside the "
            "predicted 1-sigma / 2-sigma interval (targets 0.60-0.76 / 0.90-0.98; ldpl's sigma is "
            "its residual RMS, the MLPs' that of ldpl).",
            "",
            "Per-cell MAE (dB):",
            "",
            crossval.markdown_table(per_cell),
            "",
        ]
    towers = gpd.read_file(towers_path).drop_duplicates("site")
    finite = towers[np.isfinite(towers.uncertainty_m)]
    out["ottawa_towers"] = {
        "sites": len(towers),
        "determined": len(finite),
        "uncertainty_m_median": float(finite.uncertainty_m.median()),
        "rms_rss_db_median": float(towers.rms_rss_db.median()),
        "rms_ta_m_median": float(towers.rms_ta_m.median()),
    }
    lines += [
        "## Tower localisation, Ottawa (no ground truth)",
        "",
        f"{len(towers)} sites; {len(finite)} determined (the others have too few samples); "
        f"median 95 % uncertainty radius {finite.uncertainty_m.median():.0f} m; median RSS "
        f"residual RMS {towers.rms_rss_db.median():.1f} dB; median TA-ring residual RMS "
        f"{towers.rms_ta_m.median():.0f} m.",
        "",
    ]
    syn_path = work / "synthetic.csv"
    if syn_path.exists():
        lines += _synthetic_report(pd.read_csv(syn_path), out)
    _boxplot(pd.concat(per_fold_all), RESULTS / "drive_tests_boxplot.png")
    (RESULTS / "drive_tests.md").write_text("\n".join(lines))
    (RESULTS / "drive_tests.json").write_text(json.dumps(out, indent=1, default=float))
    print("\n".join(lines))
    return out


def _synthetic_report(syn: pd.DataFrame, out: dict) -> list[str]:
    """Localisation (all maps, and per antenna type) and other-street transfer lines."""
    within = float((syn.loc_error_m <= 30).mean())
    lo, hi = _wilson_interval(int((syn.loc_error_m <= 30).sum()), len(syn))
    out["synthetic"] = {
        "maps": len(syn),
        "drawn": int(syn.drawn.iloc[0]),
        "within_30m": within,
        "within_30m_95ci": [lo, hi],
        "loc_error_m_median": float(syn.loc_error_m.median()),
        "error_within_uncertainty": float((syn.loc_error_m <= syn.uncertainty_m).mean()),
    }
    per_type = []
    for antenna, part in syn.groupby("antenna"):
        share = float((part.loc_error_m <= 30).mean())
        out["synthetic"][f"within_30m_{antenna}"] = share
        per_type.append(
            f"{antenna} {share:.0%} of {len(part)} (median {part.loc_error_m.median():.1f} m)"
        )
    lines = [
        "## Synthetic walks on ray-traced test maps (known towers, 2 dB noise)",
        "",
        f"{len(syn)} maps kept of {int(syn.drawn.iloc[0])} drawn from the "
        f"{int(syn.split_maps.iloc[0]) if 'split_maps' in syn else '?'} maps of the test split "
        "(walks turn back at dead ends; a "
        "map is skipped only when a walk covers under 30 cells), 4 walks of 150 cells each, "
        f"isotropic and sector antennas, antenna height given: located within 30 m for "
        f"{within:.0%} of sites (95 % Wilson interval {lo:.0%}-{hi:.0%}; target >= 80 %); "
        f"median error {syn.loc_error_m.median():.1f} m. Per antenna type: "
        + "; ".join(per_type)
        + ". Error within the reported 95 % uncertainty radius for "
        f"{out['synthetic']['error_within_uncertainty']:.0%} of sites.",
        "",
    ]
    cols = [c for c in syn.columns if c.startswith("transfer_mae_")]
    if cols:
        t = syn.dropna(subset=cols)
        means = {c.removeprefix("transfer_mae_"): float(t[c].mean()) for c in cols}
        out["synthetic"]["transfer_mae"] = means
        ratio = means["vae-likelihood"] / means["ldpl"]
        geo_ratio = means.get("vae-likelihood-geo", np.nan) / means["ldpl"]
        lines += [
            f"Fitted on three walks, scored on the fourth walk's own bins ({len(t)} maps): "
            + ", ".join(f"{k} {v:.2f} dB" for k, v in means.items())
            + f"; VAE + likelihood / log-distance = {ratio:.3f}, with the geometry input "
            f"{geo_ratio:.3f} (target <= 0.8).",
            "",
        ]
    return lines


def _wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a share k / n (sound for shares near 0 or 1)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def _boxplot(per_fold: pd.DataFrame, path: Path) -> None:
    """Fig. 4-like: per-fold MAE per cell, methods side by side, for the random folds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = per_fold[per_fold.scheme == "random"]
    cells = sorted(data.cell.unique())
    fig, ax = plt.subplots(figsize=(12, 4), dpi=80)
    colours = {
        "ldpl": "tab:grey",
        "mlp": "tab:blue",
        "vae-likelihood": "tab:red",
        "vae-likelihood-geo": "tab:orange",
    }
    methods = [m for m in colours if m in set(data.method)]
    for j, method in enumerate(methods):
        boxes = [data[(data.cell == c) & (data.method == method)].abs_err.to_numpy() for c in cells]
        pos = np.arange(len(cells)) * (len(methods) + 1) + j
        bp = ax.boxplot(boxes, positions=pos, widths=0.8, patch_artist=True, showfliers=False)
        for patch in bp["boxes"]:
            patch.set_facecolor(colours[method])
        ax.plot([], [], color=colours[method], lw=6, label=method)
    ax.set_xticks(np.arange(len(cells)) * (len(methods) + 1) + (len(methods) - 1) / 2)
    ax.set_xticklabels([c.split("-")[-1] for c in cells], rotation=60, fontsize=7)
    ax.set_ylabel("fold MAE (dB)")
    ax.set_xlabel("cell id (Ottawa LTE walks, random CV, one box = the folds' MAE)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "drive_tests")
    parser.add_argument(
        "--data", type=Path, default=REPO.parent / "shared" / "data" / "ottawa_lte_walks"
    )
    parser.add_argument("--folds", type=int, default=20)
    parser.add_argument("--vae-epochs", type=int, default=8)
    parser.add_argument("--synthetic-maps", type=int, default=40)
    parser.add_argument("--noise-db", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=540.0)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="Write the report from the steps finished so far (partial folds are counted).",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    torch.set_num_threads(1)
    budget = Budget(args.max_seconds)
    args.work.mkdir(parents=True, exist_ok=True)
    meas, towers = ottawa_inputs(args.work, args.data)
    table, layers, _ = service.prepare(meas, towers)
    if args.report_only:
        report(args.work, table, towers, args.folds)
        return
    vae = ottawa_vae(args.work, table, layers, args.vae_epochs)
    complete = ottawa_cv(args.work, table, layers, vae, args.folds, budget)
    complete = complete and ottawa_geo_cv(args.work, table, layers, vae, args.folds, budget)
    complete = complete and synthetic(args.work, args.synthetic_maps, budget, args.noise_db)
    if not complete:
        print("time budget used up: rerun the same command to continue", file=sys.stderr)
        sys.exit(75)
    report(args.work, table, towers, args.folds)


if __name__ == "__main__":
    main()
