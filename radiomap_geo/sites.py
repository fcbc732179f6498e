"""Transmitter sites: the validated table every model consumes.

A site table (GeoPackage, GeoJSON, Shapefile or CSV with ``lon``/``lat``) has one point per
transmitter and these columns:

=================  ========  ==========================================================
column             required  meaning (default)
=================  ========  ==========================================================
geometry / lon,lat  yes      antenna position
height_m           yes       antenna height above ground, metres
site_id            no        unique name (``site-<row number>``)
power_dbm          no        transmit power into the antenna, dBm (43 dBm = 20 W)
frequency_mhz      no        carrier frequency, MHz (3500)
antenna            no        ``iso``, ``tr38901`` (3GPP sector) or an MSI/Planet file (``iso``)
azimuth_deg        no        boresight, degrees clockwise from north (0)
tilt_deg           no        down-tilt, degrees, positive downwards (0)
=================  ========  ==========================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer

from radiomap_geo.antenna import get_pattern
from radiomap_geo.errors import InputError, SitesError
from radiomap_geo.grid import Grid, to_crs

DEFAULTS = {
    "power_dbm": 43.0,
    "frequency_mhz": 3500.0,
    "antenna": "iso",
    "azimuth_deg": 0.0,
    "tilt_deg": 0.0,
}
#: Carrier frequencies a site (or a ray-traced dataset) may have, MHz (10 MHz-100 GHz).
FREQUENCY_RANGE_MHZ = (10.0, 100_000.0)
REQUIRED = ("height_m",)
LON_NAMES = ("lon", "longitude", "lng", "x")
LAT_NAMES = ("lat", "latitude", "y")


@dataclass(frozen=True)
class Site:
    """One transmitter, with ``x``/``y`` in the CRS of the grid it was read for."""

    site_id: str
    x: float
    y: float
    height_m: float
    power_dbm: float = DEFAULTS["power_dbm"]
    frequency_mhz: float = DEFAULTS["frequency_mhz"]
    antenna: str = DEFAULTS["antenna"]
    azimuth_deg: float = DEFAULTS["azimuth_deg"]
    tilt_deg: float = DEFAULTS["tilt_deg"]

    def validate(self) -> None:
        """Raise :class:`SitesError` for values no transmitter can have."""
        where = f"site {self.site_id!r}"
        for name in ("x", "y", "height_m", "power_dbm", "frequency_mhz", "azimuth_deg", "tilt_deg"):
            if not math.isfinite(getattr(self, name)):
                raise SitesError(f"{where}: {name} is missing or not a number", parameter="sites")
        if not 0 < self.height_m <= 500:
            raise SitesError(
                f"{where}: height_m={self.height_m} must be in (0, 500] metres", parameter="sites"
            )
        low, high = FREQUENCY_RANGE_MHZ
        if not low <= self.frequency_mhz <= high:
            raise SitesError(
                f"{where}: frequency_mhz={self.frequency_mhz} is outside 10 MHz-100 GHz "
                "(is it given in GHz or Hz? the column is in MHz)",
                parameter="sites",
            )
        if not -30 <= self.power_dbm <= 90:
            raise SitesError(
                f"{where}: power_dbm={self.power_dbm} is outside -30..90 dBm", parameter="sites"
            )
        if not -90 <= self.tilt_deg <= 90:
            raise SitesError(
                f"{where}: tilt_deg={self.tilt_deg} must be within -90..90", parameter="sites"
            )
        try:
            get_pattern(self.antenna)
        except InputError as exc:
            raise SitesError(f"{where}: {exc}", parameter="sites") from exc

    def to_dict(self) -> dict:
        """Plain-dict form (for metadata and JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class Sites(Sequence):
    """An ordered, validated collection of :class:`Site` in one CRS."""

    items: tuple[Site, ...]
    crs: CRS

    def __post_init__(self) -> None:
        if not self.items:
            raise SitesError(
                "the sites table has no transmitters: add at least one point", parameter="sites"
            )
        ids = [s.site_id for s in self.items]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise SitesError(
                f"site_id values must be unique; repeated: {duplicates}", parameter="sites"
            )
        for site in self.items:
            site.validate()

    def __getitem__(self, index):  # type: ignore[override]
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Site]:
        return iter(self.items)

    @property
    def ids(self) -> list[str]:
        """Site ids in order."""
        return [s.site_id for s in self.items]

    def xy(self) -> np.ndarray:
        """``(n, 2)`` array of site coordinates."""
        return np.array([(s.x, s.y) for s in self.items], dtype=np.float64)

    def to_crs(self, crs: CRS | str | int) -> Sites:
        """The same sites with coordinates transformed into ``crs``."""
        crs = to_crs(crs)
        if crs == self.crs:
            return self
        tr = Transformer.from_crs(self.crs, crs, always_xy=True)
        xy = self.xy()
        xs, ys = tr.transform(xy[:, 0].tolist(), xy[:, 1].tolist())
        moved = tuple(replace(s, x=float(x), y=float(y)) for s, x, y in zip(self, xs, ys))
        return Sites(moved, crs)

    def require_inside(self, grid: Grid) -> None:
        """Raise :class:`SitesError` naming every site outside ``grid``'s bounds."""
        sites = self.to_crs(grid.crs)
        xy = sites.xy()
        outside = [s.site_id for s, ok in zip(sites, grid.contains(xy[:, 0], xy[:, 1])) if not ok]
        if outside:
            raise SitesError(
                f"{len(outside)} of {len(sites)} sites lie outside the area {grid.bounds} "
                f"({grid.crs.to_string()}): {outside[:10]}. Enlarge the area, or drop those sites",
                parameter="sites",
            )

    @classmethod
    def from_records(cls, records: Iterable[dict], crs: CRS | str | int) -> Sites:
        """Build from dicts with ``x``, ``y`` and the table's columns (defaults filled in)."""
        items = []
        for i, rec in enumerate(records):
            items.append(_site_from_row(rec, i))
        return cls(tuple(items), to_crs(crs))


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _site_from_row(row: dict, index: int) -> Site:
    def number(name: str) -> float:
        # An absent column takes the documented default; an empty or NaN cell in a column
        # that is there is refused: silently using 43 dBm for a forgotten value is a wrong map.
        if name not in row:
            return float(DEFAULTS.get(name, float("nan")))
        value = row[name]
        if _is_missing(value):
            hint = (
                f"fill it in, or drop the column to use {DEFAULTS[name]:g} for every site"
                if name in DEFAULTS
                else "fill it in"
            )
            raise SitesError(
                f"row {index + 1}: {name} is empty or not a number: {hint}", parameter="sites"
            )
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise SitesError(
                f"row {index + 1}: {name}={value!r} is not a number", parameter="sites"
            ) from exc

    site_id = row.get("site_id")
    if site_id is None or (isinstance(site_id, float) and math.isnan(site_id)) or site_id == "":
        site_id = f"site-{index + 1}"
    antenna = row.get("antenna") or DEFAULTS["antenna"]
    if isinstance(antenna, float):  # NaN from an empty cell
        antenna = DEFAULTS["antenna"]
    return Site(
        site_id=str(site_id),
        x=number("x"),
        y=number("y"),
        height_m=number("height_m"),
        power_dbm=number("power_dbm"),
        frequency_mhz=number("frequency_mhz"),
        antenna=str(antenna),
        azimuth_deg=number("azimuth_deg"),
        tilt_deg=number("tilt_deg"),
    )


