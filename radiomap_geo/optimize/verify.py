"""The ray tracer as the judge: the objectives of every configuration recomputed with Sionna RT.

The surrogate network chose the orientations; whether they are better is decided by ray tracing
(:func:`radiomap_geo.rt.simulate.solve_site`, the solver behind ``simulate``) each configuration
on the same scene. Two rules keep the comparison fair:

* the tracer misses weak cells at random (no ray arrives), so every configuration is scored on
  the same cells: those that *every* trace reached (and the objective counts);
* the tracer is itself noisy, so the initial configuration is traced twice with two ray seeds and
  the difference of its two objective values (the noise gap) is reported beside the gains.

Traces are cached per (site position, orientation, power, seed): sites a search left unchanged
are traced once.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from radiomap_geo.optimize.objectives import Objective
from radiomap_geo.progress import Monitor
from radiomap_geo.sites import Site, Sites


class Tracer:
    """Sionna RT on one scene with fixed settings, with a cache of per-site path gains."""

    def __init__(
        self,
        grid,
        buildings,
        *,
        rx_height_m: float = 1.5,
        samples_per_tx: int = 3_000_000,
        max_depth: int = 3,
        diffraction: bool = True,
        margin_m: float = 0.0,
        frequency_mhz: float = 3500.0,
    ):
        from radiomap_geo.rt.llvm import import_sionna_rt
        from radiomap_geo.rt.scene import build_scene

        rt = import_sionna_rt()
        self.grid = grid
        self.settings = {
            "rx_height_m": float(rx_height_m),
            "samples_per_tx": int(samples_per_tx),
            "max_depth": int(max_depth),
            "diffraction": bool(diffraction),
            "refraction": False,
        }
        has_buildings = buildings is not None and len(buildings) > 0
        self.rts = build_scene(
            grid,
            buildings if has_buildings else None,
            margin_m=margin_m,
            frequency_hz=frequency_mhz * 1e6,
        )
        self.indoor = self.rts.building_mask()
        self.solver = rt.RadioMapSolver()
        self.cache: dict[tuple, np.ndarray] = {}
        self.seconds = 0.0
        self.traces = 0

    def gain_db(self, site: Site, seed: int) -> np.ndarray:
        """Path gain (dB) of ``site``; NaN where no ray arrived or indoors."""
        from radiomap_geo.rt.simulate import gain_to_db, solve_site

        key = (
            site.x,
            site.y,
            site.height_m,
            site.antenna,
            site.frequency_mhz,
            round(site.azimuth_deg, 3),
            round(site.tilt_deg, 3),
            int(seed),
        )
        if key not in self.cache:
            t0 = time.perf_counter()
            gain = gain_to_db(
                solve_site(self.rts, self.solver, site, seed=int(seed), **self.settings)
            )
            gain[self.indoor] = np.nan
            self.cache[key] = gain.astype(np.float32)
            self.seconds += time.perf_counter() - t0
            self.traces += 1
        return self.cache[key]

    def power_dbm(self, sites: Sites, seed: int) -> np.ndarray:
        """Received power (dBm) per site, ``(n_sites, rows, cols)``; -inf where no ray."""
        maps = [s.power_dbm + self.gain_db(s, seed) for s in sites]
        return np.nan_to_num(np.stack(maps), nan=-np.inf)


def verify(
    tracer: Tracer,
    configurations: dict[str, Sites],
    objective: Objective,
    cells: np.ndarray,
    *,
    seeds: tuple[int, int] = (1, 2),
    reference: str = "initial",
    surrogate_problem: Any = None,
    monitor: Monitor | None = None,
) -> dict[str, Any]:
    """Score ``configurations`` with the tracer on the cells every trace reached.

    ``reference`` (a key of ``configurations``) is traced with both seeds; the others with the
    first. With ``surrogate_problem`` (the optimisation's :class:`~.search.Problem`) the
    surrogate's objective on the same cells is reported beside the tracer's.
    """
    t0, traces0 = tracer.seconds, tracer.traces
    total = len(configurations) + 1
    powers = {}
    for i, (name, sites) in enumerate(configurations.items()):
        if monitor is not None:
            monitor.step(i, total, f"ray tracing {name}")
        powers[name] = tracer.power_dbm(sites, seeds[0])
    if monitor is not None:
        monitor.step(total - 1, total, f"ray tracing {reference} again (seed {seeds[1]})")
    repeat = tracer.power_dbm(configurations[reference], seeds[1])
    reached = cells.copy()
    for power in [*powers.values(), repeat]:
        reached &= np.isfinite(power).any(axis=0)
    flat = np.flatnonzero(reached.reshape(-1))

    def score(power: np.ndarray) -> float:
        values = torch.as_tensor(power.reshape(power.shape[0], -1)[:, flat], dtype=torch.float64)
        return objective.hard(values)

    verified = {name: score(power) for name, power in powers.items()}
    second = score(repeat)
    out = {
        "settings": {**tracer.settings, "seeds": list(seeds)},
        "cells_compared": int(flat.size),
        "cells_target": int(cells.sum()),
        "verified": verified,
        "reference_second_seed": second,
        "noise_gap": abs(second - verified[reference]),
        "gain_over_reference": {n: v - verified[reference] for n, v in verified.items()},
        "traces": tracer.traces - traces0,
        "rt_seconds": round(tracer.seconds - t0, 2),
    }
    if surrogate_problem is not None:
        out["surrogate_same_cells"] = _surrogate_scores(surrogate_problem, configurations, flat)
    return out


def _surrogate_scores(problem, configurations: dict[str, Sites], flat: np.ndarray) -> dict:
    """The surrogate's objective of each configuration on the compared cells."""
    out = {}
    with torch.no_grad():
        for name, sites in configurations.items():
            values = torch.tensor(
                [[s.azimuth_deg, s.tilt_deg, s.power_dbm] for s in sites], dtype=torch.float32
            )
            gain = problem.surrogate.gain_db(values[:, 0], values[:, 1])
            flat_gain = gain.reshape(gain.shape[0], -1)[:, torch.as_tensor(flat)]
            out[name] = problem.objective.hard(values[:, 2:3].double() + flat_gain.double())
    return out


def verify_result(
    result,
    buildings: Any = None,
    *,
    heights: np.ndarray | None = None,
    tracer: Tracer | None = None,
    samples_per_tx: int = 3_000_000,
    max_depth: int = 3,
    seeds: tuple[int, int] = (1, 2),
    monitor: Monitor | None = None,
) -> dict[str, Any]:
    """Verify an :class:`~radiomap_geo.optimize.core.OptimizationResult` in place.

    The scene is ``buildings`` (footprints with ``height_m``), else the polygons of ``heights``
    (:func:`~radiomap_geo.optimize.scenario.buildings_from_heights`). Returns the verification,
    also stored in ``result.verification``.
    """
    if tracer is None:
        if buildings is None and heights is not None:
            from radiomap_geo.optimize.scenario import buildings_from_heights

            buildings = buildings_from_heights(heights, result.grid)
        tracer = Tracer(
            result.grid,
            buildings,
            rx_height_m=result.options.run.rx_height_m,
            samples_per_tx=samples_per_tx,
            max_depth=max_depth,
            frequency_mhz=result.initial[0].frequency_mhz,
        )
    configurations = {"initial": result.initial, **result.optimised}
    result.verification = verify(
        tracer,
        configurations,
        result.objective,
        result.cells,
        seeds=seeds,
        surrogate_problem=result.problem,
        monitor=monitor,
    )
    return result.verification
