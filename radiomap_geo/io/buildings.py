"""Building footprints with heights: every source goes through one funnel.

Sources: an OSM file (``.osm`` XML, ``.osm.pbf``; read with pyosmium), any vector file GDAL reads
(GeoPackage, GeoJSON, Shapefile, SpatiaLite...), a GeoDataFrame, or an OSM download for the grid's
area (:func:`load_buildings` without a source). :func:`buildings_from_frame` then

1. refuses frames without a CRS,
2. keeps polygons only, repairing invalid ones with :func:`shapely.make_valid` (holes such as
   courtyards are kept),
3. reprojects into the grid's CRS and clips to the grid's bounds (plus ``margin_m``),
4. derives ``height_m`` (float, metres, > 0) and ``height_source`` (text), per building, from the
   first of these that gives a usable value:

   ============  ===============================================================================
   source        value
   ============  ===============================================================================
   ``user``      the column named by ``height_column`` (numbers in metres, or text with units)
   ``height``    a ``height`` column / OSM tag, any case (also ``height_m``, ``building:height``):
                 ``"12"``, ``"12 m"``, ``"12.5m"``, ``"40 ft"``, ``"40'"``, ``"12'6\\""``
   ``levels``    (``building:levels`` + ``roof:levels``) x ``storey_height_m``
   ``default``   ``default_height_m``
   ============  ===============================================================================
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radiomap_geo.errors import BuildingsError, CRSError, InputError
from radiomap_geo.grid import BBox, Grid

log = logging.getLogger(__name__)

#: Column names (compared without case) read as a building height in metres, best first.
HEIGHT_COLUMNS = ("height", "height_m", "building:height")
#: Column names read as the number of storeys above ground.
LEVEL_COLUMNS = ("building:levels", "building_levels", "levels")
#: Column names read as the number of storeys inside the roof.
ROOF_LEVEL_COLUMNS = ("roof:levels", "roof_levels")
#: Heights above this are treated as typing errors.
MAX_HEIGHT_M = 1000.0
MAX_LEVELS = 250.0

_FEET = 0.3048
_INCH = 0.0254
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_METRES_RE = re.compile(rf"^{_NUMBER}\s*(m|meters?|metres?)?$")
_FEET_RE = re.compile(rf"^{_NUMBER}\s*(?:ft|feet|foot|')\s*(?:{_NUMBER}\s*(?:in|inch|inches|\"))?$")
_LEVELS_RE = re.compile(rf"^{_NUMBER}$")


def _as_number(value: Any) -> float | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return None


def parse_height(value: Any) -> float | None:
    """A height in metres from a number or an OSM-style text; ``None`` for anything unusable.

    Text may carry units: ``"12"``, ``"12 m"``, ``"12,5 m"``, ``"40 ft"``, ``"40'"``, ``"12'6\\""``.
    Values that are not positive or exceed :data:`MAX_HEIGHT_M` give ``None``.
    """
    number = _as_number(value)
    if number is None:
        if not isinstance(value, str):
            return None
        text = value.strip().lower().replace(",", ".")
        if match := _METRES_RE.match(text):
            number = float(match.group(1))
        elif match := _FEET_RE.match(text):
            number = float(match.group(1)) * _FEET + float(match.group(2) or 0.0) * _INCH
        else:
            return None
    if not 0 < number <= MAX_HEIGHT_M:
        return None
    return number


def parse_levels(value: Any) -> float | None:
    """A storey count (``"4"``, ``4``, ``"2.5"``); ``None`` for text such as ``"3;4"`` or ``"-1"``."""
    number = _as_number(value)
    if number is None:
        if not isinstance(value, str):
            return None
        match = _LEVELS_RE.match(value.strip().replace(",", "."))
        if not match:
            return None
        number = float(match.group(1))
    if not 0 <= number <= MAX_LEVELS:
        return None
    return number


def _is_blank(value: Any) -> bool:
    """No value at all (NULL, an empty cell): the next height source applies, no warning."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _invalid_heights(frame: Any, column: str, parsed: np.ndarray) -> list[Any]:
    """The values of ``column`` that are given but are no usable height (text, <= 0, > 1000 m)."""
    raw = frame[column].to_numpy(dtype=object)
    return [value for value, ok in zip(raw, np.isfinite(parsed)) if not ok and not _is_blank(value)]


