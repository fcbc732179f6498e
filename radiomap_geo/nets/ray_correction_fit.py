"""Fitting a network's ray-count correction on training tiles traced with more rays, and
writing a weights file that carries it (:mod:`radiomap_geo.nets.ray_correction`: the table).

Kept apart from the table so that :mod:`radiomap_geo.nets.model`, which applies it, does not
import the dataset and scoring code the fit needs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.nets.ray_correction import CorrectionFit, RayCountCorrection
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor


def fit_ray_correction(
    model: Any,
    dataset_dir: str | os.PathLike,
    more_rays: str | os.PathLike,
    *,
    split: str = "train",
    second_traces: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> RayCountCorrection:
    """Fit the correction of ``model`` (a registry name, weights path or network model, run
    *without* a correction) on the maps of ``split`` that ``more_rays`` traced again.

    ``second_traces``: the network was trained on labels averaged with this second run
    (``radiomap-geo train --second-traces``); the gap is then measured from those labels.

    Raises:
        InputError: ``more_rays`` holds no map of the split, or no more rays than the dataset.
    """
    from radiomap_geo.dataset import load_dataset
    from radiomap_geo.dataset.traces import map_index, with_second_traces
    from radiomap_geo.models.base import SceneInputs
    from radiomap_geo.nets.scoring import _network_of, _resolve_model, predict_tile
    from radiomap_geo.rasterize import feature_stack

    fewer, more = load_dataset(dataset_dir, split), load_dataset(more_rays, split)
    rays = tuple(float(d.manifest["config"]["samples_per_tx"]) for d in (fewer, more))
    if rays[1] <= rays[0]:
        raise InputError(
            f"{more_rays} has {rays[1]:g} rays per transmitter, not more than {rays[0]:g}"
        )
    if second_traces is not None:
        fewer, _ = with_second_traces(fewer, second_traces, split)
    net = _network_of(_resolve_model(model))
    if net is None:
        raise InputError(f"{model!r} is not a network")
    where = map_index(fewer)
    pairs = [(where[k], j) for k, j in map_index(more).items() if k in where]
    if not pairs:
        raise InputError(f"{more_rays} holds none of the {split} maps of {dataset_dir}")
    rx_height = float(fewer.manifest["config"].get("rx_height_m", 1.5))
    fit, monitor = CorrectionFit(), as_monitor(progress, is_cancelled)
    carried, net.output_correction = net.output_correction, None  # the network's own output
    try:
        for done, (i, j) in enumerate(pairs):
            monitor.check()
            tile = int(fewer.map_tile[i])
            heights = fewer.building_height_m[tile]
            scene = SceneInputs(fewer.grid(tile), heights, rx_height_m=rx_height)
            site = fewer.site(i)
            (los,) = feature_stack(scene, site, ["los"])
            first = np.where(fewer.mask[i], fewer.gain_db[i], np.nan)
            second = np.where(more.mask[j], more.gain_db[j], np.nan)
            fit.add(predict_tile(net, scene, site), los > 0.5, first, second, heights <= 0)
            monitor.step(done + 1, len(pairs), "fit ray-count correction")
    finally:
        net.output_correction = carried  # a caller's model is left as it came
    return fit.result(rays)


def with_ray_correction(
    weights: str | os.PathLike, correction: RayCountCorrection, out_dir: str | os.PathLike
) -> Path:
    """A copy of the weights file with ``correction`` in its metadata (a new ``-<sha12>.pt``)."""
    from radiomap_geo.nets.weights import load_weights, save_weights

    loaded = load_weights(weights)
    metadata = {**loaded.metadata, "output_correction": correction.to_dict()}
    name = str(loaded.metadata.get("name") or loaded.metadata["arch"])
    return save_weights(loaded.build(), metadata, out_dir, name)
