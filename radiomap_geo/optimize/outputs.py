"""Writing an optimisation's results: the sites table, the JSON report and a before/after PNG.

All files appear atomically (:mod:`radiomap_geo.io.atomic`) and are never overwritten without
``overwrite``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import atomic_path, check_target
from radiomap_geo.sites import Sites

#: Site columns an optimisation may change, by parameter.
COLUMNS = {"azimuth": "azimuth_deg", "tilt": "tilt_deg", "power": "power_dbm"}
#: Single-file formats only, so the table can be staged and published atomically.
SITE_FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON"}


def check_sites_output(path: str | Path, overwrite: bool) -> Path:
    """Refuse an unknown format or an existing file before any work."""
    path = Path(path)
    if path.suffix.lower() not in SITE_FORMATS:
        raise InputError(
            f"output {path}: write the sites as {', '.join(SITE_FORMATS)}", parameter="output"
        )
    return check_target(path, overwrite)


def optimised_table(table, sites: Sites, params: tuple[str, ...]):
    """``table`` (the input GeoDataFrame, rows in site order) with the optimised columns set."""
    if len(table) != len(sites):
        raise InputError(
            f"the sites table has {len(table)} rows but {len(sites)} sites were optimised",
            parameter="sites",
        )
    out = table.copy()
    lower = {c.lower(): c for c in out.columns}
    for name in params:
        column = lower.get(COLUMNS[name], COLUMNS[name])
        out[column] = [float(getattr(s, COLUMNS[name])) for s in sites]
    return out


def write_sites(path: str | Path, table, *, overwrite: bool = False) -> Path:
    """Write the sites table atomically in the format of ``path``'s suffix."""
    import warnings

    path = check_sites_output(path, overwrite)
    with atomic_path(path, overwrite=overwrite) as staging, warnings.catch_warnings():
        # GDAL names the layer after the file and frowns at the staging suffix: name it here.
        warnings.filterwarnings("ignore", message="The filename extension should be")
        table.to_file(staging, driver=SITE_FORMATS[path.suffix.lower()], layer=path.stem)
    return path


def write_report(path: str | Path, report: dict[str, Any], *, overwrite: bool = False) -> Path:
    """Write the JSON report atomically (NaN/inf as null)."""
    with atomic_path(path, overwrite=overwrite) as staging:
        staging.write_text(json.dumps(_json_safe(report), indent=1))
    return Path(path)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def coverage_maps(result) -> dict[str, np.ndarray]:
    """Best-server RSRP (dBm, surrogate) of the start and the best configuration."""
    problem = result.problem
    out = {}
    with torch.no_grad():
        for name, sites in (("before", result.initial), ("after", result.best)):
            values = torch.tensor(
                [[s.azimuth_deg, s.tilt_deg, s.power_dbm] for s in sites], dtype=torch.float32
            )
            gain = problem.surrogate.gain_db(values[:, 0], values[:, 1]).double()
            best = (values[:, 2, None, None].double() + gain).max(dim=0).values.numpy()
            best = best + result.objective.rsrp_offset_db
            out[name] = np.where(result.cells, best, np.nan)
    return out


def write_preview(path: str | Path, result, *, overwrite: bool = False) -> Path:
    """Side-by-side PNG of the best-server RSRP before and after, with the sectors' boresights."""
    import matplotlib

    from radiomap_geo.io.preview import quiet_matplotlib

    matplotlib.use("Agg")
    with quiet_matplotlib():
        import matplotlib.pyplot as plt

    path = check_target(path, overwrite)
    maps = coverage_maps(result)
    finite = np.concatenate([m[np.isfinite(m)] for m in maps.values()])
    vmin, vmax = np.percentile(finite, [2, 99.5]) if finite.size else (-120.0, -40.0)
    minx, miny, maxx, maxy = result.grid.bounds
    fig, axes = plt.subplots(1, 2, figsize=(13, 6), dpi=100, sharey=True)
    for ax, (name, sites) in zip(axes, (("before", result.initial), ("after", result.best))):
        image = ax.imshow(maps[name], extent=(minx, maxx, miny, maxy), vmin=vmin, vmax=vmax)
        _boresights(ax, sites, (maxx - minx) / 12)
        ax.set_title(f"{name}: {result.objective.name} (surrogate {result.model})")
        ax.set_xlabel(f"x [m] ({result.grid.crs.to_string()})")
    axes[0].set_ylabel("y [m]")
    fig.colorbar(image, ax=axes, label="best-server RSRP [dBm]", shrink=0.85)
    try:
        with atomic_path(path, overwrite=overwrite) as staging:
            fig.savefig(staging, format="png")
    finally:
        plt.close(fig)
    return path


def _boresights(ax, sites: Sites, length: float) -> None:
    for site in sites:
        east = math.sin(math.radians(site.azimuth_deg)) * length
        north = math.cos(math.radians(site.azimuth_deg)) * length
        ax.annotate(
            "",
            xy=(site.x + east, site.y + north),
            xytext=(site.x, site.y),
            arrowprops={"arrowstyle": "->", "color": "red"},
        )
