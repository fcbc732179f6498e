"""Fitted-model files and the path-gain model that ``predict --model fitted:FILE`` runs.

A file is ``torch.save`` of ``{"format", "sha256", "body"}`` where ``body`` is a uint8 tensor
holding another ``torch.save`` payload (VAE and per-site network tensors in float16, per-cell
log-distance fits, the rasterised layers as packed bits, metadata) and ``sha256`` its digest.
Loading reads both levels with ``torch.load(weights_only=True)`` (no code can run) and refuses
a body whose digest differs. Files are written atomically and never overwritten unless asked.

:class:`FittedPathGainModel` serves the fitted RSRP as a path-gain model: for a site whose
``site_id`` is a fitted cell (the ``towers`` table from ``measurements locate`` uses the cell key
``mcc-mnc-lac-cellid``), ``path_gain_db = RSRP - power_dbm - rsrp_offset_db``, with the RSRP
offset of the default run options, so the ``rsrp_dbm`` band of a default run equals the fitted
RSRP; :meth:`FittedPathGainModel.std_db` gives the calibrated 1-sigma in dB.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from affine import Affine
from pyproj import CRS, Transformer

from radiomap_geo.errors import InputError, WeightsError
from radiomap_geo.io.atomic import atomic_save, check_target
from radiomap_geo.measurements import features as feats
from radiomap_geo.measurements import learners
from radiomap_geo.measurements.fitting import FittedModel, Recipe

log = logging.getLogger(__name__)

FORMAT = "radiomap-geo-fitted/1"
PREFIX = "fitted:"


def _half(state: dict) -> dict:
    return {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}


def _full(state: dict) -> dict:
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def _regressor_state(reg: learners.TrainedRegressor) -> dict:
    return {
        "likelihood": isinstance(reg.net, learners.LikelihoodMLP),
        "n_inputs": int(reg.std.mean.shape[0]),
        "state_dict": _half(reg.net.state_dict()),
        "x_mean": [float(v) for v in reg.std.mean],
        "x_scale": [float(v) for v in reg.std.scale],
        "y_mean": reg.std.y_mean,
        "y_scale": reg.std.y_scale,
        "sigma_scale": reg.sigma_scale,
        "reading_var": reg.reading_var,
    }


def _ensemble_state(ensemble: learners.Ensemble) -> dict:
    return {"members": [_regressor_state(m) for m in ensemble.members]}


def _ensemble(state: dict) -> learners.Ensemble:
    if "members" not in state:  # files written before ensembles: one network per site
        return learners.Ensemble([_regressor(state)])
    return learners.Ensemble([_regressor(m) for m in state["members"]])


def _regressor(state: dict) -> learners.TrainedRegressor:
    cls = learners.LikelihoodMLP if state["likelihood"] else learners.PlainMLP
    net = cls(state["n_inputs"])
    net.load_state_dict(_full(state["state_dict"]))
    net.eval()
    std = learners.Standardiser(
        np.array(state["x_mean"]), np.array(state["x_scale"]), state["y_mean"], state["y_scale"]
    )
    return learners.TrainedRegressor(
        net, std, sigma_scale=state["sigma_scale"], reading_var=state.get("reading_var", 0.0)
    )


def _recipe(payload: dict) -> Recipe:
    if "recipe" in payload:
        return Recipe(**payload["recipe"])
    # files written before recipes: the method's inputs as they were then, one network per site
    geo = payload["method"] == "vae-likelihood-geo"
    return Recipe(
        latent=payload["method"].startswith("vae"),
        geometry=geo,
        likelihood=payload["method"] != "mlp",
    )


def _pack(layer: np.ndarray) -> torch.Tensor:
    """A 0/1 raster as zlib-compressed packed bits (mostly empty maps shrink to kilobytes)."""
    packed = zlib.compress(np.packbits(layer > 0.5).tobytes(), 9)
    return torch.frombuffer(bytearray(packed), dtype=torch.uint8)


def to_payload(model: FittedModel) -> dict:
    """The model as plain values and tensors (what the file's body holds)."""
    payload: dict = {
        "method": model.method,
        "crs": CRS.from_user_input(model.crs).to_wkt(),
        "cells": {
            cell: {**info, "ldpl": [float(v) for v in info["ldpl"]]}
            for cell, info in model.cells.items()
        },
        "sites": {site: _ensemble_state(reg) for site, reg in model.site_models.items()},
        "recipe": dataclasses.asdict(model.recipe),
        "metadata": dict(model.metadata),
    }
    if model.vae is not None:
        payload["vae"] = {
            "latent_dim": model.vae.latent_dim,
            "size": model.vae.size,
            "width": model.vae.width,
            "state_dict": _half(model.vae.state_dict()),
        }
    if model.layers is not None:
        shape = model.layers.buildings.shape
        payload["layers"] = {
            "shape": list(shape),
            "transform": list(model.layers.transform)[:6],
            "buildings": _pack(model.layers.buildings),
            "roads": _pack(model.layers.roads),
        }
    return payload


def from_payload(payload: dict) -> FittedModel:
    """Rebuild a :class:`FittedModel` from :func:`to_payload`'s values."""
    vae = None
    if "vae" in payload:
        v = payload["vae"]
        vae = learners.LinkVAE(latent_dim=v["latent_dim"], size=v["size"], width=v["width"])
        vae.load_state_dict(_full(v["state_dict"]))
        vae.eval()
    layers = None
    if "layers" in payload:
        lay = payload["layers"]
        shape = tuple(lay["shape"])
        n = shape[0] * shape[1]

        def unpack(t):
            bits = np.frombuffer(zlib.decompress(t.numpy().tobytes()), dtype=np.uint8)
            return np.unpackbits(bits)[:n].reshape(shape).astype(np.float32)

        layers = feats.Layers(
            unpack(lay["buildings"]), unpack(lay["roads"]), Affine(*lay["transform"])
        )
    cells = {cell: {**info, "ldpl": tuple(info["ldpl"])} for cell, info in payload["cells"].items()}
    return FittedModel(
        method=payload["method"],
        crs=CRS.from_wkt(payload["crs"]),
        cells=cells,
        site_models={site: _ensemble(state) for site, state in payload["sites"].items()},
        recipe=_recipe(payload),
        vae=vae,
        layers=layers,
        metadata=payload["metadata"],
    )


def save_fitted_model(model: FittedModel, path: str | Path, overwrite: bool = False) -> str:
    """Write ``model`` to ``path`` atomically; returns the body's SHA-256."""
    check_target(path, overwrite)  # before the work: a long fit must not fail at its end
    buffer = io.BytesIO()
    torch.save(to_payload(model), buffer)
    body = buffer.getvalue()
    digest = hashlib.sha256(body).hexdigest()
    outer = {
        "format": FORMAT,
        "sha256": digest,
        "body": torch.frombuffer(bytearray(body), dtype=torch.uint8),
    }
    atomic_save(path, lambda staging: torch.save(outer, staging), overwrite=overwrite)
    return digest


def load_fitted_model(path: str | Path) -> tuple[FittedModel, str]:
    """Read and verify a fitted-model file: ``(model, sha256 of its body)``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"fitted model file {path} not found")
    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path} is not a readable fitted-model file: {exc}") from exc
    if not isinstance(outer, dict) or outer.get("format") != FORMAT:
        raise WeightsError(
            f"{path} is not a fitted coverage model ({FORMAT}); make one with "
            "'radiomap-geo measurements fit'"
        )
    body = outer["body"].numpy().tobytes()
    digest = hashlib.sha256(body).hexdigest()
    if digest != outer.get("sha256"):
        raise WeightsError(f"{path} is damaged: its content does not match its SHA-256")
    payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    return from_payload(payload), digest


class FittedPathGainModel:
    """A fitted model served through the :class:`~radiomap_geo.models.base.PathGainModel` API."""

    def __init__(
        self,
        model: FittedModel,
        name: str,
        sha256: str,
        reach_m: float | None = None,
        resolve: Callable[[str | None], object] | None = None,
    ):
        from radiomap_geo.options import RunOptions

        self.fitted = model
        self.name = name
        self.weights_sha256 = sha256
        self.reach_m = float(reach_m or model.metadata.get("reach_m", 1000.0))
        self.rsrp_offset_db = float(RunOptions().rsrp_offset_db)
        self.month = int(model.metadata.get("default_month", 0))
        self._geometry_model = None
        self._resolve = resolve  # the registry's get_model, handed in (no import cycle)
        self._last = None
        self._told_open_ground = False
        self._told_unmatched: set[str] = set()

    def check_sites(self, sites) -> None:
        """Refuse a run none of whose sites is a fitted cell; warn about the unmatched ones.

        The engine calls it once per run before any output exists (a map of NaN everywhere
        is no result). ``sites``: the run's :class:`~radiomap_geo.sites.Site` objects.
        """
        ids = [site.site_id for site in sites]
        unmatched = [i for i in ids if i not in self.fitted.cells]
        if not unmatched:
            return
        fitted = sorted(self.fitted.cells)
        shown = ", ".join(fitted[:3]) + (f" ... ({len(fitted)} cells)" if len(fitted) > 3 else "")
        if len(unmatched) == len(ids):
            raise InputError(
                f"no site of this run is a cell of the fitted model {self.name}: site_id "
                f"{_few(unmatched)} match none of its cells ({shown}); give the towers table the "
                "model was fitted with (the output of 'measurements locate', or your own towers "
                "with the same site_id cell keys mcc-mnc-lac-cellid)",
                parameter="sites",
            )
        log.warning(
            "sites %s are not fitted cells of model %s (its cells: %s): no prediction for them "
            "(the towers table's site_id must be the cell key used when fitting)",
            _few(unmatched),
            self.name,
            shown,
        )
        self._told_unmatched.update(unmatched)

    def _rows(self, site, target):
        import pandas as pd

        x, y = target.cell_centers()
        to_model = Transformer.from_crs(target.crs, self.fitted.crs, always_xy=True)
        mx, my = to_model.transform(x.ravel(), y.ravel())
        return (
            pd.DataFrame({"cell": site.site_id, "x": mx, "y": my, "month": self.month}),
            np.asarray(mx),
            np.asarray(my),
        )

    def _predict(self, scene, site, target) -> tuple[np.ndarray, np.ndarray]:
        # path_gain_db and std_db ask for the same site and window in turn: compute once.
        key = (site, target.transform, target.shape)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        result = self._compute(scene, site, target)
        self._last = (key, result)
        return result

    def _compute(self, scene, site, target) -> tuple[np.ndarray, np.ndarray]:
        info = self.fitted.cells.get(site.site_id)
        if info is None:
            if site.site_id not in self._told_unmatched:  # once per site, not per tile
                self._told_unmatched.add(site.site_id)
                log.warning(
                    "site %r is not a fitted cell of model %s: no prediction for it (the towers "
                    "table's site_id must be the cell key used when fitting)",
                    site.site_id,
                    self.name,
                )
            nan = np.full(target.shape, np.nan, np.float32)
            return nan, nan
        rows, mx, my = self._rows(site, target)
        far = np.hypot(mx - info["x"], my - info["y"]) > self.reach_m
        geo_pg = None
        if self.fitted.recipe.geometry:
            geo_pg = self._geometry(scene, site, target)
        mu, sigma = self.fitted.predict(rows, geo_pg=geo_pg)
        mu[far], sigma[far] = np.nan, np.nan
        return mu.reshape(target.shape), sigma.reshape(target.shape)

    def _geometry(self, scene, site, target) -> np.ndarray:
        """The geometry model's path gain on ``target`` (the fit's feature, same definition)."""
        from radiomap_geo.models.base import SceneInputs

        if self._geometry_model is None:
            if self._resolve is None:
                raise WeightsError(
                    f"{self.name} needs the geometry model {self.fitted.metadata.get('geometry_model')}"
                    ": load it through radiomap_geo.models.registry.get_model('fitted:...')"
                )
            self._geometry_model = self._resolve(self.fitted.metadata.get("geometry_model"))
        tx = feats.geometry_site(site.x, site.y, site.height_m, site.site_id)
        if self._fitted_on_open_ground(bool(np.any(scene.building_height > 0))):
            # the fit saw the geometry of open ground: this run's buildings would shift the input
            scene = SceneInputs(
                scene.grid, np.zeros_like(scene.building_height), rx_height_m=scene.rx_height_m
            )
        factor = _native_factor(self._geometry_model, target.resolution)
        if factor > 1:  # a network on its native sub-cells, power-averaged back (as the engine)
            fine = SceneInputs(
                scene.grid.refine(factor),
                np.repeat(np.repeat(scene.building_height, factor, 0), factor, 1),
                rx_height_m=scene.rx_height_m,
            )
            fine_gain = self._geometry_model.path_gain_db(fine, tx, target.refine(factor))
            gain = _power_mean(fine_gain, factor)
        else:
            gain = self._geometry_model.path_gain_db(scene, tx, target)
        gain = np.asarray(gain, float).ravel()
        gain[~np.isfinite(gain)] = np.nanmedian(gain) if np.isfinite(gain).any() else -120.0
        return gain

    def _fitted_on_open_ground(self, run_has_buildings: bool) -> bool:
        """Whether the fit's geometry input saw no buildings (then prediction must not either)."""
        if not str(self.fitted.metadata.get("buildings", "")).startswith("none"):
            return False
        if run_has_buildings and not self._told_open_ground:
            log.warning(
                "%s was fitted without building footprints: its geometry input ignores this "
                "run's buildings as well (refit with --buildings to use them)",
                self.name,
            )
            self._told_open_ground = True
        return True

    def path_gain_db(self, scene, site, target) -> np.ndarray:
        """Fitted RSRP minus transmit power and the default RSRP offset (see module doc)."""
        mu, _ = self._predict(scene, site, target)
        return (mu - site.power_dbm - self.rsrp_offset_db).astype(np.float32)

    def std_db(self, scene, site, target) -> np.ndarray:
        """The calibrated 1-sigma of the fitted RSRP, dB."""
        return self._predict(scene, site, target)[1].astype(np.float32)


