"""PNG quick-looks of a coverage result: RSRP with a colour bar, buildings and site markers."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from radiomap_geo.errors import OutputError
from radiomap_geo.io.atomic import atomic_path, check_target


@contextmanager
def quiet_matplotlib() -> Iterator[None]:
    """Import matplotlib's pyplot (or a library that does: Sionna RT) without the warning that
    Debian's system matplotlib beside the venv's prints (mpl_toolkits' 3-D axes, never used here).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unable to import Axes3D")
        yield


def write_preview(
    path: str | Path, result, *, overwrite: bool = False, buildings=None, title: str | None = None
) -> Path:
    """Render ``result``'s ``rsrp_dbm`` band to ``path`` (PNG), written atomically; the site
    markers are left out when ``result.sites`` is None (transmitters unknown).
    """
    import matplotlib

    if Path(path).suffix.lower() != ".png":
        raise OutputError(f"a preview is a PNG: name it *.png, not {path}", parameter="output")
    matplotlib.use("Agg")
    with quiet_matplotlib():
        import matplotlib.pyplot as plt

    path = check_target(path, overwrite)
    minx, miny, maxx, maxy = result.grid.bounds
    extent = (minx, maxx, miny, maxy)
    fig, ax = plt.subplots(figsize=(8, 7), dpi=110)
    rsrp = result.bands["rsrp_dbm"]
    finite = rsrp[np.isfinite(rsrp)]
    vmin, vmax = np.percentile(finite, [2, 99.5]) if finite.size else (-120.0, -40.0)
    image = ax.imshow(rsrp, extent=extent, cmap="viridis", vmin=vmin, vmax=vmax)
    if buildings is not None and len(buildings):
        frame = buildings.to_crs(result.grid.crs)
        frame.plot(ax=ax, facecolor="0.55", edgecolor="0.3", linewidth=0.3)
    if result.sites is not None:
        _site_markers(ax, result)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_title(title or f"RSRP ({result.model})")
    ax.set_xlabel(f"x [m] ({result.grid.crs.to_string()})")
    ax.set_ylabel("y [m]")
    fig.colorbar(image, ax=ax, label="RSRP [dBm]", shrink=0.85)
    fig.tight_layout()
    return save_figure(fig, path, overwrite=overwrite)


def _site_markers(ax, result) -> None:
    """Red triangles at the sites, labelled with their ids."""
    xy = result.sites.to_crs(result.grid.crs).xy()
    ax.scatter(xy[:, 0], xy[:, 1], marker="^", s=70, c="red", edgecolors="white", zorder=5)
    # Sector antennas often share a mast: one label per position, naming them all.
    labels: dict[tuple[float, float], list[str]] = {}
    for site, (x, y) in zip(result.sites, xy):
        labels.setdefault((round(x), round(y)), []).append(site.site_id)
    for (x, y), ids in labels.items():
        ax.annotate(
            ", ".join(ids), (x, y), xytext=(4, 4), textcoords="offset points", color="white"
        )


def save_figure(fig, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a matplotlib figure as a PNG atomically (and exclusively), then close it."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path, overwrite=overwrite) as staging:
            fig.savefig(staging, format="png")
    finally:
        plt.close(fig)
    return Path(path)
