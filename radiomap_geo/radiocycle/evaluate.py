"""Scores of RadioCycle, InterpolationNet and kriging against the sampling rate (issue #13).

Per map (paper 001 eqs. 10-12, averaged over maps):

* buildings: F1, Jaccard (IoU), precision, recall, accuracy of F's mask (probability >= 0.5)
  over all cells, and the IoU of the union of the simplified polygons (rasterised back) with
  the true footprints;
* radio map, on labelled cells that were *not* measured: RMSE in dB and normalised (dB / 120,
  the units of paper 001's 0.069) and NMSE = sum of squared errors / sum of squared deviations
  from the map's mean.

Methods: ``radiocycle`` = G(F(x)) as in the paper (no building input); ``radiocycle+level``
adds the mean measured residual (G knows no transmit power or antenna pattern, the
measurements do); ``interpolation-net`` (trained at 20 % only); ``kriging`` (issue #10's
ordinary kriging, on the first ``kriging_maps`` maps of each group: it costs ~1 s per map).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor
from radiomap_geo.radiocycle.data import (
    FLOOR_DB,
    SPAN_DB,
    MapSet,
    denormalise,
    encode_f,
    encode_g,
    normalise_db,
    sample_measured,
    transmitter_channels,
)
from radiomap_geo.radiocycle.weights import LoadedModel
from radiomap_geo.sparse.sampling import Pattern

logger = logging.getLogger(__name__)

PATTERNS = (
    "uniform:1%",
    "uniform:5%",
    "uniform:10%",
    "uniform:20%",
    "uniform:30%",
    "uniform:40%",
    "trajectory:5%",
    "trajectory:20%",
)


def building_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """F1, Jaccard, precision, recall and accuracy of a boolean building mask."""
    tp = float(np.sum(pred & true))
    fp = float(np.sum(pred & ~true))
    fn = float(np.sum(~pred & true))
    tn = float(np.sum(~pred & ~true))
    precision = tp / (tp + fp) if tp + fp else float(fn == 0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return {
        "f1": f1,
        "jaccard": tp / (tp + fp + fn) if tp + fp + fn else 1.0,
        "precision": precision,
        "recall": recall,
        "accuracy": (tp + tn) / (tp + tn + fp + fn),
    }


def radio_scores(pred_db: np.ndarray, true_db: np.ndarray, cells: np.ndarray) -> dict[str, float]:
    """RMSE (dB and / 120 dB) and NMSE over ``cells`` (labels clipped like the network's)."""
    t = np.clip(true_db[cells], FLOOR_DB, FLOOR_DB + SPAN_DB)
    e = pred_db[cells] - t
    rmse = float(np.sqrt(np.mean(e**2)))
    spread = float(np.sum((t - t.mean()) ** 2))
    return {
        "rmse_db": rmse,
        "rmse_norm": rmse / SPAN_DB,
        "nmse": float(np.sum(e**2)) / spread if spread > 0 else float("nan"),
    }


def polygon_iou(mask: np.ndarray, probability: np.ndarray, true: np.ndarray, resolution: float):
    """IoU of the union of the simplified polygons of ``mask`` with the true building cells."""
    from affine import Affine
    from pyproj import CRS
    from rasterio.features import geometry_mask

    from radiomap_geo.grid import Grid
    from radiomap_geo.radiocycle.outputs import building_polygons

    h, w = mask.shape
    grid = Grid(
        CRS.from_epsg(32632), Affine(resolution, 0, 0, 0, -resolution, h * resolution), (h, w)
    )
    frame = building_polygons(mask, probability, grid)
    if len(frame) == 0:
        union = np.zeros_like(true)
    else:
        union = geometry_mask(list(frame.geometry), (h, w), grid.transform, invert=True)
    denominator = float(np.sum(union | true))
    return float(np.sum(union & true)) / denominator if denominator else 1.0


@dataclass
class Sample:
    """One map under one pattern: network inputs and what is scored."""

    f_input: np.ndarray
    tx: np.ndarray
    dist: np.ndarray
    measured: np.ndarray


def _sample(maps: MapSet, i: int, pattern: Pattern, seed: int) -> Sample:
    rng = np.random.default_rng([seed, i, int(1000 * pattern.amount), pattern.kind == "uniform"])
    measured = sample_measured(maps, i, pattern, rng)
    tx, dist = transmitter_channels(maps.gain_db.shape[1:], tuple(maps.site_rc[i]), maps.resolution)
    norm = normalise_db(np.nan_to_num(maps.gain_db[i], nan=FLOOR_DB))
    return Sample(encode_f(norm, measured, tx, dist), tx, dist, measured)


def _net(net, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(x)))[:, 0].numpy()