def _report_invalid(
    source: str, column: str, bad: list[Any], total: int, strict: bool, default_m: float
) -> None:
    examples = ", ".join(repr(v) for v in list(dict.fromkeys(map(str, bad)))[:5])
    text = (
        f"{source}: {len(bad)} of {total} buildings have an invalid height in column {column!r} "
        f"(e.g. {examples}; a height must be a number of metres in (0, {MAX_HEIGHT_M:g}])"
    )
    if strict:
        raise BuildingsError(
            f"{text}: fix those values, or drop strict mode to use the storeys or the default "
            f"height ({default_m:g} m) for them",
            parameter="strict",
        )
    log.warning(
        "%s; they get their height from the storeys or the default (%g m). Strict mode refuses "
        "such files",
        text,
        default_m,
    )


def _find_column(columns: list[str], names: tuple[str, ...], exclude: str | None) -> str | None:
    lower = {}
    for column in columns:
        if column != exclude:
            lower.setdefault(str(column).lower(), column)
    return next((lower[name] for name in names if name in lower), None)


@dataclass(frozen=True)
class HeightRules:
    """How a footprint's height is found (see the module notes); checked on creation, so that a
    bad value is refused before any file is read.

    Attributes:
        height_column: a column with heights in metres that wins over everything else.
        storey_height_m: metres per storey for ``building:levels``.
        default_height_m: the height of buildings without any height information.
        roof_levels: add ``roof:levels`` to ``building:levels``.
        strict: refuse height values that are given but unusable (text, <= 0, NaN text, above
            1000 m) instead of counting them in a warning and falling back to storeys/default.
    """

    height_column: str | None = None
    storey_height_m: float = 3.0
    default_height_m: float = 10.0
    roof_levels: bool = True
    strict: bool = False

    def __post_init__(self) -> None:
        for name in ("storey_height_m", "default_height_m"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(
                    f"{name} must be a positive number of metres, got {value!r}", parameter=name
                )


def _derive_heights(frame: Any, rules: HeightRules, source: str) -> tuple[np.ndarray, np.ndarray]:
    height_column, storey_height_m = rules.height_column, rules.storey_height_m
    default_height_m = rules.default_height_m
    columns = [c for c in frame.columns if c != frame.geometry.name]
    candidates: list[tuple[str, np.ndarray]] = []
    user = None
    if height_column is not None:
        user = height_column if height_column in columns else None
        if user is None:
            user = _find_column(columns, (height_column.lower(),), exclude=None)
        if user is None:
            raise BuildingsError(
                f"{source} has no height column {height_column!r}; its columns are {columns}. "
                "Pass one of those as the height column, or leave it unset to use the OSM tags",
                parameter="buildings",
            )
        candidates.append(("user", frame[user].map(parse_height).to_numpy(dtype=float)))
    height_col = _find_column(columns, HEIGHT_COLUMNS, exclude=user)
    if height_col is not None:
        candidates.append(("height", frame[height_col].map(parse_height).to_numpy(dtype=float)))
    for (_, parsed), column in zip(candidates, [c for c in (user, height_col) if c is not None]):
        bad = _invalid_heights(frame, column, parsed)
        if bad:
            _report_invalid(source, column, bad, len(frame), rules.strict, default_height_m)
    levels_col = _find_column(columns, LEVEL_COLUMNS, exclude=user)
    if levels_col is not None:
        levels = frame[levels_col].map(parse_levels).to_numpy(dtype=float)
        roof_col = (
            _find_column(columns, ROOF_LEVEL_COLUMNS, exclude=user) if rules.roof_levels else None
        )
        if roof_col is not None:
            levels = levels + np.nan_to_num(frame[roof_col].map(parse_levels).to_numpy(dtype=float))
        candidates.append(("levels", levels * storey_height_m))

    heights = np.full(len(frame), np.nan)
    sources = np.full(len(frame), "default", dtype=object)
    for name, values in candidates:
        take = np.isnan(heights) & np.isfinite(values) & (values > 0)
        heights[take] = values[take]
        sources[take] = name
    if user is not None:
        fallback = int((sources != "user").sum())
        if fallback:
            log.info(
                "%s: %d of %d buildings have no usable value in %r; heights taken from tags or "
                "the default instead",
                source,
                fallback,
                len(frame),
                user,
            )
    heights[np.isnan(heights)] = default_height_m
    return heights, sources


def _polygonal(geom: Any) -> Any:
    """The polygonal part of a geometry (Polygon or MultiPolygon), or ``None``."""
    import shapely

    if geom is None or geom.is_empty:
        return None
    kind = geom.geom_type
    if kind in ("Polygon", "MultiPolygon"):
        return geom
    if kind != "GeometryCollection":
        return None
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _with_geometry(frame: Any, geoms: np.ndarray) -> Any:
    """A copy of ``frame`` with its active geometry column replaced by ``geoms``."""
    import geopandas as gpd

    frame = frame.copy()
    frame[frame.geometry.name] = gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs)
    return frame


