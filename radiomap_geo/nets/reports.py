"""Evaluation reports and model cards as Markdown.

:func:`report_markdown` renders the tables of an evaluation report; :func:`write_model_card`
writes the card shipped beside a weights file (what it was trained on, how it scores, where it
falls short).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from radiomap_geo import jsonio
from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import atomic_open
from radiomap_geo.rasterize import CHANNEL_DESCRIPTIONS

# -- markdown ----------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or value == "inf" or value == "-inf":
        return "–" if value is None else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "-inf" if value < 0 else "inf"
        return f"{value:.{digits}f}"
    return str(value)


def _group(metrics: Mapping[str, Any], group: str, key: str) -> Any:
    part = metrics.get(group)
    return None if part is None else part.get(key)


def _main_table(models: Sequence[Mapping[str, Any]], threshold_db: float) -> list[str]:
    t = f"{threshold_db:g}"
    lines = [
        f"| model | kind | maps | cells ≥ {t} dB | RMSE ≥ {t} | MAE ≥ {t} | NMSE ≥ {t} | "
        f"bias ≥ {t} | LOS RMSE ≥ {t} | NLOS RMSE ≥ {t} | RMSE all | MAE all | NMSE all | "
        "coverage | ms/map |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        a, every = m["above_threshold"], m["metrics"]
        lines.append(
            "| "
            + " | ".join(
                [
                    m["name"],
                    m["kind"],
                    str(m["maps"]),
                    str(a["all"]["count"]),
                    _fmt(a["all"]["rmse_db"]),
                    _fmt(a["all"]["mae_db"]),
                    _fmt(a["all"]["nmse_db"]),
                    _fmt(a["all"]["bias_db"]),
                    _fmt(_group(a, "los", "rmse_db")),
                    _fmt(_group(a, "nlos", "rmse_db")),
                    _fmt(every["all"]["rmse_db"]),
                    _fmt(every["all"]["mae_db"]),
                    _fmt(every["all"]["nmse_db"]),
                    _fmt(m["coverage"], 3),
                    _fmt(m["ms_per_map"], 1),
                ]
            )
            + " |"
        )
    return lines


def _bin_table(
    models: Sequence[Mapping[str, Any]], group: str, title: str, key: str = "rmse_db"
) -> list[str]:
    bins = list(models[0]["metrics"].get(group, {}))
    if not bins:
        return []
    lines = [
        f"| {title} | " + " | ".join(bins) + " |",
        "|---|" + "---:|" * len(bins),
    ]
    counts = models[0]["metrics"][group]
    lines.append("| cells | " + " | ".join(str(counts[b]["count"]) for b in bins) + " |")
    for m in models:
        row = m["metrics"][group]
        lines.append(f"| {m['name']} | " + " | ".join(_fmt(row[b][key]) for b in bins) + " |")
    return lines


def report_markdown(report: Mapping[str, Any]) -> str:
    """The report as markdown tables (headline at the threshold, then bins, then RT noise)."""
    ds, st = report["dataset"], report["settings"]
    t = st["threshold_db"]
    out = [
        f"### {ds['split']} split of `{ds['path']}`: {ds['maps']} maps on {ds['tiles']} tiles "
        f"({', '.join(f'{k} {v}' for k, v in sorted(ds['sources'].items()))})",
        "",
        f"Errors in dB (prediction - ray-traced label) over valid cells; '≥ {t:g}' columns: cells "
        f"whose label is at least {t:g} dB; values clipped at {_fmt(st['floor_db'], 0)} dB first; "
        f"networks run in '{st['net_mode']}' mode.",
        "",
        *_main_table(report["models"], t),
        "",
        "RMSE (dB) by path-gain bin of the label:",
        "",
        *_bin_table(report["models"], "path_gain", "model"),
        "",
        "Bias (dB, prediction - label) by path-gain bin of the label, then of the prediction "
        "(binned by the label, noise alone makes weak bins look too strong: compare both):",
        "",
        *_bin_table(report["models"], "path_gain", "label bin", "bias_db"),
        "",
        *_bin_table(report["models"], "predicted_path_gain", "prediction bin", "bias_db"),
        "",
        "RMSE (dB) by horizontal distance from the site:",
        "",
        *_bin_table(report["models"], "distance", "model"),
    ]
    if "rt_noise" in report:
        rt = report["rt_noise"]
        out += [
            "",
            f"On the {len(rt['tiles'])} re-traced tiles ({rt['maps']} maps), with a second Sionna "
            f"RT run (ray seed {rt['seed']}) scored against the stored labels (the tracer's own "
            "noise):",
            "",
            *_main_table(rt["models"], t),
        ]
    if report.get("command"):
        out += ["", f"Produced by: `{report['command']}`"]
    return "\n".join(out) + "\n"


# -- shipping ----------------------------------------------------------------------------------


def write_model_card(
    weights_path: str | os.PathLike,
    card_path: str | os.PathLike | None = None,
    *,
    name: str | None = None,
    report: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> Path:
    """Write the model card (markdown) of a weights file: inputs in order, metres per pixel,
    frequency, data, training time and the metrics with the command that produced them.

    Args:
        weights_path: the weights file (verified against the hash in its name).
        card_path: where to write (default ``<weights folder>/<name>.md``).
        name: model name (default the metadata's).
        report: an :func:`evaluate_on_dataset` report (else the metrics in the file are used).
        description: one-line description.
    """
    from radiomap_geo.nets.weights import load_weights

    loaded = load_weights(weights_path)
    meta = loaded.metadata
    name = name or str(meta.get("name") or meta["arch"])
    card = Path(card_path) if card_path else Path(weights_path).parent / f"{name}.md"
    lines = [
        *_card_header(loaded, Path(weights_path), name, description),
        "",
        "## Inputs, in order",
        "",
        *(f"{i}. `{ch}`: {CHANNEL_DESCRIPTIONS[ch]}" for i, ch in enumerate(meta["channels"], 1)),
        "",
        "## Training data",
        "",
        *_card_training_data(meta.get("training_data") or {}),
        "",
        "## Training",
        "",
        *_card_training(meta.get("training") or {}),
        "",
        *_card_output_correction(meta.get("output_correction")),
        "## Metrics",
        "",
        *_card_metrics(report, meta.get("metrics")),
    ]
    with atomic_open(card, "w") as stream:  # weights/ is read by concurrent runs
        stream.write("\n".join(line for line in lines if line is not None) + "\n")
    return card


def add_report_to_card(
    card_path: str | os.PathLike, report: Mapping[str, Any], weights_sha256: str
) -> Path:
    """Add an evaluation report's tables to a model card's metrics, beside those it holds.

    A card lists the split its model was shipped with; the same weights scored on other labels
    (a split re-traced with more rays, another dataset) are added as a section of their own.
    A section of the same split and dataset folder is replaced, so a rerun does not pile up.

    Raises:
        InputError: as :func:`check_model_card`.
    """
    card = Path(card_path)
    lines = check_model_card(card, weights_sha256)
    section = report_markdown(report).rstrip("\n").split("\n")
    key = section[0][: section[0].index("`:") + 2]  # "### <split> split of `<dataset>`:"
    start = next((i for i, line in enumerate(lines) if line.startswith(key)), None)
    if start is None:
        lines += ["", *section]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith(("### ", "## "))),
            len(lines),
        )
        lines[start:end] = [*section, ""] if end < len(lines) else section
    with atomic_open(card, "w") as stream:
        stream.write("\n".join(lines) + "\n")
    return card


def check_model_card(card_path: str | os.PathLike, weights_sha256: str) -> list[str]:
    """The lines of the model card of the weights whose sha256 is ``weights_sha256``.

    Raises:
        InputError: the card is missing, describes other weights, or has no metrics section.
    """
    card = Path(card_path)
    if not card.is_file():
        raise InputError(
            f"model card {card} not found: give the .md file beside the weights",
            parameter="add_to_card",
        )
    lines = card.read_text().rstrip("\n").split("\n")
    if not any(f"`{weights_sha256}`" in line for line in lines if line.startswith("| sha256 |")):
        raise InputError(
            f"model card {card} describes other weights than the scored file (sha256 "
            f"{weights_sha256[:12]}...): give the card of the model you score",
            parameter="add_to_card",
        )
    if "## Metrics" not in lines:
        raise InputError(
            f"model card {card} has no '## Metrics' section to add the report to",
            parameter="add_to_card",
        )
    return lines


def _card_output_correction(correction: Mapping[str, Any] | None) -> list[str]:
    """The ray-count correction's table (:mod:`radiomap_geo.nets.ray_correction`), if any."""
    if not correction:
        return []
    edges = correction["edges_db"]
    names = [f"< {edges[0]:g}"] + [f"[{a:g}, {b:g})" for a, b in zip(edges[:-1], edges[1:])]
    names.append(f">= {edges[-1]:g}")
    fewer, more = correction["rays"]
    rows = [
        f"| {n} | {nlos:+.2f} | {los:+.2f} |"
        for n, nlos, los in zip(names, correction["nlos_db"], correction["los_db"])
        if nlos or los
    ]
    return [
        "## Output correction",
        "",
        f"dB added to the network's output by bin of that output, fitted on "
        f"{correction.get('cells', 0)} training cells labelled by both a {fewer:.0e}-ray trace "
        f"(the training labels) and a {more:.0e}-ray one (`scripts/fit_ray_correction.py`, "
        "`radiomap_geo/nets/ray_correction.py`; bins not listed: 0):",
        "",
        "| predicted path gain (dB) | out of sight | in sight |",
        "|---|---:|---:|",
        *rows,
        "",
    ]


def _card_header(loaded: Any, path: Path, name: str, description: str | None) -> list[str]:
    """Title, description and the table of what the weights are."""
    meta = loaded.metadata
    params = sum(p.numel() for p in loaded.build().parameters())
    scaling = meta["output_scaling"]
    return [
        f"# {name}",
        "",
        description or meta.get("description") or "",
        "",
        "| | |",
        "|---|---|",
        f"| file | `{path.name}` ({path.stat().st_size / 1e6:.2f} MB, float16) |",
        f"| sha256 | `{loaded.sha256}` |",
        f"| architecture | `{meta['arch']}` {json.dumps(meta['arch_kwargs'])}, "
        f"{params / 1e6:.3f} M parameters |",
        f"| metres per pixel | {meta['metres_per_pixel']:g} (in `predict`: grids at least 1.5x "
        "coarser are computed on sub-cells near this size and power-averaged; other cell sizes "
        "within a factor 2 are resampled; finer ones refused) |",
        f"| frequency | {meta['frequency_mhz']:g} MHz (others within a factor 2: free-space "
        "correction 20 log10(f_train / f)) |",
        f"| receiver height | {meta['rx_height_m']:g} m |",
        f"| reach | {meta['reach_m']:g} m from the site (beyond: calibrated empirical fallback, "
        "see `radiomap_geo/models/blend.py`) |",
        f"| output | path gain in dB incl. the transmit antenna pattern; network output n maps "
        f"to {scaling['floor_db']:g} + {scaling['ceil_db'] - scaling['floor_db']:g} n dB |",
        f"| torch | {meta.get('torch_version')} |",
    ]


def _card_training_data(data: Mapping[str, Any]) -> list[str]:
    """The maps, labels and split the network was trained on."""
    if not data:
        return ["(not recorded)"]
    per_source = data.get("train_maps_per_source") or {}
    return [
        f"- {data.get('train_maps')} training and {data.get('val_maps')} validation maps of "
        f"{' x '.join(str(v) for v in data.get('map_cells', []))} cells at "
        f"{data.get('resolution_m')} m, from `{data.get('dataset')}` "
        f"({data.get('generator')}); sources of the training maps: "
        + ", ".join(f"{k} {v}" for k, v in sorted(per_source.items())),
        f"- Labels: {data.get('label')}; {data.get('samples_per_tx'):.3g} rays per "
        f"transmitter, up to {data.get('max_depth')} interactions, diffraction "
        f"{'on' if data.get('diffraction') else 'off'}; backend {data.get('backend')}"
        if isinstance(data.get("samples_per_tx"), int | float)
        else f"- Labels: {data.get('label')}",
        "- Split: geographic (no test region overlaps a training region); see `data/README.md`.",
    ]


def _card_training(training: Mapping[str, Any]) -> list[str]:
    """Epochs, time, settings and command of the training run."""
    if not training:
        return ["(not recorded)"]
    settings = training.get("settings", {})
    lines = [
        f"- {training.get('epochs_run')} of {training.get('epochs')} epochs "
        + (
            f"(best validation epoch {training['best_epoch'] + 1}"
            if training.get("best_epoch") is not None
            else "(no validation split"
        )
        + (", stopped early" if training.get("stopped_early") else "")
        + f"), {float(training.get('seconds') or 0) / 60:.1f} min on {training.get('device')}"
        + (f" ({training['cuda']})" if training.get("cuda") else ""),
        f"- Settings: {json.dumps(settings.get('train_config', {}))}; batch "
        f"{settings.get('batch_size')}, crop {settings.get('crop')}, augmentation "
        f"{settings.get('augment')}",
        f"- Command: `{training.get('command')}`" if training.get("command") else "",
    ]
    if settings.get("init_weights"):
        lines.append(f"- Fine-tuned from `{settings['init_weights']}` (its training not counted)")
    return lines


def _card_metrics(report: Mapping[str, Any] | None, metrics: Any) -> list[str]:
    """The evaluation report's tables, else the metrics stored in the weights."""
    if report is not None:
        return [report_markdown(report)]
    if metrics:
        return ["```json", json.dumps(metrics, indent=1)[:4000], "```"]
    return ["(not measured yet: run `radiomap-geo evaluate`)"]


def headline_metrics(report: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers worth keeping inside a weights file."""
    out: dict[str, Any] = {
        "split": report["dataset"]["split"],
        "maps": report["dataset"]["maps"],
        "threshold_db": report["settings"]["threshold_db"],
        "command": report.get("command"),
        "models": {},
    }
    for m in report["models"]:
        a = m["above_threshold"]
        out["models"][m["name"]] = {
            "rmse_above_db": a["all"]["rmse_db"],
            "mae_above_db": a["all"]["mae_db"],
            "nmse_above_db": a["all"]["nmse_db"],
            "rmse_los_above_db": _group(a, "los", "rmse_db"),
            "rmse_nlos_above_db": _group(a, "nlos", "rmse_db"),
            "mae_los_above_db": _group(a, "los", "mae_db"),
            "mae_nlos_above_db": _group(a, "nlos", "mae_db"),
            "rmse_all_db": m["metrics"]["all"]["rmse_db"],
            "ms_per_map": m["ms_per_map"],
        }
    return jsonio.plain(out)
