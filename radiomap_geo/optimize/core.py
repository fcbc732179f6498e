"""``optimize_sites``: point the antennas through a frozen coverage network (paper 002, IV).

The network is the surrogate (:mod:`radiomap_geo.optimize.surrogate`), the objective one of
:mod:`radiomap_geo.optimize.objectives`, the search gradient descent and/or random search with
the same budget (:mod:`radiomap_geo.optimize.search`) over the domain of
:mod:`radiomap_geo.optimize.domain`. :func:`radiomap_geo.optimize.verify.verify` then asks the
ray tracer to judge the configurations.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from radiomap_geo.antenna import get_pattern
from radiomap_geo.coverage import noise_power_dbm
from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.optimize.domain import PARAMETERS, bounds, target_cells
from radiomap_geo.optimize.objectives import Objective
from radiomap_geo.optimize.options import OptimizeOptions
from radiomap_geo.optimize.search import SEARCHES, Problem, SearchResult
from radiomap_geo.optimize.surrogate import check_inputs, make_surrogate
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor
from radiomap_geo.sites import Sites

log = logging.getLogger(__name__)


@dataclass
class OptimizationResult:
    """The start, the best configuration of each method, and everything to judge them."""

    grid: Grid
    initial: Sites
    optimised: dict[str, Sites]
    searches: dict[str, SearchResult]
    objective: Objective
    options: OptimizeOptions
    cells: np.ndarray  # bool, grid.shape: the cells the objective counts
    model: str
    seconds: float
    verification: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    problem: Problem | None = field(default=None, repr=False)

    @property
    def best_method(self) -> str:
        """The method with the best surrogate objective (gradient on ties)."""
        return max(self.searches, key=lambda m: (self.searches[m].best_value, m == "gradient"))

    @property
    def best(self) -> Sites:
        """The best configuration found."""
        return self.optimised[self.best_method]

    def report(self) -> dict[str, Any]:
        """JSON-ready report: objective before/after per method, evaluations, time, curves."""
        out = {
            "model": self.model,
            "objective": {
                "name": self.objective.name,
                "unit": self.objective.unit,
                "percentile": self.objective.percentile,
                "threshold_dbm": self.objective.threshold_dbm,
                "threshold_db": self.objective.threshold_db,
                "temperature_db": self.objective.temperature_db,
                "slope_db": self.objective.slope_db,
                "noise_dbm": self.objective.noise_dbm,
                "rsrp_offset_db": self.objective.rsrp_offset_db,
            },
            "options": self.options.to_dict(),
            "grid": {
                "crs": self.grid.crs.to_string(),
                "shape": list(self.grid.shape),
                "resolution_m": self.grid.resolution,
                "bounds": list(self.grid.bounds),
            },
            "target_cells": int(self.cells.sum()),
            "cell_area_m2": self.grid.resolution**2,
            "best_method": self.best_method,
            "seconds": round(self.seconds, 2),
            "methods": {name: search.summary() for name, search in self.searches.items()},
            "sites": _site_table(self.initial, self.optimised),
        }
        if self.verification is not None:
            out["verification"] = self.verification
        out.update(self.extra)
        return out


#: Objective parameters that :class:`OptimizeOptions` holds under the same names.
OBJECTIVE_SETTINGS = ("percentile", "threshold_dbm", "threshold_db", "temperature_db", "slope_db")


def make_objective(options: OptimizeOptions) -> Objective:
    """The objective of ``options`` with its noise floor and RSRP offset (from the receiver)."""
    run = options.run
    return Objective(
        options.objective,
        noise_dbm=noise_power_dbm(run.bandwidth_mhz, run.noise_figure_db),
        rsrp_offset_db=run.rsrp_offset_db,
        **{name: getattr(options, name) for name in OBJECTIVE_SETTINGS},
    )


def optimize_sites(
    grid: Grid,
    sites: Sites,
    buildings: Any = None,
    *,
    model: Any = None,
    options: OptimizeOptions | None = None,
    target_area: Any = None,
    heights: np.ndarray | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> OptimizationResult:
    """Optimise the orientation (and optionally power) of ``sites`` over ``grid``.

    Args:
        grid: The area (metric CRS), at the network's cell size (2 m for the shipped ones).
        sites: The start configuration; ``azimuth_deg`` / ``tilt_deg`` / ``power_dbm`` change.
        buildings: Footprints with ``height_m`` (any CRS), or None; ignored with ``heights``.
        model: A model name (default network), ``net:PATH`` or a model object.
        options: :class:`OptimizeOptions` (defaults if None).
        target_area: Polygons (GeoDataFrame or a vector file path) the objective is restricted
            to; default the whole area. Indoor cells never count.
        heights: Building heights (m) already rasterised on ``grid``, instead of ``buildings``.
        progress: ``progress(done, total, message)`` callback.
        is_cancelled: ``is_cancelled()`` callback, polled every evaluation.

    Raises:
        InputError: bad options, an isotropic site whose azimuth is optimised, an empty target
            area, gradient descent through a model without gradients (the baselines), a model
            that reads rasters (an nDSM, an orthophoto).
        Cancelled: ``is_cancelled()`` returned True.
    """
    options = options or OptimizeOptions()
    options.validate()
    t0 = time.perf_counter()
    monitor = as_monitor(progress, is_cancelled)
    sites = sites.to_crs(grid.crs)
    sites.require_inside(grid)
    free_sites = _free_sites(sites, options)
    model_obj = resolve_model(model)
    if heights is None:
        from radiomap_geo.rasterize import rasterize_buildings

        heights = rasterize_buildings(buildings, grid)
    cells = target_cells(grid, heights, target_area)
    scene = SceneInputs(grid, np.asarray(heights, np.float32), rx_height_m=options.run.rx_height_m)
    surrogate = make_surrogate(model_obj, scene, list(sites))
    methods = ["gradient", "random"] if options.method == "both" else [options.method]
    if "gradient" in methods and not surrogate.differentiable:
        raise InputError(
            f"model {surrogate.name!r} has no gradient with respect to the antenna orientation "
            "(a physics baseline, or a network without an antenna-gain or azimuth input): use "
            "method 'random', or a network such as the default",
            parameter="method",
        )
    start, low, high = bounds(list(sites), heights, grid, options.limits)
    free = np.zeros_like(start, bool)
    for column, name in enumerate(PARAMETERS):
        if name in options.params:
            free[:, column] = free_sites
    problem = Problem(
        surrogate=surrogate,
        objective=make_objective(options),
        cells=torch.as_tensor(np.flatnonzero(cells.reshape(-1))),
        start=start,
        low=low,
        high=high,
        free=free,
    )
    searches = {method: SEARCHES[method](problem, options, monitor) for method in methods}
    initial = _with_values(sites, start)
    optimised = {name: _with_values(sites, s.best) for name, s in searches.items()}
    return OptimizationResult(
        grid=grid,
        initial=initial,
        optimised=optimised,
        searches=searches,
        objective=problem.objective,
        options=options,
        cells=cells,
        model=surrogate.name,
        seconds=time.perf_counter() - t0,
        extra={"domain": {"low": low.round(3).tolist(), "high": high.round(3).tolist()}},
        problem=problem,
    )


def resolve_model(model: Any = None) -> Any:
    """The model object of ``model`` (a name, ``net:PATH``, None for the default, or a model),
    refused when it reads inputs the optimisation cannot give it (an nDSM, an orthophoto).

    Front ends call it before reading any input, so a wrong model fails at once.

    Raises:
        InputError: an unknown name, or a model that reads rasters (the message lists the
            models the optimisation can use).
    """
    if model is None or not hasattr(model, "path_gain_db"):
        from radiomap_geo.models.registry import get_model

        model = get_model(model)
    check_inputs(model)
    return model


def _free_sites(sites: Sites, options: OptimizeOptions) -> np.ndarray:
    """Which sites are optimised; errors for unknown fixed ids and isotropic free sites."""
    unknown = sorted(set(options.fixed) - set(sites.ids))
    if unknown:
        raise InputError(
            f"fixed site(s) {unknown} are not in the sites table (ids: {sites.ids[:10]})",
            parameter="fixed",
        )
    free = np.array([s.site_id not in options.fixed for s in sites])
    if not free.any():
        raise InputError("every site is fixed: nothing to optimise", parameter="fixed")
    if "azimuth" in options.params:
        omni = [s.site_id for s, f in zip(sites, free) if f and get_pattern(s.antenna).is_isotropic]
        if omni:
            raise InputError(
                f"site(s) {omni} have no directional antenna (antenna 'iso'), so their azimuth "
                "cannot be optimised: give them a sector antenna (tr38901 or a pattern file), "
                "or keep them fixed",
                parameter="params",
            )
    return free


def _with_values(sites: Sites, values: np.ndarray) -> Sites:
    items = [
        replace(
            s,
            azimuth_deg=float(round(v[0] % 360.0, 3)),
            tilt_deg=float(round(v[1], 3)),
            power_dbm=float(round(v[2], 3)),
        )
        for s, v in zip(sites, values)
    ]
    return Sites(tuple(items), sites.crs)


def _site_table(initial: Sites, optimised: dict[str, Sites]) -> list[dict[str, Any]]:
    rows = []
    for i, site in enumerate(initial):
        row = {
            "site_id": site.site_id,
            "start": [site.azimuth_deg, site.tilt_deg, site.power_dbm],
        }
        for name, sites in optimised.items():
            s = sites[i]
            row[name] = [s.azimuth_deg, s.tilt_deg, s.power_dbm]
        rows.append(row)
    return rows


def finite(value: float) -> float | None:
    """JSON-safe number (None for NaN/inf)."""
    return value if math.isfinite(value) else None