def _clean_geometries(frame: Any, source: str) -> Any:
    """Drop non-polygons, repair invalid polygons; log what happened."""
    import shapely

    geoms = frame.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6)) & present
    not_polygons = int((present & ~polygonal).sum())
    if not_polygons:
        log.info("%s: ignored %d features that are not polygons", source, not_polygons)
    frame = frame[polygonal]
    geoms = frame.geometry.to_numpy()
    invalid = ~shapely.is_valid(geoms)
    n_invalid = int(invalid.sum())
    if n_invalid:
        fixed = np.array([_polygonal(g) for g in shapely.make_valid(geoms[invalid])], dtype=object)
        keep = np.ones(len(frame), dtype=bool)
        keep[np.flatnonzero(invalid)[[g is None for g in fixed]]] = False
        repaired = geoms.copy()
        repaired[invalid] = fixed
        frame = _with_geometry(frame, repaired)[keep]
        dropped = int((~keep).sum())
        log.warning(
            "%s: repaired %d invalid footprints with make_valid; dropped %d beyond repair",
            source,
            n_invalid - dropped,
            dropped,
        )
    area = shapely.area(frame.geometry.to_numpy())
    if (area <= 0).any():
        frame = frame[area > 0]
    return frame


def _clip_to_grid(frame: Any, grid: Grid, margin_m: float) -> Any:
    import shapely

    minx, miny, maxx, maxy = grid.bounds
    area = BBox(minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m, grid.crs)
    # Pick candidates in the frame's own CRS first, so only they are reprojected.
    if frame.crs != grid.crs:
        near = area.to_crs(frame.crs)
        frame = frame.iloc[frame.sindex.query(shapely.box(*near.bounds))].to_crs(grid.crs)
    window = shapely.box(*area.bounds)
    frame = frame.iloc[frame.sindex.query(window)]
    geoms = frame.geometry.to_numpy()
    inside = shapely.within(geoms, window)
    cut = geoms.copy()
    cut[~inside] = [_polygonal(g) for g in shapely.intersection(geoms[~inside], window)]
    keep = np.array([g is not None for g in cut], dtype=bool)
    frame = _with_geometry(frame, cut)[keep]
    return frame.iloc[np.argsort(frame.index.to_numpy(), kind="stable")]


def _check_margin(margin_m: Any) -> None:
    """Validate the margin on entry, before any file is read."""
    if not (isinstance(margin_m, (int, float)) and math.isfinite(margin_m) and margin_m >= 0):
        raise InputError(f"margin_m must be zero or a positive number of metres, got {margin_m!r}")