def _kriging(maps: MapSet, i: int, measured: np.ndarray) -> np.ndarray:
    from radiomap_geo.sparse.baselines import kriging
    from radiomap_geo.sparse.data import MapContext

    h = maps.gain_db[i]
    zeros = np.zeros(h.shape, np.float32)
    # kriging reads the shape, resolution and measured values only; the scene fields are not
    # used by it and are left empty
    ctx = MapContext(
        index=i,
        tile=0,
        heights=maps.buildings[i].astype(np.float32),
        gain_db=h,
        valid=np.isfinite(h),
        los=zeros.astype(bool),
        geometry_db=zeros,
        free_space_db=zeros,
        resolution=maps.resolution,
    )
    return kriging(ctx, measured, np.nan_to_num(h, nan=FLOOR_DB))


def evaluate(
    maps: MapSet,
    radiocycle: LoadedModel,
    interpolation_net: LoadedModel | None = None,
    *,
    patterns: Sequence[str] = PATTERNS,
    kriging_maps: int = 0,
    polygon_maps: int = 0,
    seed: int = 0,
    batch: int = 16,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> list[dict]:
    """Per-map scores (one dict per map, pattern and method) on ``maps``."""
    monitor = as_monitor(progress, is_cancelled)
    f, g = radiocycle.nets["f"], radiocycle.nets["g"]
    interp = interpolation_net.nets["interp"] if interpolation_net else None
    rows: list[dict] = []
    steps = len(patterns) * -(-len(maps) // batch)
    done = 0
    for text in patterns:
        pattern = Pattern.parse(text)
        for start in range(0, len(maps), batch):
            idx = list(range(start, min(start + batch, len(maps))))
            samples = [_sample(maps, i, pattern, seed) for i in idx]
            x = np.stack([s.f_input for s in samples])
            prob = 1 / (1 + np.exp(-_net(f, x)))
            g_in = np.stack([encode_g(p, s.tx, s.dist) for p, s in zip(prob, samples, strict=True)])
            radio = denormalise(_net(g, g_in))
            interp_db = denormalise(_net(interp, x)) if interp is not None else None
            for k, i in enumerate(idx):
                rows += _score_map(maps, i, text, samples[k], prob[k], radio[k], interp_db, k)
                if i < kriging_maps or _group_rank(maps, i) < kriging_maps:
                    est = _kriging(maps, i, samples[k].measured)
                    rows.append(_radio_row(maps, i, text, "kriging", est, samples[k].measured))
                if text == "uniform:20%" and _group_rank(maps, i) < polygon_maps:
                    iou = polygon_iou(prob[k] >= 0.5, prob[k], maps.buildings[i], maps.resolution)
                    rows.append(_row(maps, i, text, "radiocycle-polygons", {"polygon_iou": iou}))
            done += 1
            monitor.step(done, steps, f"{text}: maps {idx[-1] + 1}/{len(maps)}")
    return rows


def _group_rank(maps: MapSet, i: int) -> int:
    """Position of map ``i`` among the maps of its group (real / procedural)."""
    real = maps.source != "procedural"
    same = real == real[i]
    return int(np.sum(same[:i]))


def _row(maps: MapSet, i: int, pattern: str, method: str, scores: dict) -> dict:
    group = "procedural" if maps.source[i] == "procedural" else "real"
    return {"map": i, "group": group, "pattern": pattern, "method": method, **scores}


def _radio_row(maps, i, pattern, method, pred_db, measured) -> dict:
    cells = np.isfinite(maps.gain_db[i]) & ~measured
    return _row(maps, i, pattern, method, radio_scores(pred_db, maps.gain_db[i], cells))


def _score_map(maps, i, pattern, sample, prob, radio_db, interp_db, k) -> list[dict]:
    measured = sample.measured
    truth = np.nan_to_num(maps.gain_db[i], nan=FLOOR_DB)
    bias = (
        float(np.mean((np.clip(truth, FLOOR_DB, None) - radio_db)[measured]))
        if measured.any()
        else 0.0
    )
    rows = [
        _row(
            maps,
            i,
            pattern,
            "radiocycle",
            {
                **building_scores(prob >= 0.5, maps.buildings[i]),
                **radio_scores(radio_db, maps.gain_db[i], np.isfinite(maps.gain_db[i]) & ~measured),
            },
        ),
        _radio_row(maps, i, pattern, "radiocycle+level", radio_db + bias, measured),
    ]
    if interp_db is not None:
        rows.append(_radio_row(maps, i, pattern, "interpolation-net", interp_db[k], measured))
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Means per (group, pattern, method) with the number of maps."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    keys = ["group", "pattern", "method"]
    metrics = [c for c in frame.columns if c not in (*keys, "map")]
    out = frame.groupby(keys, sort=False)[metrics].mean()
    out["maps"] = frame.groupby(keys, sort=False)["map"].count()
    return out.reset_index().to_dict("records")
