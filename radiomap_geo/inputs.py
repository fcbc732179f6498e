"""The grid, sites and buildings of a run, set up the same way for every front end.

The command line (``predict``, ``predict-city``, ``simulate``), the QGIS provider and notebooks
all call :func:`prepare_inputs`: the grid from a box and a cell size, the sites from a file, a
GeoDataFrame or :class:`~radiomap_geo.sites.Sites`, the buildings from a file, a GeoDataFrame or
an OpenStreetMap download, with the building-height settings of
:class:`~radiomap_geo.options.RunOptions`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from radiomap_geo.errors import BuildingsError, CRSError, InputError, SitesError
from radiomap_geo.grid import DEFAULT_MAX_CELLS, BBox, Grid
from radiomap_geo.options import RunOptions
from radiomap_geo.sites import Sites, read_sites, sites_from_frame


@dataclass(frozen=True)
class Inputs:
    """The grid, sites and buildings every coverage run works on."""

    grid: Grid
    sites: Sites | None  # None: transmitters unknown (maps from measurements alone)
    buildings: Any  # GeoDataFrame with height_m


@dataclass(frozen=True)
class OsmDownload:
    """How footprints are fetched when no buildings source is given."""

    cache_dir: str | os.PathLike | None = None
    cache_only: bool = False
    overpass_url: str | None = None


def make_grid(
    bbox: BBox | str,
    resolution: float,
    *,
    bbox_crs: str = "EPSG:4326",
    crs: str | None = None,
    allow_large: bool = False,
) -> Grid:
    """The working grid (see :meth:`Grid.from_bbox`); a text box is read in ``bbox_crs``."""
    box = bbox if isinstance(bbox, BBox) else BBox.parse(bbox, crs=bbox_crs)
    return Grid.from_bbox(
        box, resolution, crs=crs, max_cells=None if allow_large else DEFAULT_MAX_CELLS
    )


def load_sites(sites: Any, grid: Grid, source: str = "the sites") -> Sites:
    """Sites from a path, a GeoDataFrame or :class:`Sites`, in ``grid.crs`` and inside it."""
    if isinstance(sites, Sites):
        loaded = sites.to_crs(grid.crs)
    elif isinstance(sites, (str, os.PathLike)):
        loaded = read_sites(sites, crs=grid.crs)
    elif hasattr(sites, "geometry"):
        loaded = sites_from_frame(sites, crs=grid.crs, source=source)
    else:
        raise SitesError(
            f"sites must be a file, a GeoDataFrame or Sites, not {type(sites).__name__}",
            parameter="sites",
        )
    loaded.require_inside(grid)
    return loaded


def require_footprints(buildings: Any) -> None:
    """Refuse footprints a run cannot use as they are: not a GeoDataFrame, no CRS, or
    ``height_m`` missing or unusable. A NaN or zero height would silently drop the building
    from the map; :func:`prepare_inputs` / ``load_buildings`` read files and frames with the
    height rules (``height`` column, storeys, the default height) and pass this check.
    """
    import numpy as np
    import pandas as pd

    from radiomap_geo.io.buildings import MAX_HEIGHT_M

    if buildings is None:
        return
    if not hasattr(buildings, "geometry"):
        raise BuildingsError(
            f"buildings must be a GeoDataFrame of footprints, not {type(buildings).__name__}: "
            "read a file with load_buildings(grid, path)",
            parameter="buildings",
        )
    if len(buildings) == 0:
        return
    if buildings.crs is None:
        raise CRSError(
            "the buildings have no CRS: set the one their coordinates are in (frame.set_crs(...))",
            parameter="buildings",
        )
    fix = (
        "load them with load_buildings(grid, frame), which takes heights from height / "
        "building:levels or the default height, or give every footprint a height_m in "
        f"(0, {MAX_HEIGHT_M:g}] m"
    )
    if "height_m" not in buildings.columns:
        raise BuildingsError(
            f"the buildings have no height_m column ({list(buildings.columns)[:10]}): {fix}",
            parameter="buildings",
        )
    heights = pd.to_numeric(buildings["height_m"], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(heights) | (heights <= 0) | (heights > MAX_HEIGHT_M)
    if bad.any():
        examples = sorted(set(buildings["height_m"].to_numpy()[bad][:5].tolist()), key=str)
        raise BuildingsError(
            f"{int(bad.sum())} of {len(buildings)} footprints have an unusable height_m "
            f"(e.g. {examples}); a missing or zero height would drop the building from the "
            f"map: {fix}",
            parameter="buildings",
        )


def prepare_inputs(
    grid: Grid,
    sites: Any,
    buildings: Any = None,
    *,
    options: RunOptions | None = None,
    height_column: str | None = None,
    osm: OsmDownload | None = None,
    margin_m: float = 0.0,
    sites_name: str = "the sites",
    open_ground: bool = False,
) -> Inputs:
    """Read the sites and load the buildings for ``grid``.

    Args:
        grid: from :func:`make_grid`.
        sites: a sites file, GeoDataFrame or :class:`Sites`; None when the transmitters are
            unknown (only maps from measurements work without them).
        buildings: a footprints file or GeoDataFrame; None downloads them (see ``osm``).
        options: the run's settings (building heights: ``default_height_m``,
            ``storey_height_m``, ``strict``).
        height_column: the footprint column holding heights, when not ``height``.
        osm: download settings when ``buildings`` is None.
        margin_m: keep buildings that far beyond the grid (reflectors for the ray tracer).
        sites_name: how to name the sites in messages.
        open_ground: there are no buildings (rural or unmapped areas): nothing is read or
            downloaded and the models see open ground (``buildings`` must then be None).
    """
    from radiomap_geo.io.buildings import load_buildings

    options = options or RunOptions()
    osm = osm or OsmDownload()
    if open_ground and buildings is not None:
        raise InputError(
            "buildings were given together with open ground (no buildings): drop one of the two",
            parameter="buildings",
        )
    loaded_sites = None if sites is None else load_sites(sites, grid, sites_name)
    if open_ground:
        return Inputs(grid, loaded_sites, None)
    footprints = load_buildings(
        grid,
        buildings,
        cache_dir=osm.cache_dir,
        cache_only=osm.cache_only,
        overpass_url=osm.overpass_url,
        margin_m=margin_m,
        height_column=height_column,
        storey_height_m=options.storey_height_m,
        default_height_m=options.default_height_m,
        strict=options.strict,
    )
    return Inputs(grid, loaded_sites, footprints)