def buildings_from_frame(
    frame: Any,
    grid: Grid | None = None,
    *,
    source: str = "the buildings",
    margin_m: float = 0.0,
    **height_rules: Any,
) -> Any:
    """The funnel: footprints of any origin to the frame every model consumes.

    Args:
        frame: a GeoDataFrame with a CRS; attribute columns are kept.
        grid: when given, the result is in ``grid.crs`` and clipped to its bounds.
        source: how to name the data in messages.
        margin_m: widen the clipping box by this many metres on every side.
        **height_rules: the fields of :class:`HeightRules` (``height_column``,
            ``storey_height_m``, ``default_height_m``, ``roof_levels``, ``strict``).

    Returns:
        A GeoDataFrame of Polygons/MultiPolygons with ``height_m`` and ``height_source``.

    Raises:
        CRSError: the frame has no CRS.
        BuildingsError: a named column is missing, or no footprints are left.
        InputError: a height parameter is not a positive number.
    """
    rules = HeightRules(**height_rules)
    _check_margin(margin_m)
    return _from_frame(frame, grid, source, margin_m, rules)


def _from_frame(
    frame: Any, grid: Grid | None, source: str, margin_m: float, rules: HeightRules
) -> Any:
    """:func:`buildings_from_frame` with its arguments checked."""
    import geopandas as gpd

    if not isinstance(frame, gpd.GeoDataFrame):
        raise BuildingsError(
            f"{source} is a {type(frame).__name__}, not a GeoDataFrame", parameter="buildings"
        )
    if frame.crs is None:
        raise CRSError(
            f"{source} has no CRS: assign the one its coordinates are in (e.g. in QGIS 'Assign "
            "projection', or gdf.set_crs('EPSG:25832')) and save it again",
            parameter="buildings",
        )
    total = len(frame)
    if total == 0:
        raise BuildingsError(
            f"{source} contains no features: pass a file with building footprints",
            parameter="buildings",
        )
    frame = _clean_geometries(frame.reset_index(drop=True), source)
    if len(frame) == 0:
        raise BuildingsError(
            f"{source} has no usable building polygons among its {total} features: pass a file "
            "of footprint polygons",
            parameter="buildings",
        )
    heights, sources = _derive_heights(frame, rules, source)
    frame = frame.assign(height_m=heights, height_source=sources)
    if grid is not None:
        extent = tuple(round(v, 6) for v in frame.total_bounds)
        own_crs = frame.crs.to_string()
        frame = _clip_to_grid(frame, grid, margin_m)
        if len(frame) == 0:
            raise BuildingsError(
                f"no building footprints inside the area {tuple(round(v, 1) for v in grid.bounds)} "
                f"({grid.crs.to_string()}) from {source}, whose footprints span {extent} "
                f"({own_crs}): check the "
                "area and its CRS, or give a buildings file that covers the area",
                parameter="buildings",
            )
    counts = frame["height_source"].value_counts().to_dict()
    log.info("%s: %d buildings; heights from %s", source, len(frame), counts)
    frame = frame.reset_index(drop=True)
    frame["height_m"] = frame["height_m"].astype("float64")
    frame["height_source"] = frame["height_source"].astype(str)
    return frame


