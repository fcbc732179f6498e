"""Accuracy of path-gain predictions against ray-traced labels, in dB, split the useful ways.

Errors are ``prediction - label`` in dB over valid cells. Reported per group: ``count``,
``bias_db`` (mean error), ``mae_db``, ``rmse_db`` and ``nmse_db``: the normalised mean squared
error of the *linear* path gain, ``10 log10(sum |g_pred - g_true|^2 / sum g_true^2)`` with
``g = 10^(dB/10)``, which weighs strong cells (where coverage is decided) the way paper 002 and
RadioUNet intend. Groups: all cells, LOS/NLOS (given a LOS mask), horizontal-distance bins and
bins of the *true* path gain, and bins of the *predicted* path gain. Binned by the label, any
imperfect predictor looks too strong in the weakest bins and too weak in the strongest (a cell
lands in a low bin partly because its label fell low: regression to the mean); binned by the
prediction, the bias says whether a predicted level can be trusted. Both are reported so a real
bias can be told from that selection effect. With ``floor_db`` both values are clipped to it
first, because labels below the floor (including cells that got no ray) only mean "no usable
signal".

:class:`MetricAccumulator` sums over any number of maps (streaming); :func:`evaluate_network`
runs a network over batches and adds the inference time per map.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from radiomap_geo.nets.scaling import OutputScaling

DEFAULT_DISTANCE_BINS_M = (0.0, 50.0, 100.0, 200.0, 400.0, math.inf)
DEFAULT_GAIN_BINS_DB = (-math.inf, -140.0, -120.0, -100.0, -80.0, math.inf)


def _label(lo: float, hi: float, unit: str) -> str:
    def fmt(v: float) -> str:
        return "inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:g}"

    return f"[{fmt(lo)}, {fmt(hi)}) {unit}"


class _Sums:
    __slots__ = ("n", "err", "abs", "sq", "lin_err_sq", "lin_true_sq")

    def __init__(self) -> None:
        self.n, self.err, self.abs, self.sq = 0, 0.0, 0.0, 0.0
        self.lin_err_sq, self.lin_true_sq = 0.0, 0.0

    def add(self, pred: np.ndarray, true: np.ndarray) -> None:
        if pred.size == 0:
            return
        e = pred - true
        self.n += int(e.size)
        self.err += float(e.sum())
        self.abs += float(np.abs(e).sum())
        self.sq += float((e**2).sum())
        # Linear power in float64: path gains are far below 0 dB, so the squares stay in range.
        g_pred, g_true = 10.0 ** (pred / 10.0), 10.0 ** (true / 10.0)
        self.lin_err_sq += float(((g_pred - g_true) ** 2).sum())
        self.lin_true_sq += float((g_true**2).sum())

    def result(self) -> dict[str, float]:
        if self.n == 0:
            nan = math.nan
            return {"count": 0, "bias_db": nan, "mae_db": nan, "rmse_db": nan, "nmse_db": nan}
        nmse = self.lin_err_sq / self.lin_true_sq if self.lin_true_sq > 0 else math.nan
        return {
            "count": self.n,
            "bias_db": self.err / self.n,
            "mae_db": self.abs / self.n,
            "rmse_db": math.sqrt(self.sq / self.n),
            "nmse_db": 10.0 * math.log10(nmse) if nmse and nmse > 0 else -math.inf,
        }


class _Binned:
    """Error sums per half-open bin ``[lo, hi)`` of a per-cell value (distance, true gain)."""

    def __init__(self, edges: Sequence[float], unit: str) -> None:
        self.edges = tuple(float(v) for v in edges)
        self.unit = unit
        self.sums = [_Sums() for _ in self.edges[:-1]]

    def _bins(self) -> Iterable[tuple[_Sums, float, float]]:
        return zip(self.sums, self.edges, self.edges[1:])

    def add(self, values: np.ndarray, pred: np.ndarray, true: np.ndarray) -> None:
        for sums, lo, hi in self._bins():
            sel = (values >= lo) & (values < hi)
            sums.add(pred[sel], true[sel])

    def result(self) -> dict[str, dict[str, float]]:
        return {_label(lo, hi, self.unit): sums.result() for sums, lo, hi in self._bins()}


class MetricAccumulator:
    """Accumulates error sums over maps; :meth:`result` gives the grouped metrics."""

    def __init__(
        self,
        distance_bins_m: Sequence[float] = DEFAULT_DISTANCE_BINS_M,
        gain_bins_db: Sequence[float] = DEFAULT_GAIN_BINS_DB,
        floor_db: float | None = None,
    ):
        self.floor_db = floor_db
        self.all = _Sums()
        self.los, self.nlos = _Sums(), _Sums()
        self.by_distance = _Binned(distance_bins_m, "m")
        self.by_gain = _Binned(gain_bins_db, "dB")
        self.by_predicted_gain = _Binned(gain_bins_db, "dB")
        self.seen_los = self.seen_distance = False

    def update(
        self,
        pred_db: np.ndarray,
        true_db: np.ndarray,
        valid: np.ndarray,
        los: np.ndarray | None = None,
        distance_m: np.ndarray | None = None,
    ) -> None:
        """Add one map (or a batch of maps): all arrays of one shape."""
        pred = np.asarray(pred_db, dtype=np.float64)
        true = np.asarray(true_db, dtype=np.float64)
        keep = np.asarray(valid, dtype=bool) & np.isfinite(true) & np.isfinite(pred)
        if self.floor_db is not None:
            pred, true = np.maximum(pred, self.floor_db), np.maximum(true, self.floor_db)
        p, t = pred[keep], true[keep]
        self.all.add(p, t)
        if los is not None:
            self.seen_los = True
            is_los = np.asarray(los, dtype=bool)[keep]
            self.los.add(p[is_los], t[is_los])
            self.nlos.add(p[~is_los], t[~is_los])
        if distance_m is not None:
            self.seen_distance = True
            self.by_distance.add(np.asarray(distance_m, dtype=np.float64)[keep], p, t)
        # Bins of the true path gain (before clipping would merge everything below the floor).
        self.by_gain.add(np.asarray(true_db, dtype=np.float64)[keep], p, t)
        self.by_predicted_gain.add(np.asarray(pred_db, dtype=np.float64)[keep], p, t)

    def result(self) -> dict:
        """``{"all": m, "los": m, "nlos": m, "distance": {bin: m}, "path_gain": {bin: m},
        "predicted_path_gain": {bin: m}}``.
        """
        out: dict = {"all": self.all.result()}
        if self.seen_los:
            out["los"], out["nlos"] = self.los.result(), self.nlos.result()
        if self.seen_distance:
            out["distance"] = self.by_distance.result()
        out["path_gain"] = self.by_gain.result()
        out["predicted_path_gain"] = self.by_predicted_gain.result()
        return out


def map_metrics(*maps: np.ndarray | None, **options: Any) -> dict:
    """Grouped metrics of one map (or a stack of maps): ``maps`` as the arguments of
    :meth:`MetricAccumulator.update` (``pred_db, true_db, valid[, los[, distance_m]]``),
    ``options`` as :class:`MetricAccumulator`.
    """
    acc = MetricAccumulator(**options)
    acc.update(*maps)
    return acc.result()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate_network(
    net: nn.Module,
    batches: Iterable,
    scaling: OutputScaling,
    *,
    device: torch.device | str | None = None,
    clip_to_floor: bool = True,
    **options,
) -> dict:
    """Run ``net`` over ``batches`` and return the grouped metrics plus ``ms_per_map``.

    Batches are ``(inputs, target_db, mask)`` or ``(inputs, target_db, mask, los, distance_m)``
    (``los``/``distance_m`` tensors of the target's shape, or None).
    """
    device = torch.device(device) if device is not None else next(net.parameters()).device
    net = net.to(device).eval()
    acc = MetricAccumulator(floor_db=scaling.floor_db if clip_to_floor else None, **options)
    seconds, maps = 0.0, 0
    with torch.inference_mode():
        for batch in batches:
            x, target, mask = batch[:3]
            los = batch[3] if len(batch) > 3 else None
            dist = batch[4] if len(batch) > 4 else None
            x = x.to(device)
            _sync(device)
            t0 = time.perf_counter()
            pred = net(x)
            _sync(device)
            seconds += time.perf_counter() - t0
            maps += x.shape[0]
            acc.update(
                scaling.to_db(pred.float().cpu().numpy()),
                target.cpu().numpy(),
                mask.cpu().numpy(),
                None if los is None else los.cpu().numpy(),
                None if dist is None else dist.cpu().numpy(),
            )
    out = acc.result()
    out["ms_per_map"] = 1000.0 * seconds / maps if maps else math.nan
    out["maps"] = maps
    return out


def time_inference(
    net: nn.Module,
    in_channels: int,
    size: int = 128,
    *,
    batch: int = 1,
    repeats: int = 5,
    warmup: int = 1,
    device: torch.device | str | None = None,
) -> float:
    """Median milliseconds per ``size`` x ``size`` map of a forward pass (inference mode)."""
    device = torch.device(device) if device is not None else next(net.parameters()).device
    net = net.to(device).eval()
    x = torch.randn(batch, in_channels, size, size, device=device)
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            _sync(device)
            t0 = time.perf_counter()
            net(x)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times)) / batch
