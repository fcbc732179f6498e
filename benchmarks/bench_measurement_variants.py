"""What else could lower the default measurement model's error at low densities (issue #10, 1 %).

    nice -n 5 .venv/bin/python benchmarks/bench_measurement_variants.py \
        [--data data/radiomaps-val-1e7] [--split val] [--max-maps 32] \
        [--out benchmarks/results/measurement_variants]

Scored like ``radiomap-geo evaluate-measurements`` (same measurement draws for the same maps,
seed 0, unmeasured cells >= -130 dB, :func:`radiomap_geo.sparse.evaluate.score_map`), on the
validation split so that choosing among them never reads the test split. Besides the default
(``geo-residual``) and regression kriging, each variant tests one reading of where the error
left at 1 % comes from:

* ``geo-residual+kriging``: kriging the default's own residuals at the measured cells (is there
  spatially correlated error it leaves near the points?);
* ``mean(geo-residual, kriging)``: the two methods' mean in dB (are their errors independent?);
* ``geo-residual tta8``: the default averaged over the 8 flips/rotations of its inputs;
* ``drift+geo-residual``: per map, a ridge regression of the measured residuals on line of
  sight, the geometry level and the free-space gain, added to the geometry prediction before
  the default corrects it (does the geometry network err by a per-map level that points reveal?);
* ``kernel straight`` / ``kernel street``: the geometry prediction plus the measured residuals
  spread with weight ``exp(-d / 20 m)`` (and a pseudo-weight of 0.05 towards no correction),
  ``d`` the straight distance or the shortest outdoor path round the buildings
  (:func:`radiomap_geo.detour.outdoor_paths_m`): do residuals follow the streets?

Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from radiomap_geo.detour import outdoor_paths_m
from radiomap_geo.padded import run_padded
from radiomap_geo.sparse.baselines import regression_kriging
from radiomap_geo.sparse.data import MapContext, load_contexts, measurable_contexts
from radiomap_geo.sparse.evaluate import draw_measurements, score_map
from radiomap_geo.sparse.model import MeasurementModel, get_measurement_model
from radiomap_geo.sparse.networks import SCALE_DB, encode
from radiomap_geo.sparse.sampling import EVALUATION_PATTERNS, Pattern

sys.path.insert(0, str(Path(__file__).parent))
from bench_tta import publish  # noqa: E402

PATTERNS = ("uniform:1%", "count:50", "trajectory:1%", "uniform:5%")
KERNEL_M, KERNEL_PSEUDO_WEIGHT, RIDGE_ALPHA = 20.0, 0.05, 10.0


def dihedral_mean(model: MeasurementModel, ctx: MapContext, measured, values) -> np.ndarray:
    """The model's map averaged over the 8 flips and rotations of its (scalar) inputs."""
    enc = encode(model.spec, ctx, measured, values)
    outs = []
    for turn in range(8):
        x = np.rot90(enc.inputs, turn % 4, axes=(-2, -1))
        x = x[..., ::-1] if turn >= 4 else x
        out = run_padded(model.net, np.ascontiguousarray(x))
        out = out[..., ::-1] if turn >= 4 else out
        outs.append(np.rot90(out, -(turn % 4), axes=(-2, -1)))
    return (enc.base_db + SCALE_DB * np.mean(outs, axis=0)).astype(np.float32)


