"""Scoring networks and baselines on a dataset split (the core of ``radiomap-geo evaluate``).

:func:`evaluate_on_dataset` scores a network, the empirical baselines and, optionally, a second
Sionna RT run of some tiles (the tracer's own noise) on a split: RMSE, MAE, NMSE, bias over valid
cells, overall and for cells above ``threshold_db`` (the acceptance criterion), split by LOS/NLOS,
distance and path-gain bins, plus milliseconds per map.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiomap_geo import jsonio
from radiomap_geo.errors import InputError
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.nets.augment import (
    TileRenderer,
)
from radiomap_geo.nets.evaluate import DEFAULT_DISTANCE_BINS_M, MetricAccumulator
from radiomap_geo.nets.samples import _load_split
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor

REPORT_FORMAT = "radiomap-geo-evaluation/1"
#: The acceptance criterion of issue 4 is measured on cells with path gain above this.
DEFAULT_THRESHOLD_DB = -130.0
DEFAULT_GAIN_BINS_DB = (-math.inf, -150.0, -140.0, -130.0, -120.0, -110.0, -100.0, -80.0, math.inf)
DEFAULT_BASELINES = ("3gpp-umi", "3gpp-uma")

# -- evaluation --------------------------------------------------------------------------------


def _resolve_model(model: Any) -> Any:
    """A model object from a registry name, ``net:PATH``, a weights path or a model."""
    if model is None or hasattr(model, "path_gain_db"):
        return model
    text = str(model)
    if text.endswith(".pt") and Path(text).is_file() and not text.startswith("net:"):
        text = f"net:{text}"
    from radiomap_geo.models.registry import get_model

    return get_model(text)


def _network_of(model: Any) -> Any:
    """The :class:`NetworkModel` inside a model (itself, a blend's network) or None."""
    from radiomap_geo.nets.model import NetworkModel

    if isinstance(model, NetworkModel):
        return model
    inner = getattr(model, "net", None)
    return inner if isinstance(inner, NetworkModel) else None


def predict_tile(net_model: Any, scene: SceneInputs, site) -> np.ndarray:
    """The network run on the whole tile, as in training (padded to its size multiple)."""
    from radiomap_geo.nets.model import window_scene

    net_model._check_rx_height(scene)
    correction = net_model.frequency_correction_db(site.frequency_mhz)
    h, w = scene.grid.shape
    m = net_model.net.size_multiple
    hh, ww = -(-h // m) * m, -(-w // m) * m
    if (hh, ww) != (h, w):
        scene = window_scene(scene, 0, 0, hh, ww)
    db = net_model.predict_window(scene, site)[:h, :w]
    return (db + np.float32(correction)).astype(np.float32)


def _predict(model: Any, tile_net: Any, scene: SceneInputs, site) -> np.ndarray:
    """A model's prediction on the scene's whole grid (the network on the tile if given)."""
    if tile_net is not None:
        return predict_tile(tile_net, scene, site)
    return model.path_gain_db(scene, site, scene.grid)


class _Scores:
    """All accumulators of one model."""

    def __init__(self, name: str, kind: str, options: dict, threshold_db: float):
        self.name, self.kind, self.threshold_db = name, kind, threshold_db
        self.all = MetricAccumulator(**options)
        self.above = MetricAccumulator(**options)
        self.seconds, self.maps, self.valid, self.predicted = 0.0, 0, 0, 0

    def add(self, pred, true, valid, los, dist, seconds: float | None) -> None:
        valid = valid & np.isfinite(true)
        self.all.update(pred, true, valid, los, dist)
        with np.errstate(invalid="ignore"):
            above = valid & (true >= self.threshold_db)
        self.above.update(pred, true, above, los, dist)
        self.maps += 1
        self.valid += int(valid.sum())
        self.predicted += int((valid & np.isfinite(pred)).sum())
        if seconds is not None:
            self.seconds += seconds

    def result(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "maps": self.maps,
            "coverage": self.predicted / self.valid if self.valid else math.nan,
            "ms_per_map": 1000.0 * self.seconds / self.maps if self.maps else math.nan,
            "above_threshold": self.above.result(),
            "metrics": self.all.result(),
        }


def retrace_seed(seed: int, tile_id: int, index: int) -> int:
    """The ray seed :func:`retrace_tile` uses for map ``index`` of tile ``tile_id``."""
    entropy = [seed, int(tile_id), int(index)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0]) & 0x7FFFFFFF


def retrace_tile(dataset: Any, tile: int, seed: int) -> dict[int, tuple[np.ndarray, float]]:
    """Ray-trace every map of tile number ``tile`` again with another ray seed.

    Rebuilds the tile's buildings exactly as the builder did (same source, region and seed),
    checks that they rasterise to the stored heights, and solves every site with the dataset's
    settings. Returns ``{map index: (gain_db with NaN where no ray or indoors, seconds)}``.

    Raises:
        InputError: the tile's buildings cannot be rebuilt identically here (missing source
            files, or other building data).
    """
    from radiomap_geo.dataset.config import BuildConfig
    from radiomap_geo.dataset.sampling import TileSpec
    from radiomap_geo.dataset.tracing import load_tile_scene, tile_heights, trace_site

    config = BuildConfig.from_dict(dataset.manifest["config"])
    spec = TileSpec.from_dict(dataset.tile_info(tile))
    grid = dataset.grid(tile)
    buildings, heights = tile_heights(spec, config, grid)
    stored = dataset.building_height_m[tile]
    if not np.allclose(heights, stored, atol=0.051):
        raise InputError(
            f"tile {int(dataset.tile_id[tile])}: its buildings rebuilt here differ from the stored "
            "heights (other source files?); cannot re-trace it"
        )
    rts, solver = load_tile_scene(grid, buildings, config)
    outside = stored <= 0
    out = {}
    for index in np.flatnonzero(np.asarray(dataset.map_tile) == tile):
        site = dataset.site(int(index))
        map_seed = retrace_seed(seed, int(dataset.tile_id[tile]), int(index))
        t0 = time.perf_counter()
        db = trace_site(rts, solver, site, config, map_seed).astype(np.float32)
        seconds = time.perf_counter() - t0
        out[int(index)] = (np.where(outside, db, np.nan).astype(np.float32), seconds)
    return out


def evaluate_on_dataset(
    model_or_weights: Any,
    dataset_dir: str | os.PathLike,
    split: str = "test",
    *,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    rt_noise_tiles: int = 0,
    rt_seed: int = 1,
    max_maps: int | None = None,
    net_mode: str = "tile",
    threshold_db: float = DEFAULT_THRESHOLD_DB,
    floor_db: float | None = -160.0,
    distance_bins_m: Sequence[float] = DEFAULT_DISTANCE_BINS_M,
    gain_bins_db: Sequence[float] = DEFAULT_GAIN_BINS_DB,
    ortho_seed: int | None = None,
    command: str | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> dict[str, Any]:
    """Score a model, the baselines and (optionally) a second ray-tracing run on a split.

    Args:
        model_or_weights: a model object, a registry name, ``net:PATH`` or a ``.pt`` path; None
            for the baselines alone.
        dataset_dir: a dataset folder.
        split: ``test`` (default), ``val`` or ``train``.
        baselines: registry names of empirical models scored on the same maps.
        rt_noise_tiles: re-trace this many tiles (the first of the split) with another ray seed
            through :mod:`radiomap_geo.rt` and score that run against the stored labels (the
            tracer's own noise); every model is also scored on just those tiles. Slow.
        rt_seed: seed of the second run.
        max_maps: score only the first maps of the split.
        net_mode: ``tile``: a network runs on the whole tile as in training; ``engine``: through
            its ``path_gain_db`` as the prediction engine calls it (a site-centred window, NaN
            beyond its reach unless blended).
        threshold_db: headline metrics use cells whose label is at least this (-130 dB).
        floor_db: predictions and labels are clipped here first (None: no clipping).
        distance_bins_m, gain_bins_db: bin edges of the grouped metrics.
        ortho_seed: a network that reads an orthophoto or an nDSM gets renderings of the tiles
            with this seed (no augmentation; default: the ``ortho_seed`` it was trained with,
            else 0); the baselines get the scene as before.
        command: the command line, recorded in the report.
        progress, is_cancelled: callbacks (per map).

    Returns:
        The report (JSON-ready after :func:`save_report`); ``report["models"]`` lists one entry
        per model with ``above_threshold`` and ``metrics`` (all cells) grouped metrics, maps,
        coverage (share of valid cells predicted) and ``ms_per_map``.
    """
    from radiomap_geo.los import line_of_sight

    if net_mode not in ("tile", "engine"):
        raise InputError(f"net_mode must be 'tile' or 'engine', not {net_mode!r}")
    monitor = as_monitor(progress, is_cancelled)
    baseline_models = _baseline_models(baselines)  # a wrong name fails before any work
    dataset = _load_split(dataset_dir, split)
    model = _resolve_model(model_or_weights)
    net_model = _network_of(model) if model is not None else None
    options = {
        "distance_bins_m": tuple(distance_bins_m),
        "gain_bins_db": tuple(gain_bins_db),
        "floor_db": floor_db,
    }
    entries = _entries(model, net_model, net_mode, baseline_models, options, threshold_db)
    renderer = _evaluation_renderer(net_model, ortho_seed)

    n = len(dataset) if max_maps is None else min(len(dataset), int(max_maps))
    indices = list(range(n))
    tiles_in_order = list(dict.fromkeys(int(dataset.map_tile[i]) for i in indices))
    rt_tiles = tiles_in_order[: max(0, int(rt_noise_tiles))]
    subset = {t: {} for t in rt_tiles}
    sub_scores = [_Scores(s.name, s.kind, options, threshold_db) for _, s in entries]
    rx_height = float(dataset.manifest["config"].get("rx_height_m", 1.5))
    total = n + len(rt_tiles)
    for done, index in enumerate(indices):
        tile = int(dataset.map_tile[index])
        grid = dataset.grid(tile)
        heights = dataset.building_height_m[tile]
        scene = SceneInputs(grid, heights, rx_height_m=rx_height)
        rendered = scene if renderer is None else renderer(scene, int(dataset.tile_id[tile]))
        site = dataset.site(index)
        true, valid = dataset.gain_db[index], dataset.mask[index]
        los = line_of_sight(heights, grid, grid, (site.x, site.y), site.height_m, rx_height)
        x, y = grid.cell_centers()
        dist = np.hypot(x - site.x, y - site.y)
        for k, (m, scores) in enumerate(entries):
            tile_mode = scores.kind == "network" and net_mode == "tile"
            inputs = rendered if m is model else scene
            if done == 0:  # warm-up: first-call set-up is not inference time
                _predict(m, net_model if tile_mode else None, inputs, site)
            t0 = time.perf_counter()
            pred = _predict(m, net_model if tile_mode else None, inputs, site)
            seconds = time.perf_counter() - t0
            scores.add(pred, true, valid, los, dist, seconds)
            if tile in subset:
                sub_scores[k].add(pred, true, valid, los, dist, seconds)
        if tile in subset:
            subset[tile][index] = (true, valid, los, dist)
        monitor.step(done + 1, total, f"map {done + 1}/{n}")

    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "dataset": {
            "path": str(dataset_dir),
            "split": split,
            "maps": n,
            "tiles": len(tiles_in_order),
            "maps_in_split": len(dataset),
            "resolution_m": dataset.resolution,
            "map_cells": list(dataset.gain_db.shape[1:]),
            "samples_per_tx": dataset.manifest["config"].get("samples_per_tx"),
            "sources": _sources_of(dataset, tiles_in_order),
        },
        "settings": {
            "threshold_db": threshold_db,
            "floor_db": floor_db,
            "net_mode": net_mode,
            "distance_bins_m": list(distance_bins_m),
            "gain_bins_db": list(gain_bins_db),
            "torch_threads": torch.get_num_threads(),
            "device": str(net_model.device) if net_model is not None else None,
            "rendered_inputs": None if renderer is None else renderer.settings(),
        },
        "models": [s.result() for _, s in entries],
    }
    if net_model is not None:
        report["network"] = _network_summary(net_model, model)
    if rt_tiles:
        rt_scores = _Scores("sionna-rt (second run)", "ray-tracer", options, threshold_db)
        for j, tile in enumerate(rt_tiles):
            _score_second_run(rt_scores, retrace_tile(dataset, tile, rt_seed), subset[tile])
            monitor.step(n + j + 1, total, f"re-traced tile {j + 1}/{len(rt_tiles)}")
        report["rt_noise"] = {
            "tiles": [int(dataset.tile_id[t]) for t in rt_tiles],
            "maps": rt_scores.maps,
            "seed": rt_seed,
            "models": [s.result() for s in sub_scores] + [rt_scores.result()],
        }
    return report


def _baseline_models(baselines: Sequence[str]) -> list[tuple[str, Any]]:
    """``(name, model)`` of each baseline.

    Raises:
        InputError: an unknown name (``parameter="baselines"``).
    """
    from radiomap_geo.models.registry import get_model, list_models

    models = []
    for name in baselines:
        try:
            models.append((name, get_model(name)))
        except InputError as exc:
            raise InputError(
                f"unknown baseline {name!r}: use comma-separated names from "
                f"{', '.join(list_models())} ('' for none)",
                parameter="baselines",
            ) from exc
    return models


def _entries(
    model: Any,
    net_model: Any,
    net_mode: str,
    baselines: Sequence[tuple[str, Any]],
    options: dict[str, Any],
    threshold_db: float,
) -> list[tuple[Any, _Scores]]:
    """Each model to score beside its score accumulator: the model first, then the baselines
    (``(name, model)`` pairs).

    Raises:
        InputError: neither a model nor a baseline.
    """
    entries: list[tuple[Any, _Scores]] = []
    if model is not None:
        label = model.name
        kind = "network" if net_model is not None else "model"
        if net_model is not None and net_mode == "tile":
            label = net_model.name
        entries.append((model, _Scores(label, kind, options, threshold_db)))
    for name, baseline in baselines:
        entries.append((baseline, _Scores(name, "empirical", options, threshold_db)))
    if not entries:
        raise InputError("nothing to evaluate: give a model or baselines")
    return entries


def _network_summary(net_model: Any, model: Any) -> dict[str, Any]:
    """What the report says of the network scored: architecture, inputs, size, reach."""
    meta = net_model.metadata
    return {
        "name": net_model.name,
        "arch": meta.get("arch"),
        "arch_kwargs": meta.get("arch_kwargs"),
        "channels": meta.get("channels"),
        "parameters": int(sum(p.numel() for p in net_model.net.parameters())),
        "reach_m": net_model.reach_m,
        "blend": model.describe() if hasattr(model, "describe") else None,
    }


def _score_second_run(rt_scores: _Scores, second: dict, scored: dict) -> None:
    """Add a re-traced tile's maps (``{index: (gain, seconds)}``) that the models were scored
    on (``scored``: ``{index: (label, valid, los, distance)}``) to ``rt_scores``.
    """
    for index, (pred, seconds) in second.items():
        if index in scored:
            true, valid, los, dist = scored[index]
            rt_scores.add(pred, true, valid, los, dist, seconds)


def _evaluation_renderer(net_model: Any, ortho_seed: int | None) -> TileRenderer | None:
    """Renderings for a network that reads an orthophoto or an nDSM (else None).

    The seed defaults to the one the network was trained (and validated) with.
    """
    if net_model is None:
        return None
    if ortho_seed is None:
        settings = (net_model.metadata.get("training") or {}).get("settings") or {}
        ortho_seed = settings.get("ortho_seed")
    # A split's maps come tile after tile: a few tiles' renderings are enough to keep.
    return TileRenderer.for_channels(net_model.channels, ortho_seed or 0, max_tiles=16)


def _sources_of(dataset: Any, tiles: Sequence[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for tile in tiles:
        src = dataset.tile_info(tile).get("source", "?")
        out[src] = out.get(src, 0) + 1
    return out


def save_report(report: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a report as strict JSON (NaN -> null, infinities -> "inf" / "-inf")."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    jsonio.write_json(path, report)
    return path
