"""OpenStreetMap building footprints: local files through pyosmium, downloads through osmnx.

Both paths give the same *raw* frame in EPSG:4326, one row per building way or multipolygon
relation, with the columns in :data:`RAW_COLUMNS`; :func:`radiomap_geo.io.buildings.buildings_from_frame`
turns it into the frame every model consumes (heights, repaired geometry, grid CRS, clipping).

Downloads go to the Overpass API and are cached on disk (``$RADIOMAP_GEO_CACHE/osm``, by default
``~/.cache/radiomap-geo/osm``): osmnx keeps the raw responses under ``overpass/`` and this module
keeps the parsed footprints per bounding box under ``buildings/``, which is what the cache-only
mode (no network at all) reads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radiomap_geo.errors import BuildingsError, DependencyError, InputError
from radiomap_geo.grid import BBox
from radiomap_geo.staged import write_layers

log = logging.getLogger(__name__)

#: OSM tags copied into the raw frame (the height tags feed :mod:`radiomap_geo.io.buildings`).
OSM_TAGS = ("building", "name", "height", "building:levels", "roof:levels")
#: Columns of the raw frame besides ``geometry``.
RAW_COLUMNS = ("osm_type", "osm_id", *OSM_TAGS)
#: File name endings that pyosmium reads.
OSM_FILE_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".o5m")
#: The query sent to Overpass.
BUILDING_TAGS: dict[str, bool] = {"building": True}
#: Environment variable naming the radiomap-geo cache root.
CACHE_ENV = "RADIOMAP_GEO_CACHE"

_OFFLINE_HINT = (
    "no network? give a buildings file instead, or use the download cache only (offline) after "
    "one download"
)


def is_osm_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an OpenStreetMap file (``.osm``, ``.osm.pbf``...) by its ending."""
    name = str(path).lower()
    return name.endswith(OSM_FILE_SUFFIXES)


def default_cache_dir() -> Path:
    """``$RADIOMAP_GEO_CACHE/osm`` if that variable is set, else ``~/.cache/radiomap-geo/osm``."""
    root = os.environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "radiomap-geo"
    return base / "osm"


def _empty_raw_frame():
    import geopandas as gpd

    return gpd.GeoDataFrame({c: [] for c in RAW_COLUMNS}, geometry=[], crs="EPSG:4326")


def _raw_frame(records: list[dict], geometries: list) -> Any:
    import geopandas as gpd
    import pandas as pd

    if not records:
        return _empty_raw_frame()
    table = pd.DataFrame.from_records(records, columns=list(RAW_COLUMNS))
    table["osm_id"] = table["osm_id"].astype("int64")
    return gpd.GeoDataFrame(table, geometry=geometries, crs="EPSG:4326")


# -- local files ------------------------------------------------------------------------------


def read_osm_file(path: str | os.PathLike) -> Any:
    """Building footprints of an OSM file (``.osm`` XML, ``.osm.pbf``...), read with pyosmium.

    Closed ways and ``type=multipolygon`` relations tagged ``building`` (except ``building=no``)
    become polygons; inner rings (courtyards) are kept. Buildings whose rings cannot be assembled,
    typically because an extract lacks some of their nodes, are skipped and counted in the log.

    Args:
        path: the OSM file.

    Returns:
        The raw frame (EPSG:4326, columns :data:`RAW_COLUMNS` and ``geometry``).

    Raises:
        BuildingsError: the file does not exist or pyosmium cannot read it.
    """
    import osmium
    import shapely

    path = Path(path)
    if not path.is_file():
        raise BuildingsError(f"OSM file {path} does not exist", parameter="buildings")
    wkb = osmium.geom.WKBFactory()
    records: list[dict] = []
    geometries: list = []
    expected = {"way": 0, "relation": 0}
    failed = 0
    processor = (
        osmium.FileProcessor(str(path))
        .with_areas(osmium.filter.KeyFilter("building"))
        .with_filter(osmium.filter.KeyFilter("building"))
    )
    try:
        for obj in processor:
            tags = obj.tags
            if tags.get("building", "no") == "no":
                continue
            if obj.is_area():
                try:
                    geom = shapely.from_wkb(wkb.create_multipolygon(obj))
                except (RuntimeError, shapely.errors.GEOSException):
                    failed += 1
                    continue
                if shapely.get_num_geometries(geom) == 1:
                    geom = shapely.get_geometry(geom, 0)
                osm_type = "way" if obj.from_way() else "relation"
                records.append(
                    {"osm_type": osm_type, "osm_id": obj.orig_id()}
                    | {key: tags.get(key) for key in OSM_TAGS}
                )
                geometries.append(geom)
            elif obj.is_way():
                expected["way"] += 1
            elif obj.is_relation() and tags.get("type") == "multipolygon":
                expected["relation"] += 1
    except RuntimeError as exc:  # libosmium's parse and I/O errors surface as RuntimeError
        raise BuildingsError(f"cannot read OSM file {path}: {exc}", parameter="buildings") from exc
    built = {kind: sum(r["osm_type"] == kind for r in records) for kind in expected}
    skipped_ways = max(expected["way"] - built["way"], 0)
    skipped_rels = max(expected["relation"] - built["relation"], 0)
    if skipped_ways or skipped_rels or failed:
        log.warning(
            "%s: skipped %d building ways and %d building relations whose outlines could not be "
            "assembled (nodes or member ways missing from the extract, or broken rings)",
            path.name,
            skipped_ways + failed,
            skipped_rels,
        )
    log.info("%s: %d building footprints", path.name, len(records))
    return _raw_frame(records, geometries)


