"""Scoring measurement-conditioned methods: method x sampling pattern on a dataset split.

For every map and pattern one measurement set is drawn (the same for every method), the
measured cells get the ray-traced label as their value, and each method predicts the map. Scores
use the *unmeasured* labelled cells whose label is at least ``threshold_db`` (-130 dB, as the
geometry networks' headline numbers), after clipping both maps at -160 dB:

* RMSE / MAE / bias in dB and NMSE (linear, as :mod:`radiomap_geo.nets.evaluate`), all cells and
  LOS / NLOS;
* the error ratio ``R = |prediction - label|`` in dB (paper 003, Fig. 10): its distribution (0.1 dB
  bins) for the CDF plot and the share of cells under 3 dB;
* SSIM and PSNR (torchmetrics; paper 003) of the maps scaled from [-160, -40] dB to [0, 1],
  building and unlabelled cells set to 0 in both;
* milliseconds per map of the method alone.

Results are appended to ``records.jsonl`` in a work folder, one line per (method, pattern, map),
so a killed run resumes where it stopped; :func:`aggregate` sums them into the report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor
from radiomap_geo.sparse.baselines import BASELINES
from radiomap_geo.sparse.data import (
    DEFAULT_GEOMETRY_MODEL,
    MapContext,
    check_split,
    geometry_version,
    load_contexts,
    measurable_contexts,
)
from radiomap_geo.sparse.networks import CEIL_DB, FLOOR_DB
from radiomap_geo.sparse.sampling import EVALUATION_PATTERNS, Pattern

logger = logging.getLogger(__name__)

THRESHOLD_DB = -130.0
RATIO_BIN_DB = 0.1
RATIO_BINS = 600  # 0-60 dB
RATIO_CDF_BINS = 300  # the report keeps the CDF up to 30 dB
DEFAULT_METHODS = (
    "geometry",
    "idw",
    "knn",
    "random-forest",
    "kriging",
    "regression-kriging",
    "interpolation-net",
    "eme-net",
    "emgan",
    "emgan-sites",
    "emgan-geo",
    "geo-residual",
)
Method = Callable[[MapContext, np.ndarray, np.ndarray], np.ndarray]


def resolve_method(name: str) -> Method:
    """A baseline by name, or a measurement network (shipped name or ``.pt`` path).

    Raises:
        InputError: an unknown name (the message lists the baselines and the shipped networks).
    """
    if name in BASELINES:
        return BASELINES[name]
    from radiomap_geo.sparse.model import get_measurement_model

    try:
        return get_measurement_model(name, others={"baselines": list(BASELINES)})
    except InputError as err:
        if err.parameter != "measurement_model":
            raise
        raise InputError(str(err), parameter="methods") from err


def check_settings(
    dataset_dir: str | os.PathLike,
    split: str,
    max_maps: int | None,
    max_minutes: float | None,
    work_dir: str | os.PathLike | None,
) -> None:
    """Refuse settings an evaluation cannot run with, before any network or map is loaded.

    Raises:
        InputError: a split the dataset lacks, a max_maps below 1, a time budget that is not a
            finite number of at least 0, or a work folder inside the dataset folder.
    """
    check_split(dataset_dir, split)
    if max_maps is not None and (
        isinstance(max_maps, bool) or not isinstance(max_maps, (int, np.integer)) or max_maps < 1
    ):
        raise InputError(
            f"max maps {max_maps!r} is not a whole number of at least 1: give one such as 32",
            parameter="max_maps",
        )
    if max_minutes is not None and not (math.isfinite(max_minutes) and max_minutes >= 0):
        raise InputError(
            f"time budget {max_minutes!r} minutes is not a finite number of at least 0: give "
            "one such as 30, or leave it out for no limit",
            parameter="max_minutes",
        )
    if work_dir is not None:
        data, work = Path(dataset_dir).resolve(), Path(work_dir).resolve()
        if work == data or data in work.parents:
            raise InputError(
                f"work folder {work_dir} lies inside the dataset folder {dataset_dir}: choose a "
                "folder outside it (the dataset stays as it was built)",
                parameter="work_dir",
            )


def _sums(err: np.ndarray, pred: np.ndarray, true: np.ndarray) -> list[float]:
    """``[n, sum e, sum |e|, sum e^2, sum |g_p - g_t|^2, sum g_t^2]`` (g linear gain)."""
    gp, gt = 10.0 ** (pred / 10.0), 10.0 ** (true / 10.0)
    return [
        float(err.size),
        float(err.sum()),
        float(np.abs(err).sum()),
        float((err**2).sum()),
        float(((gp - gt) ** 2).sum()),
        float((gt**2).sum()),
    ]


def _metrics(s: Sequence[float]) -> dict[str, float]:
    n = s[0]
    if n == 0:
        return {"count": 0, "bias_db": math.nan, "mae_db": math.nan, "rmse_db": math.nan}
    nmse = s[4] / s[5] if s[5] > 0 else math.nan
    return {
        "count": int(n),
        "bias_db": s[1] / n,
        "mae_db": s[2] / n,
        "rmse_db": math.sqrt(s[3] / n),
        "nmse_db": 10.0 * math.log10(nmse) if nmse > 0 else -math.inf,
    }


def _image(db: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(keep, (np.clip(db, FLOOR_DB, CEIL_DB) - FLOOR_DB) / (CEIL_DB - FLOOR_DB), 0.0)


def image_quality(pred: np.ndarray, true: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    """``(SSIM, PSNR dB)`` of two maps scaled to [0, 1] (torchmetrics)."""
    import torch
    from torchmetrics.functional.image import (
        peak_signal_noise_ratio,
        structural_similarity_index_measure,
    )

    a = torch.from_numpy(_image(pred, keep)[None, None].astype(np.float32))
    b = torch.from_numpy(_image(true, keep)[None, None].astype(np.float32))
    ssim = float(structural_similarity_index_measure(a, b, data_range=1.0))
    psnr = float(peak_signal_noise_ratio(a, b, data_range=1.0))
    return ssim, psnr


def score_map(
    pred: np.ndarray, ctx: MapContext, measured: np.ndarray, threshold_db: float = THRESHOLD_DB
) -> dict[str, Any]:
    """One record: sums (all, LOS, NLOS), ratio histogram, SSIM, PSNR."""
    true = np.clip(np.nan_to_num(ctx.gain_db, nan=FLOOR_DB), FLOOR_DB, CEIL_DB)
    pred = np.clip(np.nan_to_num(pred, nan=FLOOR_DB), FLOOR_DB, CEIL_DB).astype(np.float64)
    with np.errstate(invalid="ignore"):
        keep = ctx.valid & ~measured & (ctx.gain_db >= threshold_db)
    err = (pred - true)[keep]
    los = ctx.los[keep]
    hist = np.bincount(
        np.minimum((np.abs(err) / RATIO_BIN_DB).astype(int), RATIO_BINS - 1), minlength=RATIO_BINS
    )
    ssim, psnr = image_quality(pred, true, ctx.valid)
    p, t = pred[keep], true[keep]
    return {
        "all": _sums(err, p, t),
        "los": _sums(err[los], p[los], t[los]),
        "nlos": _sums(err[~los], p[~los], t[~los]),
        "ratio_hist": {int(i): int(c) for i, c in enumerate(hist) if c},
        "ssim": ssim,
        "psnr": psnr,
    }


def _work_key(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def method_version(name: str, method: Method) -> str:
    """What a record of ``name`` was computed with: a network's weights hash, else the name."""
    sha = getattr(method, "sha256", None)
    return f"{name}-{sha[:12]}" if sha else name


