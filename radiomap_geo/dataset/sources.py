"""Where training tiles come from: procedural cities and real building layouts.

Every source yields *regions*: areas that go whole into one split (train, val or test), so that no
test tile overlaps a training tile. Tiles are then placed inside regions (see
:mod:`radiomap_geo.dataset.sampling`).

==============  =================================================================================
source          buildings, heights, regions
==============  =================================================================================
``procedural``  :func:`~radiomap_geo.dataset.procedural.procedural_city`, one new city per tile
                (seeded by the tile), at a nominal location in UTM 32N; one region per tile;
                train/val only.
``radiomapseer``  the 117 RadioMapSeer city maps in ``<shared>/radiomapseer_polygons`` (real
                OSM layouts, 256 m x 256 m, no heights); one region per map, placed at a nominal
                location in UTM 31N. Heights: :func:`draw_heights` with a per-map median of
                2-7 storeys (log-uniform) and sigma 0.35, seeded by map id and building index,
                so a map always has the same heights.
``helsinki``    ``sample_data/helsinki.osm.pbf`` read by :func:`~radiomap_geo.io.buildings.
                read_buildings` (OSM ``height`` and ``building:levels`` x 3 m where tagged; the
                untagged ~65 % get :func:`draw_heights` with a median of 6 storeys, sigma 0.3,
                seeded by OSM id), in UTM 35N. Regions: a lattice of squares of
                ``region_factor`` x the tile side over the footprints' extent, keeping squares
                at least 8 % covered by buildings.
``delft``       ``<shared>/delft/bgt_pand.sqlite`` (160 BGT footprints, EPSG:28992) with the LoD1
                ``measuredHeight`` of the same building (``lokaalid``) in ``testarea.json``;
                one region (the campus), always in the test split.
==============  =================================================================================

The real files are read where they are; nothing is copied into the repository.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radiomap_geo.errors import InputError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_NAMES = ("procedural", "radiomapseer", "helsinki", "delft")
SHARED_ENV = "RADIOMAP_GEO_SHARED_DATA"

#: Nominal CRS and lattice of RadioMapSeer maps (their real cities are not recorded).
RADIOMAPSEER_CRS = "EPSG:32631"
RADIOMAPSEER_ORIGIN = (300_000.0, 5_000_000.0)
RADIOMAPSEER_SPACING_M = 2_000.0
RADIOMAPSEER_SIZE_M = 256.0
DELFT_CRS = "EPSG:28992"
#: Regions less covered by buildings than this are not used.
MIN_REGION_COVER = 0.08


def default_shared_data() -> Path:
    """``$RADIOMAP_GEO_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get(SHARED_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def default_helsinki() -> Path:
    """The Helsinki OSM extract in the repository's ``sample_data/``."""
    return REPO_ROOT / "sample_data" / "helsinki.osm.pbf"


def stable_int(*parts: Any) -> int:
    """A 63-bit integer hash of ``parts`` that is the same on every machine and run."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def stable_uniform(*parts: Any) -> float:
    """A number in [0, 1) derived from :func:`stable_int`."""
    return stable_int(*parts) / 2.0**63


def draw_heights(
    keys: list[Any], salt: str, median_storeys: float, sigma: float = 0.35
) -> np.ndarray:
    """Building heights (m) for footprints without any: the documented random rule.

    ``storeys = clip(round(LogNormal(log(median_storeys), sigma)), 1, 30)``, then
    ``height = storeys * U(2.9, 3.4) + U(0, 1.2)`` (parapet), rounded to 0.1 m. Each building's
    draw is seeded by ``(salt, key)``, so a building keeps its height whatever tile it is in.
    """
    out = np.empty(len(keys), dtype=np.float64)
    for i, key in enumerate(keys):
        rng = np.random.default_rng(stable_int("height", salt, key))
        storeys = min(max(round(float(rng.lognormal(math.log(median_storeys), sigma))), 1), 30)
        out[i] = round(storeys * rng.uniform(2.9, 3.4) + rng.uniform(0.0, 1.2), 1)
    return out


@dataclass(frozen=True)
class Region:
    """An area that goes whole into one split. ``bounds`` are in ``crs``."""

    id: str
    source: str
    crs: str
    bounds: tuple[float, float, float, float]
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _rel(path: Path) -> str:
    """A path as recorded in the manifest: relative to the repository when inside or beside it."""
    path = Path(path).resolve()
    if path.is_relative_to(REPO_ROOT):
        return path.relative_to(REPO_ROOT).as_posix()
    if path.is_relative_to(REPO_ROOT.parent):
        return "../" + path.relative_to(REPO_ROOT.parent).as_posix()
    return str(path)


def _cover(frame: Any, bounds: tuple[float, float, float, float]) -> float:
    """Fraction of ``bounds`` covered by the footprints of ``frame`` (same CRS)."""
    import shapely

    window = shapely.box(*bounds)
    hits = frame.geometry.iloc[frame.sindex.query(window)]
    if len(hits) == 0:
        return 0.0
    area = float(shapely.area(shapely.intersection(hits.to_numpy(), window)).sum())
    return area / window.area


def _clip(frame: Any, bounds: tuple[float, float, float, float]) -> Any:
    """Footprints of ``frame`` cut to ``bounds`` (Polygons and MultiPolygons only)."""
    import geopandas as gpd
    import shapely

    window = shapely.box(*bounds)
    frame = frame.iloc[frame.sindex.query(window)]
    geoms = shapely.intersection(frame.geometry.to_numpy(), window)
    keep = np.isin(shapely.get_type_id(geoms), (3, 6)) & ~shapely.is_empty(geoms)
    keep &= shapely.area(geoms) >= 1.0
    out = frame[keep].copy()
    out = gpd.GeoDataFrame(out.drop(columns=out.geometry.name), geometry=geoms[keep], crs=frame.crs)
    return out.reset_index(drop=True)


_FRAMES: dict[str, Any] = {}


class Source(ABC):
    """Base of the real-data sources: a footprint frame with heights, and its regions."""

    name = ""
    crs = ""
    test_fraction = 0.15
    val_fraction = 0.10

    @abstractmethod
    def available(self) -> bool:
        """Whether the files this source reads exist."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the manifest records about the source."""

    @abstractmethod
    def regions(self, tile_m: float, region_factor: float) -> list[Region]:
        """The regions tiles of side ``tile_m`` are drawn from."""

    @abstractmethod
    def buildings(self, region: Region, bounds: tuple[float, float, float, float]) -> Any:
        """Footprints with ``height_m`` inside ``bounds`` (region CRS)."""

    def cover(self, region: Region, bounds: tuple[float, float, float, float]) -> float:
        """Building cover of ``bounds`` (used to place tiles where the buildings are)."""
        return _cover(self.buildings(region, bounds), bounds)


class RadioMapSeerSource(Source):
    """The RadioMapSeer real city layouts (``<shared>/radiomapseer_polygons/<id>.json``)."""

    name = "radiomapseer"
    crs = RADIOMAPSEER_CRS

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def available(self) -> bool:  # noqa: D102
        return self.folder.is_dir() and any(self.folder.glob("*.json"))

    def map_ids(self) -> list[int]:
        """Ids of the maps present, sorted."""
        return sorted(int(p.stem) for p in self.folder.glob("*.json") if p.stem.isdigit())

    def describe(self) -> dict[str, Any]:  # noqa: D102
        return {
            "folder": _rel(self.folder),
            "maps": len(self.map_ids()),
            "crs": self.crs,
            "placement": (
                f"nominal: map m at easting {RADIOMAPSEER_ORIGIN[0]:.0f} + (m % 100) * "
                f"{RADIOMAPSEER_SPACING_M:.0f}, northing {RADIOMAPSEER_ORIGIN[1]:.0f} + "
                f"(m // 100) * {RADIOMAPSEER_SPACING_M:.0f}; pixel (x, y) -> (x - 0.5, y - 0.5) m"
            ),
            "heights": (
                "draw_heights: per-map median storeys log-uniform in [2, 7] (seeded by map id), "
                "sigma 0.35, per building seeded by (map id, building index)"
            ),
        }

    @staticmethod
    def origin(map_id: int) -> tuple[float, float]:
        """Nominal south-west corner of a map."""
        row, col = divmod(int(map_id), 100)
        return (
            RADIOMAPSEER_ORIGIN[0] + col * RADIOMAPSEER_SPACING_M,
            RADIOMAPSEER_ORIGIN[1] + row * RADIOMAPSEER_SPACING_M,
        )

    def regions(self, tile_m: float, region_factor: float) -> list[Region]:  # noqa: D102
        out = []
        for map_id in self.map_ids():
            x0, y0 = self.origin(map_id)
            bounds = (x0, y0, x0 + RADIOMAPSEER_SIZE_M, y0 + RADIOMAPSEER_SIZE_M)
            out.append(
                Region(f"radiomapseer:{map_id}", self.name, self.crs, bounds, {"map_id": map_id})
            )
        return out

    def map_frame(self, map_id: int) -> Any:
        """All buildings of one map, georeferenced, with drawn heights (cached per process)."""
        return _radiomapseer_frame(str(self.folder), int(map_id), self.crs)

    def buildings(self, region: Region, bounds: tuple[float, float, float, float]) -> Any:  # noqa: D102
        return _clip(self.map_frame(int(region.params["map_id"])), bounds)


@functools.lru_cache(maxsize=128)
def _radiomapseer_frame(folder: str, map_id: int, crs: str) -> Any:
    import geopandas as gpd
    import shapely
    from shapely.geometry import Polygon

    from radiomap_geo.io.buildings import buildings_from_frame

    rings = json.loads((Path(folder) / f"{map_id}.json").read_text())
    x0, y0 = RadioMapSeerSource.origin(map_id)
    polys, keys = [], []
    for i, ring in enumerate(rings):
        coords = np.asarray(ring, dtype=np.float64)
        if len(coords) < 4:
            continue
        poly = Polygon(coords - 0.5 + (x0, y0))
        if not poly.is_valid:  # 3 of 5092 rings self-intersect: repair quietly
            poly = shapely.make_valid(poly)
            parts = [g for g in getattr(poly, "geoms", [poly]) if g.geom_type == "Polygon"]
            if not parts:
                continue
            poly = shapely.union_all(parts) if len(parts) > 1 else parts[0]
        polys.append(poly)
        keys.append(f"{map_id}/{i}")
    median = math.exp(math.log(2.0) + stable_uniform("radiomapseer", map_id) * math.log(3.5))
    frame = gpd.GeoDataFrame(
        {"building_index": [int(k.split("/")[1]) for k in keys]}, geometry=polys, crs=crs
    )
    frame["height_m"] = draw_heights(keys, "radiomapseer", median, 0.35)
    frame = buildings_from_frame(
        frame, source=f"RadioMapSeer map {map_id}", height_column="height_m"
    )
    frame["height_source"] = "drawn"
    frame.attrs["median_storeys"] = round(median, 3)
    return frame


class FrameSource(Source, ABC):
    """A source backed by one footprint frame cut into a lattice of square regions, read from
    one file (:attr:`data_file`) at or inside ``location``.
    """

    def __init__(self, location: str | os.PathLike) -> None:
        self.location = Path(location)

    @property
    @abstractmethod
    def data_file(self) -> Path:
        """The file the footprints are read from: the source is available when it exists."""

    @abstractmethod
    def load(self) -> Any:
        """The whole footprint frame (in :attr:`crs`, with ``height_m``)."""

    def available(self) -> bool:  # noqa: D102
        return self.data_file.is_file()

    def cache_key(self) -> str:
        """What identifies the loaded frame within a process."""
        return str(self.location.resolve())

    @property
    def frame(self) -> Any:
        """The footprint frame, loaded once per process."""
        key = f"{self.name}:{self.cache_key()}"
        if key not in _FRAMES:
            _FRAMES[key] = self.load()
        return _FRAMES[key]

    def buildings(self, region: Region, bounds: tuple[float, float, float, float]) -> Any:  # noqa: D102
        return _clip(self.frame, bounds)

    def lattice(self, side: float) -> list[tuple[str, tuple[float, float, float, float]]]:
        """Squares of ``side`` metres over the frame's extent, anchored at whole 10 m."""
        minx, miny, maxx, maxy = self.frame.total_bounds
        x0, y0 = math.floor(minx / 10.0) * 10.0, math.floor(miny / 10.0) * 10.0
        nx = max(1, math.ceil((maxx - x0) / side))
        ny = max(1, math.ceil((maxy - y0) / side))
        out = []
        for j in range(ny):
            for i in range(nx):
                b = (x0 + i * side, y0 + j * side, x0 + (i + 1) * side, y0 + (j + 1) * side)
                out.append((f"r{j}c{i}", b))
        return out


class HelsinkiSource(FrameSource):
    """Central Helsinki from the OSM extract in ``sample_data/`` (ODbL)."""

    name = "helsinki"
    crs = "EPSG:32635"
    median_storeys = 6.0

    @property
    def data_file(self) -> Path:  # noqa: D102
        return self.location

    def describe(self) -> dict[str, Any]:  # noqa: D102
        return {
            "file": _rel(self.data_file),
            "bytes": self.data_file.stat().st_size if self.data_file.exists() else None,
            "crs": self.crs,
            "heights": (
                "OSM height / (building:levels + roof:levels) x 3 m where tagged; else "
                f"draw_heights with median {self.median_storeys:g} storeys, sigma 0.3, seeded by "
                "OSM id"
            ),
            "licence": "OpenStreetMap contributors, ODbL 1.0",
        }

    def load(self) -> Any:  # noqa: D102
        from radiomap_geo.io.buildings import read_buildings

        frame = read_buildings(self.data_file).to_crs(self.crs)
        unknown = (frame["height_source"] == "default").to_numpy()
        keys = [f"{t}/{i}" for t, i in zip(frame["osm_type"], frame["osm_id"])]
        drawn = draw_heights(
            [k for k, u in zip(keys, unknown) if u], "helsinki", self.median_storeys, 0.3
        )
        heights = frame["height_m"].to_numpy(dtype=np.float64).copy()
        heights[unknown] = drawn
        frame["height_m"] = np.round(heights, 1)
        frame.loc[unknown, "height_source"] = "drawn"
        return frame[["osm_type", "osm_id", "height_m", "height_source", "geometry"]]

    def regions(self, tile_m: float, region_factor: float) -> list[Region]:  # noqa: D102
        side = tile_m * region_factor
        out = []
        for key, bounds in self.lattice(side):
            cover = _cover(self.frame, bounds)
            if cover >= MIN_REGION_COVER:
                out.append(
                    Region(
                        f"helsinki:{int(side)}m:{key}",
                        self.name,
                        self.crs,
                        bounds,
                        {"file": _rel(self.data_file), "cover": round(cover, 3)},
                    )
                )
        return out


class DelftSource(FrameSource):
    """The TU Delft campus: BGT footprints with LoD1 heights (CC0, EPSG:28992)."""

    name = "delft"
    crs = DELFT_CRS
    test_fraction = 1.0
    val_fraction = 0.0

    @property
    def data_file(self) -> Path:  # noqa: D102
        return self.location / "bgt_pand.sqlite"

    def describe(self) -> dict[str, Any]:  # noqa: D102
        return {
            "file": _rel(self.data_file),
            "heights": _rel(self.location / "testarea.json") + " measuredHeight (LoD1) by lokaalid",
            "crs": self.crs,
            "licence": "BGT / 3D BAG open data (CC0)",
        }

    def load(self) -> Any:  # noqa: D102
        from radiomap_geo.io.buildings import buildings_from_frame, read_vector

        frame = read_vector(self.data_file, layer="buildingpart")
        heights = {}
        city = self.location / "testarea.json"
        if city.is_file():
            objects = json.loads(city.read_text())["CityObjects"]
            for obj in objects.values():
                attrs = obj.get("attributes", {})
                if obj.get("type") == "Building" and attrs.get("lokaalid"):
                    value = attrs.get("measuredHeight")
                    if isinstance(value, (int, float)) and value > 0:
                        heights[attrs["lokaalid"]] = float(value)
        measured = frame["lokaalid"].map(heights).to_numpy(dtype=np.float64)
        missing = ~np.isfinite(measured)
        if missing.any():
            log.info("delft: %d footprints without LoD1 height get drawn heights", missing.sum())
            measured[missing] = draw_heights(list(frame["lokaalid"][missing]), "delft", 3.0, 0.3)
        frame["height_m"] = np.round(measured, 1)
        frame["origin"] = np.where(missing, "drawn", "lod1")
        frame = buildings_from_frame(
            frame[["lokaalid", "height_m", "origin", "geometry"]],
            source="delft",
            height_column="height_m",
        )
        frame["height_source"] = frame.pop("origin")
        return frame

    def regions(self, tile_m: float, region_factor: float) -> list[Region]:  # noqa: D102
        bounds = tuple(float(v) for v in self.frame.total_bounds)
        return [
            Region(
                "delft:campus",
                self.name,
                self.crs,
                bounds,
                {"file": _rel(self.data_file)},
            )
        ]


def open_sources(
    names: list[str],
    shared_data: str | os.PathLike | None = None,
    helsinki: str | os.PathLike | None = None,
) -> tuple[dict[str, Source | None], dict[str, str]]:
    """The real-data sources among ``names`` whose files exist, and why the others are skipped.

    Returns:
        ``({name: source}, {name: reason skipped})``; ``procedural`` maps to ``None`` (it needs
        no files).
    """
    shared = Path(shared_data) if shared_data else default_shared_data()
    out: dict[str, Source | None] = {}
    skipped: dict[str, str] = {}
    for name in names:
        if name not in SOURCE_NAMES:
            raise InputError(f"unknown dataset source {name!r}; known: {', '.join(SOURCE_NAMES)}")
        if name == "procedural":
            out[name] = None
            continue
        source: Source
        if name == "radiomapseer":
            source = RadioMapSeerSource(shared / "radiomapseer_polygons")
        elif name == "helsinki":
            source = HelsinkiSource(helsinki or default_helsinki())
        else:
            source = DelftSource(shared / "delft")
        if source.available():
            out[name] = source
        else:
            skipped[name] = (
                f"its files are not at {source.describe().get('file') or source.describe().get('folder')}"
            )
    return out, skipped
