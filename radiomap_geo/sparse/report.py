"""Tables and the error-ratio CDF plot of a measurement evaluation report."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radiomap_geo.io.atomic import atomic_write_bytes
from radiomap_geo.sparse.evaluate import RATIO_BIN_DB
from radiomap_geo.staged import staged_file

#: Patterns that get a detailed table (the issue's targets).
DETAIL_PATTERNS = ("uniform:1%", "count:50", "trajectory:1%", "uniform:20%")


def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def rmse_table(report: Mapping[str, Any]) -> list[str]:
    """Methods x patterns, RMSE (dB) on unmeasured cells."""
    results = report["results"]
    patterns = report["settings"]["patterns"]
    lines = [
        "| method | " + " | ".join(patterns) + " |",
        "|---|" + "---:|" * len(patterns),
    ]
    for method, by_pattern in results.items():
        cells = [_f(by_pattern.get(p, {}).get("all", {}).get("rmse_db")) for p in patterns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def detail_table(report: Mapping[str, Any], pattern: str) -> list[str]:
    """Every metric of every method on one pattern."""
    lines = [
        f"**{pattern}**",
        "",
        "| method | points / map | RMSE | MAE | NMSE | bias | RMSE LOS | RMSE NLOS "
        "| share R < 3 dB | SSIM | PSNR | ms / map |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, by_pattern in report["results"].items():
        e = by_pattern.get(pattern)
        if e is None:
            continue
        lines.append(
            f"| {method} | {e['points_per_map']:.0f} | {_f(e['all']['rmse_db'])} "
            f"| {_f(e['all']['mae_db'])} | {_f(e['all'].get('nmse_db'))} "
            f"| {_f(e['all']['bias_db'])} | {_f(e['los']['rmse_db'])} "
            f"| {_f(e['nlos']['rmse_db'])} | {100 * e['share_ratio_below_3db']:.1f} % "
            f"| {_f(e['ssim'], 3)} | {_f(e['psnr_db'])} | {_f(e['ms_per_map'], 1)} |"
        )
    return lines


def report_markdown(report: Mapping[str, Any]) -> str:
    """The whole report as Markdown."""
    s = report["settings"]
    out = [
        f"Measurement-conditioned maps: {s['maps']} maps of the {s['split']} split, cells "
        f">= {s['threshold_db']:g} dB not measured; errors in dB (NMSE of linear gain); "
        f"geometry network {s.get('geometry_weights', s['geometry_model'])}.",
        "",
        "RMSE (dB) on unmeasured cells:",
        "",
        *rmse_table(report),
        "",
    ]
    for pattern in s["patterns"]:
        if pattern in DETAIL_PATTERNS:
            out += [*detail_table(report, pattern), ""]
    if report.get("command"):
        out.append(f"(`{report['command']}`)")
    return "\n".join(out)


def plot_ratio_cdf(report: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Paper 003 Fig. 10: CDF of |R| (dB) per method at 50 sensors, and the default model at
    15 / 30 / 50 sensors.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from radiomap_geo.sparse.model import default_measurement_model

    results = report["results"]
    default = default_measurement_model()
    default = default if default in results else next(iter(results))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (method, by_pattern) in enumerate(results.items()):
        entry = by_pattern.get("count:50")
        if entry:
            cdf = np.asarray(entry["ratio_cdf"])
            x = (np.arange(len(cdf)) + 1) * RATIO_BIN_DB
            bold = method == default
            axes[0].plot(
                x,
                cdf,
                label=method,
                color=plt.cm.tab20(i % 20),
                lw=2.4 if bold else 1.2,
                ls="--" if bold else "-",
            )
    axes[0].set_title("(a) 50 sensors per 256 m tile")
    for pattern in ("count:15", "count:30", "count:50", "uniform:1%", "trajectory:1%"):
        entry = results[default].get(pattern)
        if entry:
            cdf = np.asarray(entry["ratio_cdf"])
            axes[1].plot((np.arange(len(cdf)) + 1) * RATIO_BIN_DB, cdf, label=pattern)
    axes[1].set_title(f"(b) {default}, sampling patterns")
    for ax in axes:
        ax.set_xlim(0, 20)
        ax.set_ylim(0, 1)
        ax.axvline(3.0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("|R| = |predicted - ray-traced| (dB), unmeasured cells")
        ax.set_ylabel("CDF")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: Mapping[str, Any], stem: str | os.PathLike) -> list[Path]:
    """``STEM.md``, ``STEM.json`` and ``STEM.png``, each written atomically."""
    stem = Path(stem)
    md, js, png = (stem.with_suffix(s) for s in (".md", ".json", ".png"))
    atomic_write_bytes(md, (report_markdown(report) + "\n").encode())
    atomic_write_bytes(js, (json.dumps(report, separators=(",", ":")) + "\n").encode())
    with staged_file(png, overwrite=True) as staging:  # matplotlib goes by the extension
        plot_ratio_cdf(report, staging)
    return [md, js, png]
