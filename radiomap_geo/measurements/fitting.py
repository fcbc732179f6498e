"""Fitting coverage models to binned drive tests: the data table, the methods, the fitted model.

:func:`link_table` joins the bins of an imported drive test with a towers table (located or
known) into one row per bin: cell, site, sector (the cell's index within its site), position
relative to the site, month, distance, bin mean / count / variance. :func:`fit_model` fits one of
:data:`METHODS` on such rows:

* ``vae-likelihood`` (paper 004): a :class:`~radiomap_geo.measurements.learners.LinkVAE` trained
  on the link images of every bin (no labels seen), then per site a likelihood MLP on
  ``(x, y, sector, month, latent)``; predicts mean and (calibrated) sigma;
* ``vae-likelihood-geo`` (beyond the paper, the default): the same plus the geometry model's
  predicted path gain at the bin, the link's log-distance and bearing (cos, sin) as inputs, the
  count-aware variance and an ensemble of :data:`ENSEMBLE_MEMBERS` networks (see
  :mod:`~radiomap_geo.measurements.learners`);
* ``mlp``: the paper's MLP baseline on ``(x, y, sector, month)``;
* ``ldpl``: a robust log-distance fit per cell.

Sites with fewer than :data:`MIN_SITE_BINS` bins get the per-cell log-distance fit (with the
spread of its residuals as sigma) whatever the method: a neural network on a handful of points
is noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.measurements import features as feats
from radiomap_geo.measurements import learners

log = logging.getLogger(__name__)

METHODS = ("vae-likelihood", "vae-likelihood-geo", "mlp", "ldpl")
ENSEMBLE_MEMBERS = 5


@dataclass(frozen=True)
class Recipe:
    """How a method's per-site networks are built: inputs, loss and ensemble size."""

    latent: bool = False  # the VAE's latent of the link image
    geometry: bool = False  # the geometry model's path gain at the bin
    physics: bool = False  # log10 of the 3-D link distance, cos and sin of the bearing
    likelihood: bool = True  # Gaussian NLL with a variance head (else the plain MLP's MSE)
    count_aware: bool = False  # a bin's variance includes one reading's over its count
    members: int = 1


RECIPES = {
    "vae-likelihood": Recipe(latent=True),  # paper 004 as published
    "vae-likelihood-geo": Recipe(
        latent=True, geometry=True, physics=True, count_aware=True, members=ENSEMBLE_MEMBERS
    ),
    "mlp": Recipe(likelihood=False),  # the paper's baseline
    "ldpl": Recipe(likelihood=False),
}
#: Named variants scored beside the methods (cross-validation only): what the VAE latent, the
#: geometry input and the count-aware likelihood add over a plain MLP given the same distance /
#: bearing inputs and the same ensemble.
ABLATIONS = {
    "mlp-physics-x5": ("mlp", Recipe(physics=True, likelihood=False, members=ENSEMBLE_MEMBERS)),
}


def resolve_method(name: str) -> tuple[str, Recipe]:
    """``(method, recipe)`` of a method or an :data:`ABLATIONS` name."""
    if name in ABLATIONS:
        return ABLATIONS[name]
    if name not in RECIPES:
        choices = ", ".join((*METHODS, *ABLATIONS))
        raise InputError(f"unknown method {name!r}: use one of {choices}", parameter="method")
    return name, RECIPES[name]


#: The most accurate method on the Ottawa walks' 20-fold random CV (benchmarks/results/drive_tests.md).
DEFAULT_METHOD = "vae-likelihood-geo"
MIN_SITE_BINS = 15
DEFAULT_LATENT_DIM = 2


