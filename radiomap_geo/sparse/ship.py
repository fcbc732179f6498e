"""Calibrating a trained measurement network and shipping it: weights, model card, index entry.

:func:`calibrate_and_ship` fits the uncertainty (:mod:`radiomap_geo.sparse.uncertainty`) on the
validation split, checks the interval coverage on test maps, and writes a new weights file with
the calibration in its metadata, ``<name>.md`` and the ``measurement-models.json`` entry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from radiomap_geo.io.atomic import atomic_write_bytes
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor
from radiomap_geo.sparse.data import load_contexts, measurable_contexts
from radiomap_geo.sparse.model import INDEX_FILE, MeasurementModel, save_measurement_model
from radiomap_geo.sparse.sampling import EVALUATION_PATTERNS
from radiomap_geo.sparse.uncertainty import calibrate, interval_coverage


def calibrate_and_ship(
    weights: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    folder: str | os.PathLike,
    *,
    val_maps: int = 128,
    test_maps: int = 32,
    test_dataset_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    patterns: Sequence[str] = EVALUATION_PATTERNS,
    default: bool = False,
    command: str | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Calibrate ``weights`` on the val split of ``dataset_dir`` and ship it into ``folder``;
    the interval coverage is measured on the test split of ``test_dataset_dir`` (default: the
    same folder; the re-traced test labels of issue #16 live in a folder of their own).

    Returns:
        ``(file, coverage report)``.
    """
    monitor = as_monitor(progress, is_cancelled)
    model = MeasurementModel.from_file(weights)
    geometry = model.metadata.get("geometry_model") or "unet-obs"
    monitor.step(0, 3, "calibrating on the validation split")
    val = load_contexts(
        dataset_dir, "val", max_maps=val_maps, geometry_model=geometry, cache_dir=cache_dir
    )
    val = measurable_contexts(val, "calibration")
    calibration = calibrate(model.predict, val, patterns)
    monitor.step(1, 3, "interval coverage on the test split")
    test = load_contexts(
        test_dataset_dir or dataset_dir,
        "test",
        max_maps=test_maps,
        geometry_model=geometry,
        cache_dir=cache_dir,
    )
    test = measurable_contexts(test, "coverage test")
    coverage = interval_coverage(model.predict, calibration, test, patterns)
    meta = {
        **model.metadata,
        "uncertainty": {
            **calibration.to_dict(),
            "method": "normalised split conformal (crepes), difficulty fitted on half of the "
            "validation tiles, quantiles on the other half",
            "val_maps": len(val),
            "val_data": str(dataset_dir),
            "test_data": str(test_dataset_dir or dataset_dir),
            "test_coverage": coverage["all"],
        },
    }
    folder = Path(folder)
    path = save_measurement_model(model.net, meta, folder)
    monitor.step(2, 3, "model card and index")
    from radiomap_geo.nets.weights import sha256_file

    digest = sha256_file(path)
    index_path = folder / INDEX_FILE
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    name = str(meta.get("name") or model.spec.name)
    replaced = index.get(name, {}).get("file")
    if default:
        for entry in index.values():
            entry.pop("default", None)
    index[name] = {
        "file": path.name,
        "sha256": digest,
        "description": model.spec.description,
        **({"default": True} if default or index.get(name, {}).get("default") else {}),
    }
    atomic_write_bytes(index_path, (json.dumps(index, indent=1, sort_keys=True) + "\n").encode())
    if replaced and replaced != path.name and (folder / replaced).is_file():
        (folder / replaced).unlink()  # as ship_weights does: no file the index no longer names
    card = model_card(meta, path, digest, coverage, command)
    atomic_write_bytes(folder / f"{name}.md", card.encode())
    monitor.step(3, 3, "done")
    return path, coverage


def _schedule(train: dict[str, Any]) -> str:
    """How the run was started and its rate schedule, for the card (older files: nothing)."""
    parts = []
    if train.get("init_weights"):
        parts.append(f"continued from `{Path(train['init_weights']).name}`")
    if train.get("lr_schedule") and train.get("lr"):
        parts.append(f"{train['lr_schedule']} learning rate from {train['lr']:g}")
    return f" ({', '.join(parts)})" if parts else ""


def model_card(
    meta: dict[str, Any],
    path: Path,
    digest: str,
    coverage: dict[str, Any],
    command: str | None,
) -> str:
    """The Markdown model card of a measurement model."""
    unc = meta["uncertainty"]
    train = meta.get("training", {})
    lines = [
        f"# {meta['name']}",
        "",
        f"{meta.get('description', '')}. A *measurement model*: it turns measured values plus "
        "the scene into a full map (`predict --measurements`); not a coverage network.",
        "",
        "| | |",
        "|---|---|",
        f"| file | `{path.name}` ({path.stat().st_size / 1e6:.2f} MB, float16) |",
        f"| sha256 | `{digest}` |",
        f"| architecture | `{meta['arch']}` {json.dumps(meta['arch_kwargs'])} |",
        f"| inputs | {', '.join(f'`{c}`' for c in meta['channels'])} |",
        f"| residual | {meta['residual']} (output added to the geometry prediction of "
        f"`{meta.get('geometry_model')}`) |",
        f"| metres per pixel | {meta['metres_per_pixel']:g} |",
        f"| training | {train.get('steps_done')} steps of {train.get('batch_size')} "
        f"{train.get('crop')} x {train.get('crop')} crops, {train.get('cpu_seconds')} s CPU, "
        f"final L1 {train.get('final_l1_db')} dB{_schedule(train)} |",
        f"| training data | {json.dumps(meta.get('training_data'))} |",
        f"| uncertainty | {unc['method']}; q68 {unc['q68']:.3f}, q95 {unc['q95']:.3f} "
        f"(95 % interval = +-{unc['q95'] / unc['q68']:.2f} x `rsrp_std_db`) |",
        "",
        f"Interval coverage on unmeasured test cells of `{unc.get('test_data', 'the dataset')}` "
        "(nominal 68 % and 95 %; issue #10 asks 60-76 % and 90-98 %):",
        "",
        "| pattern | cells | within 1 std | within z95 std | within 1.96 std |",
        "|---|---:|---:|---:|---:|",
    ]
    for pattern, c in coverage.items():
        lines.append(
            f"| {pattern} | {c['cells']} | {100 * c['within_1_std']:.1f} % "
            f"| {100 * c['within_z95_std']:.1f} % | {100 * c['within_1.96_std']:.1f} % |"
        )
    lines += [
        "",
        "Accuracy against the baselines: `benchmarks/results/sparse_measurements_1e7.md` (test "
        "labels re-traced at 1e7 rays) and `benchmarks/results/sparse_measurements.md` (3e6).",
    ]
    if command:
        lines += ["", f"Calibrated with `{command}`."]
    return "\n".join(lines) + "\n"