def read_vector(path: str | os.PathLike, layer: str | int | None = None) -> Any:
    """A vector file as a GeoDataFrame, choosing the polygon layer of multi-layer files."""
    import geopandas as gpd
    import pyogrio

    path = Path(path)
    if not path.exists():
        raise BuildingsError(f"buildings file {path} does not exist", parameter="buildings")
    try:
        if layer is None:
            layers = pyogrio.list_layers(path)
            if len(layers) > 1:
                polygonal = [
                    str(n) for n, kind in layers if kind and "polygon" in str(kind).lower()
                ]
                if len(polygonal) != 1:
                    raise BuildingsError(
                        f"{path} has {len(layers)} layers {[str(n) for n, _ in layers]}: "
                        "name the one with the footprints (layer=...)",
                        parameter="buildings",
                    )
                layer = polygonal[0]
        return gpd.read_file(path, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise BuildingsError(
            f"cannot read buildings file {path}: {exc}", parameter="buildings"
        ) from exc


def read_buildings(
    source: str | os.PathLike | Any,
    grid: Grid | None = None,
    *,
    margin_m: float = 0.0,
    layer: str | int | None = None,
    **height_rules: Any,
) -> Any:
    """Read building footprints with heights from an OSM file, a vector file or a GeoDataFrame.

    Args:
        source: ``.osm``/``.osm.pbf`` file, vector file (``.gpkg``, ``.geojson``, ``.shp``...)
            or a GeoDataFrame.
        grid: when given, the result is in ``grid.crs`` and clipped to its bounds.
        margin_m: widen the clipping box by this many metres on every side.
        layer: layer of a multi-layer vector file (default: its only polygon layer).
        **height_rules: the fields of :class:`HeightRules` (``height_column``, which wins over
            tags and ``height``; ``storey_height_m``, ``default_height_m``, ``roof_levels``,
            ``strict``).

    Returns:
        GeoDataFrame of Polygons/MultiPolygons with float ``height_m`` and text ``height_source``
        (``user``, ``height``, ``levels`` or ``default``); OSM sources also carry ``osm_type``,
        ``osm_id``, ``building``, ``name`` and the raw height tags.

    Raises:
        BuildingsError: unreadable file, missing height column, or no footprints in the area.
        CRSError: the file has no CRS.
    """
    import geopandas as gpd

    from radiomap_geo.io import osm

    rules = HeightRules(**height_rules)
    _check_margin(margin_m)
    if isinstance(source, gpd.GeoDataFrame):
        return _from_frame(source, grid, "the buildings frame", margin_m, rules)
    if not isinstance(source, (str, os.PathLike)):
        raise BuildingsError(
            f"buildings source must be a file path or a GeoDataFrame, got {type(source).__name__}",
            parameter="buildings",
        )
    path = Path(source)
    if osm.is_osm_file(path):
        frame = osm.read_osm_file(path)
    else:
        frame = read_vector(path, layer)
    return _from_frame(frame, grid, str(path), margin_m, rules)


def load_buildings(
    grid: Grid,
    source: str | os.PathLike | Any | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    cache_only: bool = False,
    overpass_url: str | None = None,
    margin_m: float = 0.0,
    **height_kw: Any,
) -> Any:
    """Footprints for ``grid``: from ``source`` if given, else downloaded from OpenStreetMap.

    Args:
        grid: the working grid; the result is in its CRS, clipped to its bounds (+ ``margin_m``).
        source: file or GeoDataFrame (see :func:`read_buildings`); ``None`` downloads from OSM.
        cache_dir: download cache folder (see :func:`radiomap_geo.io.osm.default_cache_dir`).
        cache_only: download mode without network: use the cached download or fail.
        overpass_url: Overpass API base URL for the download.
        margin_m: widen the area by this many metres on every side.
        **height_kw: ``height_column``, ``storey_height_m``, ``default_height_m``, ``roof_levels``,
            ``layer``, ``strict``: as for :func:`read_buildings`.

    Returns:
        The same frame as :func:`read_buildings`.
    """
    if source is not None:
        return read_buildings(source, grid, margin_m=margin_m, **height_kw)
    from radiomap_geo.io import osm

    height_kw.pop("layer", None)
    rules = HeightRules(**height_kw)
    _check_margin(margin_m)
    minx, miny, maxx, maxy = grid.bounds
    area = BBox(minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m, grid.crs)
    frame = osm.BuildingDownload(cache_dir, cache_only, overpass_url).fetch(area)
    return _from_frame(frame, grid, "the OpenStreetMap download", margin_m, rules)