def _read_records(
    path: Path, geometry: str, versions: dict[str, str]
) -> dict[tuple[str, str, int], dict]:
    """Finished records of this geometry network's weights and of each method's current
    version (a retrained measurement network under the same name is computed again).
    """
    done: dict[tuple[str, str, int], dict] = {}
    if not path.is_file():
        return done
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:  # a line cut by a kill: computed again
            continue
        if r.get("geometry") != geometry:
            continue
        if r.get("version", r["method"]) != versions.get(r["method"]):
            continue
        done[(r["method"], r["pattern"], int(r["map"]))] = r
    return done


def draw_measurements(
    ctx: MapContext, pattern: Pattern, seed: int, pattern_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """The measured mask and values of one map and pattern (reproducible)."""
    rng = np.random.default_rng([seed, ctx.index, pattern_index])
    measured = pattern.draw(ctx.measurable, rng, ctx.outdoor)
    values = np.clip(np.nan_to_num(ctx.gain_db, nan=FLOOR_DB), FLOOR_DB, CEIL_DB)
    return measured, values.astype(np.float32)


def _score_method(
    name: str,
    method: Method,
    ctx: MapContext,
    measured: np.ndarray,
    values: np.ndarray,
    threshold_db: float,
) -> dict[str, Any]:
    """Run one method on one measurement set, timed, and score its map."""
    t0 = time.perf_counter()
    pred = method(ctx, measured, values)
    seconds = time.perf_counter() - t0
    return {
        "method": name,
        "map": ctx.index,
        "points": int(measured.sum()),
        "seconds": seconds,
        **score_map(pred, ctx, measured, threshold_db),
    }


def evaluate_measurements(
    dataset_dir: str | os.PathLike,
    *,
    split: str = "test",
    methods: Sequence[str] = DEFAULT_METHODS,
    patterns: Sequence[str] = EVALUATION_PATTERNS,
    max_maps: int | None = 32,
    seed: int = 0,
    geometry_model: str = DEFAULT_GEOMETRY_MODEL,
    threshold_db: float = THRESHOLD_DB,
    work_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    max_minutes: float | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> dict[str, Any]:
    """Score ``methods`` on ``patterns`` over ``max_maps`` maps of ``split``; resumable.

    With ``max_minutes`` no new map is started after that long; the report then covers the
    maps whose every (method, pattern) record is done (``settings["maps"]`` says how many of
    ``max_maps``), and a later call continues.

    Returns:
        The report (see :func:`aggregate`), with the settings and the work folder used.
    """
    parsed = [Pattern.parse(p) for p in patterns]
    if not methods:
        raise InputError("give at least one method", parameter="methods")
    check_settings(dataset_dir, split, max_maps, max_minutes, work_dir)
    resolved = {name: resolve_method(name) for name in methods}
    settings = {
        "dataset": str(Path(dataset_dir).resolve()),
        "split": split,
        "max_maps": max_maps,
        "seed": seed,
        "geometry_model": geometry_model,
        "geometry_weights": geometry_version(geometry_model),
        "threshold_db": threshold_db,
    }
    work = Path(work_dir) if work_dir else Path("runs") / "sparse-eval" / _work_key(settings)
    work.mkdir(parents=True, exist_ok=True)
    records_path = work / "records.jsonl"
    versions = {name: method_version(name, method) for name, method in resolved.items()}
    done = _read_records(records_path, settings["geometry_weights"], versions)
    contexts = load_contexts(
        dataset_dir, split, max_maps=max_maps, geometry_model=geometry_model, cache_dir=cache_dir
    )
    contexts = measurable_contexts(contexts, f"{split}-split")
    monitor = as_monitor(progress, is_cancelled)
    total, step = len(contexts) * len(parsed), 0
    started = time.perf_counter()
    with open(records_path, "a") as out:
        for ctx in contexts:
            if max_minutes is not None and time.perf_counter() - started > 60.0 * max_minutes:
                logger.warning("time budget reached: the report covers the finished maps")
                break
            for k, pattern in enumerate(parsed):
                measured, values = draw_measurements(ctx, pattern, seed, k)
                for name, method in resolved.items():
                    key = (name, pattern.label, ctx.index)
                    if key not in done:
                        record = _score_method(name, method, ctx, measured, values, threshold_db)
                        record.update(
                            version=versions[name],
                            pattern=pattern.label,
                            geometry=settings["geometry_weights"],
                        )
                        out.write(json.dumps(record) + "\n")
                        out.flush()
                        done[key] = record
                step += 1
                monitor.step(step, total, f"map {ctx.index} {pattern.label}")
    complete = [
        c for c in contexts if all((m, p.label, c.index) in done for m in resolved for p in parsed)
    ]
    if not complete:
        raise InputError(
            "no map is fully scored yet: give more time (max_minutes)", parameter="max_minutes"
        )
    report = aggregate(
        [done[(m, p.label, c.index)] for m in resolved for p in parsed for c in complete]
    )
    report["settings"] = {
        **settings,
        "methods": list(methods),
        "method_versions": versions,
        "patterns": [p.label for p in parsed],
    }
    report["settings"]["maps"] = len(complete)
    report["settings"]["maps_requested"] = len(contexts)
    report["settings"]["map_numbers"] = [c.index for c in complete]
    report["work_dir"] = str(work)
    return report


def aggregate(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sum records into ``{"results": {method: {pattern: metrics}}}``."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["method"], r["pattern"]), []).append(r)
    results: dict[str, dict[str, Any]] = {}
    for (method, pattern), rs in groups.items():
        entry: dict[str, Any] = {}
        for group in ("all", "los", "nlos"):
            entry[group] = _metrics(np.sum([r[group] for r in rs], axis=0).tolist())
        hist = np.zeros(RATIO_BINS, np.int64)
        for r in rs:
            for i, c in r["ratio_hist"].items():
                hist[int(i)] += c
        cdf = np.cumsum(hist) / max(int(hist.sum()), 1)
        # up to 30 dB, 4 digits: what the plot shows, without a megabyte of JSON
        entry["ratio_cdf"] = cdf[:RATIO_CDF_BINS].round(4).tolist()
        entry["share_ratio_below_3db"] = float(cdf[int(round(3.0 / RATIO_BIN_DB)) - 1])
        entry["ssim"] = float(np.mean([r["ssim"] for r in rs]))
        entry["psnr_db"] = float(np.mean([r["psnr"] for r in rs]))
        entry["ms_per_map"] = 1000.0 * float(np.mean([r["seconds"] for r in rs]))
        entry["points_per_map"] = float(np.mean([r["points"] for r in rs]))
        entry["maps"] = len(rs)
        results.setdefault(method, {})[pattern] = entry
    return {"format": "radiomap-geo-sparse-eval/1", "results": results}
