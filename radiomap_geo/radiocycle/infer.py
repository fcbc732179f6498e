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
import torch

from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.options import RunOptions
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor
from radiomap_geo.radiocycle.data import (
    denormalise,
    encode_f,
    encode_g,
    normalise_db,
    transmitter_channels,
)
from radiomap_geo.radiocycle.weights import DEFAULT_MODEL, LoadedModel, load_model

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


def to_path_gain(values: np.ndarray, kind: str, power_dbm: float, options: RunOptions):
    """Measured values in their canonical unit -> path gain (dB) of a site of ``power_dbm``."""
    if kind == "path-gain":
        return values
    if kind == "rx-power":
        return values - power_dbm
    if kind == "rsrp":
        return values - options.rsrp_offset_db - power_dbm
    raise InputError(
        f"value kind {kind!r} cannot be turned into path gain for building inference; give "
        "rsrp, rx-power or path-gain measurements",
        parameter="measurements",
    )


def _pad(shape: tuple[int, int], multiple: int) -> tuple[int, int]:
    return (-(-shape[0] // multiple) * multiple, -(-shape[1] // multiple) * multiple)


def _run(net, channels: np.ndarray, multiple: int) -> np.ndarray:
    """A network on a ``(C, H, W)`` stack, zero-padded to its size multiple."""
    h, w = channels.shape[1:]
    hh, ww = _pad((h, w), multiple)
    x = np.zeros((1, channels.shape[0], hh, ww), np.float32)
    x[0, :, :h, :w] = channels
    with torch.no_grad():
        return net(torch.from_numpy(x))[0, 0, :h, :w].numpy()


def _site_maps(grid: Grid, sites, gridded, measurements) -> list[tuple[Any, np.ndarray]]:
    """``(site, measured path-gain-or-value array)`` per site that has measurements."""
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
    options = options or RunOptions()
    if not isinstance(measurements, Measurements):
        measurements = read_measurements(os.fspath(measurements))
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
    site_list = load_sites(sites, grid)
    gridded = measurements.to_grid(grid)
    if len(gridded) == 0:
        raise InputError(
            f"no measurement lies inside the grid {grid.bounds} ({grid.crs.to_string()}): check "
            "the bbox and the measurement file's CRS",
            parameter="measurements",
        )
    per_site = _site_maps(grid, site_list, gridded, measurements)
    f, g = loaded.nets["f"], loaded.nets["g"]
    probability = np.zeros(grid.shape, np.float64)
    gain = np.zeros(grid.shape, np.float64)
    total = 0
    for k, (site, values) in enumerate(per_site):
        measured = np.isfinite(values)
        pg = to_path_gain(values, measurements.value_kind, site.power_dbm, options)
        rc = (
            (grid.transform.f - site.y) / grid.resolution - 0.5,
            (site.x - grid.transform.c) / grid.resolution - 0.5,
        )
        tx, dist = transmitter_channels(grid.shape, rc, grid.resolution)
        x = encode_f(normalise_db(np.where(measured, pg, -160.0)), measured, tx, dist)
        prob = 1 / (1 + np.exp(-_run(f, x, f.size_multiple)))
        radio = denormalise(_run(g, encode_g(prob, tx, dist), g.size_multiple))
        bias = float(np.mean(pg[measured] - radio[measured]))
        n = int(measured.sum())
        probability += n * prob
        gain = np.maximum(gain, radio + bias) if k else radio + bias
        total += n
        monitor.step(k + 1, len(per_site), f"site {site.site_id}")
    probability = (probability / total).astype(np.float32)
    return BuildingInference(
        grid=grid,
        probability=probability,
        mask=probability >= threshold,
        path_gain_db=gain.astype(np.float32),
        measured_cells=total,
        metadata={
            "model": loaded.name,
            "threshold": threshold,
            "sites": [s.site_id for s, _ in per_site],
            "value_kind": measurements.value_kind,
        },
    )