def read_sites(path: str | Path, crs: CRS | str | int | None = None) -> Sites:
    """Read and validate a sites table; coordinates are transformed into ``crs`` if given.

    CSV files carry ``lon``/``lat`` columns in EPSG:4326.
    """
    import geopandas as gpd
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise SitesError(f"sites file {path} does not exist", parameter="sites")
    if path.suffix.lower() in (".csv", ".txt"):
        frame = pd.read_csv(path)
        lower = {c.lower(): c for c in frame.columns}
        lon = next((lower[n] for n in LON_NAMES if n in lower), None)
        lat = next((lower[n] for n in LAT_NAMES if n in lower), None)
        if lon is None or lat is None:
            raise SitesError(
                f"{path}: a CSV sites table needs 'lon' and 'lat' columns (EPSG:4326); "
                f"found {list(frame.columns)}",
                parameter="sites",
            )
        xs, ys = _csv_degrees(frame, lon, lat, path)
        table = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(xs, ys), crs="EPSG:4326")
    else:
        try:
            table = gpd.read_file(path)
        except Exception as exc:
            raise SitesError(f"cannot read sites file {path}: {exc}", parameter="sites") from exc
    return sites_from_frame(table, crs, source=str(path))


def _csv_degrees(frame, lon: str, lat: str, path: Path):
    """The ``lon``/``lat`` columns of a CSV as numbers in degrees, or a message naming the row."""
    import pandas as pd

    columns = []
    for name, limit in ((lon, 180.0), (lat, 90.0)):
        numbers = pd.to_numeric(frame[name], errors="coerce")
        for row, (raw, value) in enumerate(zip(frame[name], numbers)):
            if _is_missing(raw) or pd.isna(value):
                what = "is empty" if _is_missing(raw) else f"= {raw!r} is not a number"
                raise SitesError(
                    f"{path}: row {row + 1}: {name} {what}: give the site's longitude and "
                    "latitude in degrees (EPSG:4326)",
                    parameter="sites",
                )
            if abs(value) > limit:
                raise SitesError(
                    f"{path}: row {row + 1}: {name} = {value:g} is not in degrees (at most "
                    f"{limit:g}): a CSV's lon/lat are EPSG:4326; convert projected x/y, or save "
                    "the sites as a GeoPackage with their CRS",
                    parameter="sites",
                )
        columns.append(numbers.to_numpy(dtype=float))
    return columns


def sites_from_frame(table, crs: CRS | str | int | None = None, source: str = "sites") -> Sites:
    """Validate a GeoDataFrame of points into :class:`Sites` (in ``crs`` when given)."""
    if table.crs is None:
        raise SitesError(
            f"{source} has no CRS: save it with one (e.g. EPSG:4326)", parameter="sites"
        )
    if len(table) == 0:
        raise SitesError(f"{source} has no transmitters: add at least one point", parameter="sites")
    table = table.rename(columns={c: c.lower() for c in table.columns if c != table.geometry.name})
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise SitesError(
            f"{source} lacks required column(s) {missing}; it has {list(table.columns)}. "
            "height_m is the antenna height above ground in metres",
            parameter="sites",
        )
    geoms = table.geometry
    if geoms.isna().any() or geoms.is_empty.any():
        raise SitesError(f"{source}: some rows have no geometry", parameter="sites")
    kinds = set(geoms.geom_type)
    if kinds - {"Point"}:
        raise SitesError(
            f"{source}: site geometries must be points, found {sorted(kinds)}", parameter="sites"
        )
    if crs is not None:
        table = table.to_crs(to_crs(crs))
    rows = table.drop(columns=table.geometry.name).to_dict("records")
    records = [{**row, "x": geom.x, "y": geom.y} for row, geom in zip(rows, table.geometry)]
    return Sites.from_records(records, table.crs)