def drift_db(ctx: MapContext, measured: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The geometry prediction plus a per-map ridge fit of the measured residuals."""
    from sklearn.linear_model import Ridge

    level = (ctx.geometry_db.ravel() + 100.0) / 20.0
    blocked = (~ctx.los.ravel()).astype(np.float64)
    free = (ctx.free_space_db.ravel() + 80.0) / 20.0
    features = np.column_stack([blocked, level, blocked * level, free, blocked * free, level**2])
    residual = (values - ctx.geometry_db).ravel()
    keep = measured.ravel()
    fit = Ridge(alpha=RIDGE_ALPHA).fit(features[keep], residual[keep])
    return (ctx.geometry_db + fit.predict(features).reshape(ctx.shape)).astype(np.float32)


def spread(ctx: MapContext, measured: np.ndarray, values: np.ndarray, street: bool) -> np.ndarray:
    """The geometry prediction plus the residuals spread by distance (straight or outdoor path)."""
    points = np.flatnonzero(measured.ravel())
    rows, cols = np.indices(ctx.shape)
    pr, pc = np.unravel_index(points, ctx.shape)
    straight = ctx.resolution * np.hypot(
        rows.ravel()[None] - pr[:, None], cols.ravel()[None] - pc[:, None]
    )
    distance = straight
    if street:  # cells no outdoor path reaches (inside buildings) keep 3x the straight distance
        paths = outdoor_paths_m(ctx.outdoor, points, ctx.resolution)
        distance = np.where(np.isfinite(paths), paths, 3.0 * straight)
    weight = np.exp(-distance / KERNEL_M)
    residual = (values - ctx.geometry_db).ravel()[points]
    correction = (weight * residual[:, None]).sum(0) / (weight.sum(0) + KERNEL_PSEUDO_WEIGHT)
    return (ctx.geometry_db + correction.reshape(ctx.shape)).astype(np.float32)


def variants(model: MeasurementModel) -> dict:
    """Name -> ``(ctx, measured, values) -> map (dB)``."""

    def stacked(ctx, m, v):
        return regression_kriging(replace(ctx, geometry_db=model(ctx, m, v)), m, v)

    return {
        "geometry": lambda ctx, m, v: ctx.geometry_db,
        "regression-kriging": regression_kriging,
        "geo-residual (default)": model.predict,
        "geo-residual+kriging": stacked,
        "mean(geo-residual, kriging)": lambda c, m, v: 0.5 * (model(c, m, v) + regression_kriging(c, m, v)),
        "geo-residual tta8": lambda c, m, v: dihedral_mean(model, c, m, v),
        "drift+geo-residual": lambda c, m, v: model(replace(c, geometry_db=drift_db(c, m, v)), m, v),
        "kernel straight": lambda c, m, v: spread(c, m, v, street=False),
        "kernel street": lambda c, m, v: spread(c, m, v, street=True),
    }  # fmt: skip


def score(contexts, methods: dict) -> dict:
    """``{method: {pattern: {"rmse_db", "rmse_los_db", "rmse_nlos_db"}}}`` over the maps."""
    sums: dict = {}
    for pattern_text in PATTERNS:
        pattern = Pattern.parse(pattern_text)
        index = EVALUATION_PATTERNS.index(pattern_text)  # evaluate-measurements' draw
        for ctx in contexts:
            measured, values = draw_measurements(ctx, pattern, 0, index)
            if not measured.any():
                continue
            for name, method in methods.items():
                record = score_map(method(ctx, measured, values), ctx, measured)
                for part in ("all", "los", "nlos"):
                    acc = sums.setdefault((name, pattern_text, part), [0.0, 0.0])
                    acc[0] += record[part][0]
                    acc[1] += record[part][3]
    out: dict = {}
    for (name, pattern_text, part), (n, sq) in sums.items():
        key = "rmse_db" if part == "all" else f"rmse_{part}_db"
        out.setdefault(name, {}).setdefault(pattern_text, {})[key] = float(np.sqrt(sq / n))
    return out


def main() -> None:
    """Parse options, score, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/radiomaps-val-1e7")
    parser.add_argument("--split", default="val", choices=["test", "val", "train"])
    parser.add_argument("--max-maps", type=int, default=32)
    parser.add_argument("--out", default="benchmarks/results/measurement_variants")
    opts = parser.parse_args()
    torch.set_num_threads(2)
    contexts = load_contexts(opts.data, opts.split, max_maps=opts.max_maps)
    contexts = measurable_contexts(contexts, f"{opts.split}-split")
    model = get_measurement_model()
    results = score(contexts, variants(model))
    lines = [
        f"RMSE (dB) on the unmeasured cells >= -130 dB of {len(contexts)} maps of the "
        f"{opts.split} split of `{opts.data}` (`benchmarks/bench_measurement_variants.py`; "
        f"measurement model `{model.name}` {model.sha256[:12]}; NLOS RMSE in brackets).",
        "",
        "| method | " + " | ".join(PATTERNS) + " |",
        "|---|" + "---:|" * len(PATTERNS),
    ]
    for name, per_pattern in results.items():
        cells = [
            f"{per_pattern[p]['rmse_db']:.2f} ({per_pattern[p]['rmse_nlos_db']:.2f})"
            for p in PATTERNS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    publish(
        opts.out, lines, {"results": results, "maps": len(contexts), "command": " ".join(sys.argv)}
    )


if __name__ == "__main__":
    main()