# -- downloads --------------------------------------------------------------------------------


def _cache_key(bbox: BBox) -> str:
    geo = bbox.to_crs("EPSG:4326")
    payload = {"bbox": [round(v, 7) for v in geo.bounds], "tags": BUILDING_TAGS}
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@contextmanager
def _osmnx_settings(**values: Any) -> Iterator[Any]:
    """Set osmnx's global settings for one call, and put the previous values back after."""
    import osmnx as ox

    saved = {name: getattr(ox.settings, name) for name in values}
    try:
        for name, value in values.items():
            setattr(ox.settings, name, value)
        yield ox
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)


def _from_osmnx(features: Any) -> Any:
    """Osmnx's feature frame (indexed by element type and id) to the raw frame."""
    import geopandas as gpd

    table = features.reset_index()
    names = {"element": "osm_type", "element_type": "osm_type", "id": "osm_id", "osmid": "osm_id"}
    table = table.rename(columns=names)  # osmnx 2 names, and osmnx 1's
    for column in RAW_COLUMNS:
        if column not in table.columns:
            table[column] = None
    table = table[table["building"].fillna("no") != "no"]
    frame = gpd.GeoDataFrame(
        table[list(RAW_COLUMNS)].copy(), geometry=table.geometry.values, crs=features.crs
    )
    for column in OSM_TAGS:  # keep tags as text, as in the file reader
        frame[column] = frame[column].map(lambda v: None if v is None or v != v else str(v))
    frame["osm_id"] = frame["osm_id"].astype("int64")
    return frame.to_crs("EPSG:4326").reset_index(drop=True)


def _probe(url: str, timeout_s: float) -> None:
    """Fail fast when the Overpass server cannot be reached at all.

    Without this, osmnx waits 60 s after a failed status request before trying the query.
    """
    import requests

    try:
        requests.get(url.rstrip("/") + "/status", timeout=min(float(timeout_s), 15.0))
    except requests.RequestException as exc:
        raise DependencyError(
            f"cannot reach the Overpass API at {url} ({type(exc).__name__}). {_OFFLINE_HINT}",
            parameter="buildings",
        ) from exc