def link_table(bins, towers):
    """One row per bin with its cell's tower: see the module docstring. Bins' CRS (metres)."""
    import pandas as pd

    crs = bins.crs
    towers = towers.to_crs(crs)
    key = "cell" if "cell" in towers.columns else "cellid"
    bin_key = bins[key].astype(str) if key == "cell" else bins["cellid"].astype(str)
    tower_key = towers[key].astype(str)
    positions = pd.DataFrame(
        {
            "key": tower_key.to_numpy(),
            "sx": towers.geometry.x.to_numpy(),
            "sy": towers.geometry.y.to_numpy(),
            "height_m": towers["height_m"].to_numpy(float),
            "site": towers["site"].astype(str).to_numpy()
            if "site" in towers.columns
            else [f"{x:.0f},{y:.0f}" for x, y in zip(towers.geometry.x, towers.geometry.y)],
        }
    ).drop_duplicates("key")
    table = pd.DataFrame(
        {
            "key": bin_key.to_numpy(),
            "cell": bins["cell"].astype(str).to_numpy(),
            "x": bins.geometry.x.to_numpy(),
            "y": bins.geometry.y.to_numpy(),
            "rsrp": bins["rsrp_mean"].to_numpy(float),
            "count": bins["count"].to_numpy(int),
            "var": bins["rsrp_var"].to_numpy(float),
            "month": bins["month"].to_numpy(int),
        }
    )
    merged = table.drop(columns=[]).merge(positions, on="key", how="inner", suffixes=("", "_t"))
    missing = len(table) - len(merged)
    if missing:
        log.warning(
            "%d bins belong to cells missing from the towers table and were left out", missing
        )
    if not len(merged):
        raise InputError(
            "no bin matches a tower: the towers table's 'cell'/'cellid' values do not match "
            "the measurements' cells",
            parameter="towers",
        )
    merged["sector"] = merged.groupby("site")["cell"].transform(
        lambda c: c.map({v: i for i, v in enumerate(sorted(c.unique()))})
    )
    dx, dy = merged.x - merged.sx, merged.y - merged.sy
    merged["distance"] = np.sqrt(dx**2 + dy**2 + merged.height_m**2)
    merged.attrs["crs"] = crs
    return merged.drop(columns=["key"]).reset_index(drop=True)


@dataclass
class FittedModel:
    """A fitted coverage model: per-cell LDPL, per-site regressors, the VAE and its layers."""

    method: str
    crs: object
    cells: dict[str, dict]
    site_models: dict[str, learners.Ensemble] = field(default_factory=dict)
    vae: learners.LinkVAE | None = None
    layers: feats.Layers | None = None
    metadata: dict = field(default_factory=dict)
    recipe: Recipe | None = None  # None: the method's own (:data:`RECIPES`)

    def __post_init__(self) -> None:
        if self.recipe is None:
            self.recipe = RECIPES.get(self.method, Recipe())

    def predict(self, rows, geo_pg=None, latents=None) -> tuple[np.ndarray, np.ndarray]:
        """Mean RSRP (dBm) and sigma (dB) for rows with cell, x, y, month (a DataFrame).

        ``geo_pg``: the geometry model's path gain at the rows (``vae-likelihood-geo`` only);
        ``latents``: the rows' VAE latents when already computed (else made from images).
        """
        n = len(rows)
        mu, sigma = np.full(n, np.nan), np.full(n, np.nan)
        cells = rows["cell"].astype(str).to_numpy()
        for cell in np.unique(cells):
            if cell not in self.cells:
                continue
            idx = np.flatnonzero(cells == cell)
            info = self.cells[cell]
            site_xy = np.array([info["x"], info["y"]])
            xy = rows[["x", "y"]].to_numpy(float)[idx]
            model = self.site_models.get(info["site"])
            if model is None:
                d = np.sqrt(((xy - site_xy) ** 2).sum(1) + info["height_m"] ** 2)
                mu[idx] = learners.ldpl_predict(info["ldpl"], d)
                sigma[idx] = info["ldpl_sigma"]
                continue
            month = rows["month"].to_numpy(int)[idx]
            site = (site_xy, info["height_m"], info["sector"])
            x = self._inputs(xy, site, month, geo_pg, idx, latents)
            m, s = model.predict(x)
            mu[idx] = m
            sigma[idx] = s if s is not None else info["ldpl_sigma"]
        return mu, sigma

    def latents(self, site_xy: np.ndarray, xy: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """The VAE's latent means for links from ``site_xy`` to each point (in chunks)."""
        parts = [
            learners.encode_images(
                self.vae, feats.link_images(self.layers, site_xy, xy[i : i + chunk])
            )
            for i in range(0, len(xy), chunk)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.vae.latent_dim))

    def _inputs(self, xy, site, month, geo_pg, idx, latents=None) -> np.ndarray:
        """Network inputs for points ``xy`` of one site ``(site_xy, height_m, sector)``."""
        site_xy, height_m, sector = site
        recipe = self.recipe
        x = feats.tabular_features(xy, site_xy, np.broadcast_to(sector, len(xy)), month)
        if recipe.latent:
            z = self.latents(site_xy, xy) if latents is None else np.asarray(latents)[idx]
            x = np.column_stack([x, z])
        if recipe.geometry:
            if geo_pg is None:
                raise InputError(
                    "this model needs the geometry model's path gain at each point",
                    parameter="model",
                )
            x = np.column_stack([x, np.asarray(geo_pg, float)[idx]])
        if recipe.physics:
            x = np.column_stack([x, feats.link_features(xy, site_xy, height_m)])
        return x


