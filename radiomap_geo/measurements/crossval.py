"""Cross-validation of the fitted models: paper 004's random k-fold and spatially blocked folds.

Random folds (the paper's 20-fold scheme) put neighbouring 10 m bins of one walk on both sides of
a split, so they reward interpolation along the walk; blocked folds assign whole
:data:`BLOCK_SIZE_M` squares to one fold, so a test bin's neighbours are never in training.
Folds are drawn per site (each site's bins are split into ``folds`` parts) and every method sees
the same folds. The VAE is trained once on the link images of all bins (no labels), as the paper
trains it offline; every other fit is redone per fold.

Scores are per held-out bin: absolute error of the bin mean, and whether it falls inside the
predicted 1-sigma and 2-sigma intervals.
"""

from __future__ import annotations

import logging

import numpy as np

from radiomap_geo.measurements import fitting
from radiomap_geo.progress import as_monitor

log = logging.getLogger(__name__)

BLOCK_SIZE_M = 100.0
DEFAULT_FOLDS = 20
MIN_CELL_SAMPLES = 30


def assign_folds(table, folds: int, blocked: bool, seed: int = 0, block_m: float = BLOCK_SIZE_M):
    """Fold number per row, drawn per site (random bins, or whole ``block_m`` squares)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(table), int)
    for _, group in table.groupby("site"):
        idx = group.index.to_numpy()
        if blocked:
            block = (
                np.floor(group.x / block_m).astype(int).astype(str)
                + ":"
                + np.floor(group.y / block_m).astype(int).astype(str)
            ).to_numpy()
            names = np.unique(block)
            fold_of = dict(zip(names, rng.permutation(len(names)) % folds))
            out[idx] = [fold_of[b] for b in block]
        else:
            out[idx] = rng.permutation(len(idx)) % folds
    return out


def cross_validate(
    table,
    methods=fitting.METHODS,
    folds: int = DEFAULT_FOLDS,
    blocked: bool = False,
    layers=None,
    vae=None,
    geo_pg=None,
    seed: int = 0,
    progress=None,
    is_cancelled=None,
    run_folds=None,
    latents=None,
):
    """Per held-out bin and method: cell, fold, truth, prediction, sigma (a DataFrame).

    ``methods``: names of :data:`~radiomap_geo.measurements.fitting.METHODS` or
    :data:`~radiomap_geo.measurements.fitting.ABLATIONS`.

    ``run_folds``: only these fold numbers (resumable benchmarks run a few at a time);
    ``latents``: every row's VAE latent, when already computed (see :func:`all_latents`).
    """
    import pandas as pd

    monitor = as_monitor(progress, is_cancelled)
    table = table.reset_index(drop=True)
    if latents is None and vae is not None:
        latents = all_latents(table, vae, layers)
    fold_id = assign_folds(table, folds, blocked, seed)
    records = []
    total = folds * len(methods)
    for k in range(folds):
        test = fold_id == k
        if not test.any() or (run_folds is not None and k not in run_folds):
            continue
        train = table.loc[~test].reset_index(drop=True)
        train.attrs = table.attrs
        held = table.loc[test].reset_index(drop=True)
        for j, method in enumerate(methods):
            monitor.step(k * len(methods) + j, total, f"fold {k + 1}/{folds} {method}")
            base, recipe = fitting.resolve_method(method)
            if recipe.geometry and geo_pg is None:
                continue
            model = fitting.fit_model(
                train,
                base,
                recipe=recipe,
                layers=layers,
                vae=vae,
                geo_pg=None if geo_pg is None else geo_pg[~test],
                latents=None if latents is None else latents[~test],
                seed=seed + k,
            )
            mu, sigma = model.predict(
                held,
                geo_pg=None if geo_pg is None else geo_pg[test],
                latents=None if latents is None else latents[test],
            )
            records.append(
                pd.DataFrame(
                    {
                        "method": method,
                        "fold": k,
                        "cell": held["cell"].to_numpy(),
                        "site": held["site"].to_numpy(),
                        "truth": held["rsrp"].to_numpy(),
                        "pred": mu,
                        "sigma": sigma,
                        "neural": held["site"].isin(list(model.site_models)).to_numpy(),
                    }
                )
            )
    monitor.step(total, total, "done")
    if not records:
        return pd.DataFrame()
    out = pd.concat(records, ignore_index=True)
    out["abs_err"] = (out.truth - out.pred).abs()
    out["in_1s"] = out.abs_err <= out.sigma
    out["in_2s"] = out.abs_err <= 2 * out.sigma
    return out


def all_latents(table, vae, layers) -> np.ndarray:
    """Latents of every row's link (rows of one site share its position)."""
    model = fitting.FittedModel(
        "vae-likelihood", table.attrs.get("crs"), {}, vae=vae, layers=layers
    )
    out = np.zeros((len(table), model.vae.latent_dim))
    for _, group in table.groupby(["sx", "sy"]):
        idx = group.index.to_numpy()
        site_xy = group[["sx", "sy"]].to_numpy(float)[0]
        out[idx] = model.latents(site_xy, group[["x", "y"]].to_numpy(float))
    return out


def cells_with_samples(table, min_samples: int = MIN_CELL_SAMPLES) -> list[str]:
    """Cells with at least ``min_samples`` samples (summed bin counts)."""
    counts = table.groupby("cell")["count"].sum()
    return sorted(counts[counts >= min_samples].index.astype(str))


def summarise(scores, cells: list[str]):
    """Pooled MAE and interval coverage per method over ``cells``; per-cell MAE table."""
    chosen = scores[scores.cell.isin(cells)]
    pooled = chosen.groupby("method").agg(
        mae_db=("abs_err", "mean"),
        bins=("abs_err", "size"),
        cover_1s=("in_1s", "mean"),
        cover_2s=("in_2s", "mean"),
    )
    per_cell = chosen.pivot_table(index="cell", columns="method", values="abs_err", aggfunc="mean")
    per_fold = chosen.groupby(["method", "cell", "fold"])["abs_err"].mean().reset_index()
    return pooled, per_cell, per_fold


def markdown_table(frame, floatfmt: str = "{:.2f}") -> str:
    """A DataFrame as a GitHub markdown table (index as the first column)."""
    header = [str(frame.index.name or ""), *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, *values in frame.itertuples():
        cells = [floatfmt.format(v) if isinstance(v, float) else str(v) for v in values]
        lines.append("| " + " | ".join([str(index), *cells]) + " |")
    return "\n".join(lines)