@dataclass(frozen=True)
class BuildingDownload:
    """How building footprints are downloaded from the Overpass API (through osmnx), cached on
    disk; :meth:`fetch` downloads.

    Attributes:
        cache_dir: cache folder; default :func:`default_cache_dir`.
        cache_only: never touch the network; read the cached download for the very bbox or fail.
        overpass_url: Overpass API base URL (e.g. ``https://overpass-api.de/api``); default
            osmnx's.
        timeout_s: HTTP and Overpass timeout in seconds.
    """

    cache_dir: str | os.PathLike | None = None
    cache_only: bool = False
    overpass_url: str | None = None
    timeout_s: int = 180

    @property
    def cache_root(self) -> Path:
        """The cache folder in use."""
        return Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()

    def cached_path(self, bbox: BBox) -> Path:
        """Where the parsed download for ``bbox`` is (or would be) cached."""
        return self.cache_root / "buildings" / f"{_cache_key(bbox)}.gpkg"

    def fetch(self, bbox: BBox) -> Any:
        """Building footprints inside ``bbox`` (any CRS; sent to Overpass as longitude/latitude).

        Returns:
            The raw frame (EPSG:4326, columns :data:`RAW_COLUMNS` and ``geometry``).

        Raises:
            InputError: ``cache_only`` and nothing is cached for this bbox.
            DependencyError: the download failed (no network, server error).
            BuildingsError: OSM has no buildings in the area.
        """
        cached = self.cached_path(bbox)
        geo = bbox.to_crs("EPSG:4326")
        where = f"bbox {tuple(round(v, 6) for v in geo.bounds)} (lon/lat)"
        frame = self._read_cache(cached, where)
        if frame is not None:
            return frame
        if self.cache_only:
            raise InputError(
                f"no cached OSM download for {where} in {self.cache_root} (cache-only mode, no "
                "network): run once with network access for exactly this area, or give a "
                "buildings file",
                parameter="buildings",
            )
        frame = self._download(geo, where)
        _write_cache(frame, cached)
        return frame

    def _read_cache(self, cached: Path, where: str) -> Any:
        """The cached raw frame, or None (nothing cached, or an unreadable file outside the
        cache-only mode).
        """
        import geopandas as gpd
        import pyogrio

        if not cached.is_file():
            return None
        log.info("OSM buildings for %s read from cache %s", where, cached)
        try:
            frame = gpd.read_file(cached)
        except (pyogrio.errors.DataSourceError, OSError, ValueError) as exc:
            if self.cache_only:
                raise InputError(
                    f"the cached OSM download {cached} is unreadable ({exc}): delete it and "
                    "download again, or give a buildings file",
                    parameter="buildings",
                ) from exc
            log.warning("ignoring unreadable cache file %s: %s", cached, exc)
            return None
        return frame[[*RAW_COLUMNS, frame.geometry.name]]

    def _download(self, geo: BBox, where: str) -> Any:
        """The raw frame from the Overpass API (osmnx keeps its responses in the cache too)."""
        try:
            import osmnx  # noqa: F401
        except ImportError as exc:
            raise DependencyError(
                "downloading OSM buildings needs osmnx: pip install osmnx, or give a buildings file",
                parameter="buildings",
            ) from exc
        import requests
        import shapely

        settings: dict[str, Any] = {
            "use_cache": True,
            "cache_folder": str(self.cache_root / "overpass"),
            "requests_timeout": int(self.timeout_s),
            "log_console": False,
            "log_file": False,
        }
        if self.overpass_url:
            settings["overpass_url"] = self.overpass_url.rstrip("/")
        with _osmnx_settings(**settings) as ox:
            url = ox.settings.overpass_url
            no_features = getattr(ox._errors, "InsufficientResponseError", ValueError)
            bad_status = getattr(ox._errors, "ResponseStatusCodeError", no_features)
            _probe(url, self.timeout_s)
            log.info("downloading OSM buildings for %s from %s", where, url)
            try:
                # A polygon, not features_from_bbox: its bbox argument order changed in osmnx 2.
                features = ox.features_from_polygon(shapely.box(*geo.bounds), tags=BUILDING_TAGS)
            except no_features as exc:
                raise BuildingsError(
                    f"OpenStreetMap has no building footprints inside {where}: check the bbox/CRS, "
                    "give a buildings file, or, if the area truly has none, run on open ground "
                    "(no buildings)",
                    parameter="buildings",
                ) from exc
            except (requests.RequestException, bad_status, OSError) as exc:
                raise DependencyError(
                    f"could not download OSM buildings from {url}: {exc}. {_OFFLINE_HINT}",
                    parameter="buildings",
                ) from exc
        return _from_osmnx(features)


def _write_cache(frame: Any, cached: Path) -> None:
    """Keep a download; atomically, so a crash mid-write never leaves a broken cache entry."""
    import pyogrio

    try:
        write_layers(cached, {"buildings": frame}, overwrite=True)
    except (OSError, pyogrio.errors.DataSourceError) as exc:  # a read-only cache is no failure
        log.warning("could not cache OSM buildings in %s: %s", cached, exc)