def fit_model(
    table,
    method: str = DEFAULT_METHOD,
    layers: feats.Layers | None = None,
    vae: learners.LinkVAE | None = None,
    latent_dim: int = DEFAULT_LATENT_DIM,
    geo_pg: np.ndarray | None = None,
    latents: np.ndarray | None = None,
    seed: int = 0,
    vae_epochs: int = 20,
    recipe: Recipe | None = None,
) -> FittedModel:
    """Fit ``method`` on the rows of :func:`link_table` (see the module docstring).

    ``vae``: an already trained VAE (cross-validation trains it once, offline, as the paper);
    otherwise one is trained here on the rows' link images. ``layers`` are needed by the VAE
    methods; ``geo_pg`` (per row) by ``vae-likelihood-geo``; ``latents`` (per row, from this
    VAE) spare recomputing them. ``recipe`` replaces the method's own (ablations in the
    benchmark: e.g. the plain MLP with the physics inputs and an ensemble).
    """
    if method not in METHODS:
        raise InputError(
            f"unknown method {method!r}: use one of {', '.join(METHODS)}", parameter="method"
        )
    if (recipe or RECIPES[method]).latent and layers is None:
        raise InputError("the VAE methods need rasterised layers", parameter="method")
    crs = table.attrs.get("crs")
    cells = _fit_cells(table)
    model = FittedModel(method=method, crs=crs, cells=cells, layers=layers, recipe=recipe)
    if model.recipe.latent:
        model.vae = vae or train_link_vae(table, layers, latent_dim, seed, vae_epochs)
    if method == "ldpl":
        return model
    rows = table.reset_index(drop=True)
    for site, group in rows.groupby("site"):
        if len(group) < MIN_SITE_BINS:
            continue
        first = group.iloc[0]
        x = model._inputs(
            group[["x", "y"]].to_numpy(float),
            (
                np.array([first.sx, first.sy], float),
                float(first.height_m),
                group["sector"].to_numpy(float),
            ),
            group["month"].to_numpy(int),
            geo_pg,
            group.index.to_numpy(),
            latents,
        )
        recipe = model.recipe
        model.site_models[site] = learners.train_ensemble(
            x,
            group["rsrp"].to_numpy(float),
            likelihood=recipe.likelihood,
            members=recipe.members,
            seed=seed,
            counts=group["count"].to_numpy(float) if recipe.count_aware else None,
        )
    return model


def _fit_cells(table) -> dict[str, dict]:
    cells = {}
    for cell, group in table.groupby("cell"):
        params = learners.fit_ldpl(group["distance"], group["rsrp"])
        resid = group["rsrp"] - learners.ldpl_predict(params, group["distance"])
        spread = float(np.sqrt(np.mean(resid**2))) if len(group) > 2 else 8.0
        first = group.iloc[0]
        cells[str(cell)] = {
            "site": str(first["site"]),
            "sector": int(first["sector"]),
            "x": float(first["sx"]),
            "y": float(first["sy"]),
            "height_m": float(first["height_m"]),
            "ldpl": params,
            "ldpl_sigma": max(spread, 1.0),
            "n_bins": len(group),
        }
    return cells


def train_link_vae(
    table, layers, latent_dim: int = DEFAULT_LATENT_DIM, seed: int = 0, epochs: int = 20
) -> learners.LinkVAE:
    """Train the VAE on the link images of every row of a link table (no labels used)."""
    images = feats.link_images(
        layers, table[["sx", "sy"]].to_numpy(float), table[["x", "y"]].to_numpy(float)
    )
    history: list[float] = []
    vae = learners.train_vae(
        images, latent_dim=latent_dim, epochs=epochs, seed=seed, history=history
    )
    log.info(
        "VAE trained on %d link images: loss %.1f -> %.1f", len(images), history[0], history[-1]
    )
    return vae