def _few(ids: list[str], limit: int = 5) -> str:
    """Up to ``limit`` ids, quoted, and how many more."""
    text = ", ".join(repr(i) for i in ids[:limit])
    return text + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _native_factor(model, resolution: float) -> int:
    """Sub-cells per side for a network with a native cell size (the engine's rule)."""
    native = getattr(model, "native_resolution_m", None)
    if not native or resolution < 1.5 * native:
        return 1
    return int(np.floor(resolution / native + 0.5))


def _power_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """The mean linear power over ``factor`` x ``factor`` blocks, in dB (NaN ignored)."""
    rows, cols = values.shape[0] // factor, values.shape[1] // factor
    power = np.power(10.0, np.asarray(values, np.float64) / 10.0)
    blocks = power.reshape(rows, factor, cols, factor)
    count = np.isfinite(blocks).sum(axis=(1, 3))
    total = np.nansum(blocks, axis=(1, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, 10.0 * np.log10(total / np.maximum(count, 1)), np.nan)


def fitted_path_gain_model(
    spec: str, reach_m: float | None = None, resolve: Callable | None = None
) -> FittedPathGainModel:
    """``fitted:PATH`` (or a plain path) as a path-gain model, verified and logged.

    ``resolve`` (the registry's ``get_model``) builds the geometry model the
    ``vae-likelihood-geo`` method reads; it is passed in so this module never imports the
    registry.
    """
    path = Path(spec[len(PREFIX) :] if spec.lower().startswith(PREFIX) else spec).expanduser()
    model, digest = load_fitted_model(path)
    log.info("fitted model %s: method %s, sha256 %s", path, model.method, digest)
    return FittedPathGainModel(model, f"fitted:{path.name}", digest, reach_m, resolve)
