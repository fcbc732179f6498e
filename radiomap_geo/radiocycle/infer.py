"""Infer the building map (and the radio map) of an area from measured values alone.

The core of ``radiomap-geo infer-buildings``: measurements (the product's one reader,
:mod:`radiomap_geo.measurements.points`) are averaged onto the requested grid, converted to path
gain with the serving site's power (and the RSRP offset of the carrier), and fed to generator F;
G then turns F's building probabilities into a radio map whose level is fitted to the measured
cells (G alone knows no transmit power or antenna pattern).

With several sites, F runs once per site that has measurements (they need a ``site_id`` column)
and the probabilities are averaged, weighted by each site's number of measured cells.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.options import RunOptions
from radiomap_geo.padded import run_padded
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor
from radiomap_geo.radiocycle.data import (
    denormalise,
    encode_f,
    encode_g,
    normalise_db,
    transmitter_channels,
)
from radiomap_geo.radiocycle.weights import DEFAULT_MODEL, LoadedModel, load_model
from radiomap_geo.sparse.exposure import to_path_gain_db

logger = logging.getLogger(__name__)

#: Probability above which a cell is called a building (the mask band and the polygons).
DEFAULT_THRESHOLD = 0.5


@dataclass
class BuildingInference:
    """Result on ``grid``: building probability, mask, and radio map (path gain, dB)."""

    grid: Grid
    probability: np.ndarray
    mask: np.ndarray
    path_gain_db: np.ndarray
    measured_cells: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class SiteReconstruction:
    """F and G on one site's measurements (arrays on the grid)."""

    site: Any  # radiomap_geo.sites.Site
    measured: np.ndarray  # cells holding a measured value
    path_gain_db: np.ndarray  # the measured path gain (NaN elsewhere)
    probability: np.ndarray  # F's building probability
    radio_db: np.ndarray  # G's path gain, its level fitted to the measured cells


def load_radiocycle(model: str | LoadedModel, grid: Grid) -> LoadedModel:
    """A model with both generators, warned about when ``grid``'s cells are far from its own."""
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    if "f" not in loaded.nets:
        raise InputError(
            f"model {loaded.name!r} has no building generator F; use radiocycle",
            parameter="model",
        )
    trained_res = float(loaded.metadata.get("resolution_m", grid.resolution))
    if abs(grid.resolution / trained_res - 1) > 0.5:
        logger.warning(
            "resolution %g m is far from the %g m the model was trained at: expect blurred or "
            "missed buildings",
            grid.resolution,
            trained_res,
        )
    return loaded


def site_channels(grid: Grid, site) -> tuple[np.ndarray, np.ndarray]:
    """The transmitter planes ``(tx, tx_distance)`` of ``site`` on ``grid``."""
    rc = (
        (grid.transform.f - site.y) / grid.resolution - 0.5,
        (site.x - grid.transform.c) / grid.resolution - 0.5,
    )
    return transmitter_channels(grid.shape, rc, grid.resolution)


def radio_map(loaded: LoadedModel, probability: np.ndarray, grid: Grid, site) -> np.ndarray:
    """G's path gain (dB) of ``site`` over a building-probability map, at the training level."""
    tx, dist = site_channels(grid, site)
    return denormalise(run_padded(loaded.nets["g"], encode_g(probability, tx, dist)))


def _site_maps(sites, gridded, measurements) -> list[tuple[Any, np.ndarray]]:
    """``(site, measured value array)`` per site that has measurements."""
    if gridded.site_ids is None:
        if len(sites) != 1:
            raise InputError(
                f"the measurements have no site_id column but the sites file has {len(sites)} "
                "sites: add a site_id column naming each value's serving site, or give one site",
                parameter="measurements",
            )
        return [(sites[0], gridded.to_array()[0])]
    measurements.require_sites([s.site_id for s in sites])
    return [
        (site, gridded.to_array(site.site_id)[0])
        for site in sites
        if np.any(gridded.site_ids == site.site_id)
    ]


def reconstruct_sites(
    loaded: LoadedModel, grid: Grid, sites, measurements, gridded, options: RunOptions, monitor
) -> list[SiteReconstruction]:
    """F then G for every site with measurements (values need a ``site_id`` with several);
    ``gridded`` are the ``measurements`` on ``grid``.
    """
    per_site = _site_maps(sites, gridded, measurements)
    out = []
    for k, (site, values) in enumerate(per_site):
        measured = np.isfinite(values)
        pg = to_path_gain_db(
            values,
            measurements.value_kind,
            power_dbm=site.power_dbm,
            rsrp_offset_db=options.rsrp_offset_db,
            frequency_mhz=site.frequency_mhz,
        )
        tx, dist = site_channels(grid, site)
        x = encode_f(normalise_db(np.where(measured, pg, -160.0)), measured, tx, dist)
        prob = 1 / (1 + np.exp(-run_padded(loaded.nets["f"], x)))
        radio = radio_map(loaded, prob, grid, site)
        # G knows no transmit power or antenna pattern: the measurements set its level
        radio += float(np.mean(pg[measured] - radio[measured]))
        out.append(SiteReconstruction(site, measured, pg, prob, radio))
        monitor.step(k + 1, len(per_site), f"site {site.site_id}")
    return out


def combined_probability(sites: list[SiteReconstruction]) -> np.ndarray:
    """F's probabilities of all sites, weighted by each site's number of measured cells."""
    counts = [int(s.measured.sum()) for s in sites]
    total = sum(n * s.probability.astype(np.float64) for n, s in zip(counts, sites, strict=True))
    return (total / sum(counts)).astype(np.float32)


def infer_buildings(
    measurements,
    sites,
    grid: Grid,
    *,
    model: str | LoadedModel = DEFAULT_MODEL,
    threshold: float = DEFAULT_THRESHOLD,
    options: RunOptions | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> BuildingInference:
    """Building probability, mask and radio map on ``grid`` from measurements alone.

    Args:
        measurements: a :class:`~radiomap_geo.measurements.points.Measurements` or a file path.
        sites: a path or :class:`~radiomap_geo.sites.Sites` (power for the path-gain conversion).
        grid: the output grid.
        model: a shipped RadioCycle model name or a loaded model.
        threshold: probability of the mask band and polygons, in (0, 1).
        options: carrier settings for the RSRP offset (defaults of :class:`RunOptions`).
    """
    from radiomap_geo.inputs import load_sites
    from radiomap_geo.measurements.points import Measurements, read_measurements

    if not 0 < threshold < 1:
        raise InputError(f"threshold {threshold} must be in (0, 1)", parameter="threshold")
    monitor = as_monitor(progress, is_cancelled)
    if not isinstance(measurements, Measurements):
        measurements = read_measurements(os.fspath(measurements))
    loaded = load_radiocycle(model, grid)
    site_list = load_sites(sites, grid)
    gridded = measurements.to_grid(grid)
    options = options or RunOptions()
    per_site = reconstruct_sites(loaded, grid, site_list, measurements, gridded, options, monitor)
    probability = combined_probability(per_site)
    gain = np.max(np.stack([s.radio_db for s in per_site]), axis=0)  # the strongest site
    return BuildingInference(
        grid=grid,
        probability=probability,
        mask=probability >= threshold,
        path_gain_db=gain.astype(np.float32),
        measured_cells=sum(int(s.measured.sum()) for s in per_site),
        metadata={
            "model": loaded.name,
            "threshold": threshold,
            "sites": [s.site.site_id for s in per_site],
            "value_kind": measurements.value_kind,
        },
    )
