"""Measurement point files: the one reader of measured values for the whole product.

A measurement file holds points (GeoPackage, GeoJSON, Shapefile, or CSV with ``lon``/``lat`` in
EPSG:4326 unless ``csv_crs`` says otherwise) with one numeric value column. ``value_kind`` says
what the values are and ``unit`` what they are in:

===========  ===================  =========================================================
value_kind   units                meaning
===========  ===================  =========================================================
rsrp         dbm                  RSRP per resource element (phones, scanners; the default)
rx-power     dbm                  total received power over the carrier
path-gain    db                   path gain, transmit power excluded (``path_gain_db`` bands)
e-field      dbuv/m, v/m          electric field strength (exposure sensors)
===========  ===================  =========================================================

Values are stored in the kind's canonical unit: dBm, dB, or dBµV/m (``v/m`` is converted with
20 log10(E) + 120). An optional ``site_id`` column ties each value to one transmitter (drive tests
record the serving cell). Bad values stop with a message naming the rows: NaN, empty or
non-numeric values, missing geometry, non-point geometry, an unknown unit, an empty file, CSV
coordinates that are not degrees, and values the kind cannot take (:data:`PLAUSIBLE`: RSRP
-180..-20 dBm, received power -200..+30 dBm, path gain -300..0 dB, field up to 200 V/m).

:meth:`Measurements.to_grid` puts the points on a :class:`~radiomap_geo.grid.Grid`: points
outside it are dropped with a count in the log, and several points in one cell (per site) are
averaged, in dB, with their count kept.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyproj import CRS

from radiomap_geo.errors import CRSError, InputError
from radiomap_geo.grid import Grid, to_crs
from radiomap_geo.reproject import reproject_xy

log = logging.getLogger(__name__)

VALUE_KINDS: dict[str, tuple[str, ...]] = {
    "rsrp": ("dbm",),
    "rx-power": ("dbm",),
    "path-gain": ("db",),
    "e-field": ("dbuv/m", "v/m"),
}
#: The unit each kind's values are stored in after reading.
CANONICAL_UNIT = {"rsrp": "dbm", "rx-power": "dbm", "path-gain": "db", "e-field": "dbuv/m"}
DEFAULT_VALUE_COLUMN = "rsrp_dbm"
DEFAULT_VALUE_KIND = "rsrp"
LON_NAMES = ("lon", "longitude", "lng")
LAT_NAMES = ("lat", "latitude")
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".gml", ".kml")
_UNIT_ALIASES = {"dbµv/m": "dbuv/m", "dbuvm": "dbuv/m", "vpm": "v/m"}


def row_list(index: np.ndarray, limit: int = 10) -> str:
    """'rows 3, 7, 12 (and 4 more)' with 1-based data-row numbers (header excluded)."""
    numbers = [str(int(i) + 1) for i in index[:limit]]
    more = f" (and {len(index) - limit} more)" if len(index) > limit else ""
    word = "row" if len(index) == 1 else "rows"
    return f"{word} {', '.join(numbers)}{more}"


def normalise_unit(value_kind: str, unit: str | None) -> str:
    """Check ``value_kind`` and ``unit`` (case-insensitive); the kind's first unit if ``None``."""
    kind = str(value_kind).strip().lower()
    if kind not in VALUE_KINDS:
        raise InputError(
            f"unknown value kind {value_kind!r}: use one of {', '.join(VALUE_KINDS)}",
            parameter="value_kind",
        )
    if unit is None:
        return VALUE_KINDS[kind][0]
    text = str(unit).strip().lower().replace(" ", "")
    text = _UNIT_ALIASES.get(text, text)
    if text not in VALUE_KINDS[kind]:
        raise InputError(
            f"unit {unit!r} does not fit value kind {kind!r}: use {' or '.join(VALUE_KINDS[kind])}",
            parameter="value_unit",
        )
    return text


@dataclass(frozen=True)
class Measurements:
    """Measured points in one CRS: coordinates, values in the kind's canonical unit, site ids.

    ``attributes`` keeps the file's other columns (a :class:`pandas.DataFrame`, same row order).
    """

    x: np.ndarray
    y: np.ndarray
    values: np.ndarray
    value_kind: str
    crs: CRS
    site_ids: np.ndarray | None = None
    attributes: object = None
    source: str = "measurements"

    def __post_init__(self) -> None:
        n = len(self.values)
        if not (len(self.x) == len(self.y) == n):
            raise ValueError("x, y and values must have the same length")
        if self.site_ids is not None and len(self.site_ids) != n:
            raise ValueError("site_ids must have one entry per point")

    def __len__(self) -> int:
        return len(self.values)

    @property
    def unit(self) -> str:
        """The canonical unit of :attr:`values` (dbm, db or dbuv/m)."""
        return CANONICAL_UNIT[self.value_kind]

    def to_crs(self, crs: CRS | str | int) -> Measurements:
        """The same points with coordinates in ``crs``."""
        crs = to_crs(crs)
        x, y = reproject_xy(self.x, self.y, self.crs, crs)
        return _replace(self, x=x, y=y, crs=crs)

    def subset(self, mask: np.ndarray) -> Measurements:
        """The points where ``mask`` is true."""
        mask = np.asarray(mask, bool)
        attrs = self.attributes
        if attrs is not None:
            attrs = attrs.loc[mask].reset_index(drop=True)
        return _replace(
            self,
            x=self.x[mask],
            y=self.y[mask],
            values=self.values[mask],
            site_ids=None if self.site_ids is None else self.site_ids[mask],
            attributes=attrs,
        )

    def require_sites(self, known_site_ids: list[str]) -> None:
        """Raise :class:`InputError` naming rows whose ``site_id`` is not among ``known_site_ids``."""
        if self.site_ids is None:
            return
        unknown = ~np.isin(self.site_ids, np.asarray(known_site_ids, dtype=object))
        if unknown.any():
            bad = sorted(set(self.site_ids[unknown].tolist()))[:10]
            raise InputError(
                f"{self.source}: {row_list(np.flatnonzero(unknown))}: site_id values "
                f"{bad} that are not in the sites table ({known_site_ids[:10]}): fix the "
                "site_id column or add those sites",
                parameter="measurements",
            )

    def to_grid(self, grid: Grid) -> GriddedMeasurements:
        """Cell-averaged values on ``grid`` (per site when ``site_ids`` is set).

        Points outside the grid are dropped (count logged at WARNING). Several points of one site
        in one cell are averaged in dB (the canonical unit), and their number kept in ``counts``.

        Raises:
            InputError: no point lies inside the grid (a wrong CRS or bounding box, mostly).
        """
        import pandas as pd

        pts = self.to_crs(grid.crs)
        inside = grid.contains(pts.x, pts.y)
        if not inside.any():
            raise InputError(
                f"no measurement lies inside the grid {grid.bounds} ({grid.crs.to_string()}): "
                f"none of the {len(self)} points of {self.source}; check the file's CRS and the "
                "bounding box",
                parameter="measurements",
            )
        dropped = int((~inside).sum())
        if dropped:
            log.warning(
                "%s: %d of %d points lie outside the grid %s and were dropped",
                self.source,
                dropped,
                len(self),
                grid.bounds,
            )
        pts = pts.subset(inside)
        rows, cols = grid.rowcol(pts.x, pts.y)
        sites = pts.site_ids if pts.site_ids is not None else np.full(len(pts), "", dtype=object)
        frame = pd.DataFrame({"site": sites, "row": rows, "col": cols, "value": pts.values})
        agg = frame.groupby(["site", "row", "col"], sort=True)["value"].agg(["mean", "count"])
        agg = agg.reset_index()
        merged = int(len(frame) - len(agg))
        if merged:
            log.info(
                "%s: %d points shared a cell with another and were averaged", self.source, merged
            )
        site_ids = agg["site"].to_numpy(dtype=object) if pts.site_ids is not None else None
        return GriddedMeasurements(
            grid=grid,
            rows=agg["row"].to_numpy(np.int64),
            cols=agg["col"].to_numpy(np.int64),
            values=agg["mean"].to_numpy(np.float64),
            counts=agg["count"].to_numpy(np.int64),
            value_kind=self.value_kind,
            site_ids=site_ids,
            dropped_outside=dropped,
        )


def _replace(m: Measurements, **changes) -> Measurements:
    from dataclasses import replace

    return replace(m, **changes)


@dataclass(frozen=True)
class GriddedMeasurements:
    """Measured cells of a grid: one entry per (site, cell), values averaged in dB."""

    grid: Grid
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    counts: np.ndarray
    value_kind: str
    site_ids: np.ndarray | None = None
    dropped_outside: int = 0
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.values)

    def to_array(self, site_id: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(values, counts)`` on ``grid.shape``: NaN / 0 where unmeasured.

        With ``site_id`` only that site's cells; without it every entry (when values carry site
        ids, cells measured for several sites keep the last site's mean: pass a site id).
        """
        values = np.full(self.grid.shape, np.nan, dtype=np.float64)
        counts = np.zeros(self.grid.shape, dtype=np.int64)
        keep = np.ones(len(self), bool)
        if site_id is not None:
            if self.site_ids is None:
                raise InputError(
                    "these measurements have no site_id column, so they cannot be split by site",
                    parameter="measurements",
                )
            keep = self.site_ids == site_id
        values[self.rows[keep], self.cols[keep]] = self.values[keep]
        counts[self.rows[keep], self.cols[keep]] = self.counts[keep]
        return values, counts


def read_measurements(
    path: str | Path,
    value_column: str = DEFAULT_VALUE_COLUMN,
    value_kind: str = DEFAULT_VALUE_KIND,
    unit: str | None = None,
    site_column: str | None = "site_id",
    csv_crs: CRS | str | int = "EPSG:4326",
) -> Measurements:
    """Read a point file of measured values; see the module docstring for formats and units.

    ``site_column`` names the optional column tying values to a site (ignored when absent).
    Raises :class:`InputError` (with ``parameter``) naming the rows or column at fault.
    """
    path = Path(path)
    unit = normalise_unit(value_kind, unit)
    kind = str(value_kind).strip().lower()
    if not path.exists():
        raise InputError(f"measurement file {path} does not exist", parameter="measurements")
    table = _read_table(path, csv_crs)
    return measurements_from_frame(
        table, value_column, kind, unit, site_column=site_column, source=str(path)
    )


def _read_table(path: Path, csv_crs: CRS | str | int):
    import geopandas as gpd
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError as exc:
            raise InputError(
                f"{path} is empty: no header, no points", parameter="measurements"
            ) from exc
        except Exception as exc:
            raise InputError(f"cannot read CSV {path}: {exc}", parameter="measurements") from exc
        lower = {c.strip().lower(): c for c in frame.columns}
        lon = next((lower[n] for n in LON_NAMES if n in lower), None)
        lat = next((lower[n] for n in LAT_NAMES if n in lower), None)
        if lon is None or lat is None:
            lon, lat = lower.get("x"), lower.get("y")
        if lon is None or lat is None:
            raise InputError(
                f"{path}: a CSV of measurements needs 'lon' and 'lat' columns (or 'x' and 'y' "
                f"in the CRS given as csv_crs); found {list(frame.columns)}",
                parameter="measurements",
            )
        xs = pd.to_numeric(frame[lon].str.strip(), errors="coerce")
        ys = pd.to_numeric(frame[lat].str.strip(), errors="coerce")
        bad = np.flatnonzero(~(np.isfinite(xs.to_numpy(float)) & np.isfinite(ys.to_numpy(float))))
        if len(bad):
            raise InputError(
                f"{path}: {row_list(bad)}: no valid coordinates in columns "
                f"{lon!r}/{lat!r}: fix or delete them",
                parameter="measurements",
            )
        crs = to_crs(csv_crs)
        if crs.is_geographic:
            _require_degrees(path, xs.to_numpy(float), ys.to_numpy(float), lon, lat)
        return gpd.GeoDataFrame(
            frame.drop(columns=[lon, lat]), geometry=gpd.points_from_xy(xs, ys), crs=crs
        )
    try:
        return gpd.read_file(path)
    except Exception as exc:
        raise InputError(
            f"cannot read measurement file {path} ({exc}): use a GeoPackage, GeoJSON, Shapefile "
            "or a CSV with lon/lat columns",
            parameter="measurements",
        ) from exc


def _require_degrees(path: Path, xs: np.ndarray, ys: np.ndarray, lon: str, lat: str) -> None:
    """Refuse CSV coordinates that cannot be longitude/latitude (projected metres, mostly)."""
    bad = np.flatnonzero((np.abs(xs) > 180.0) | (np.abs(ys) > 90.0))
    if len(bad):
        raise InputError(
            f"{path}: {row_list(bad)}: columns {lon}/{lat} hold values like "
            f"{xs[bad[0]]:.10g}, {ys[bad[0]]:.10g}: not degrees; a CSV's coordinates must be "
            "longitude/latitude in degrees (EPSG:4326); convert them or give a "
            "GeoPackage/GeoJSON with its CRS",
            parameter="measurements",
        )


def measurements_from_frame(
    table,
    value_column: str = DEFAULT_VALUE_COLUMN,
    value_kind: str = DEFAULT_VALUE_KIND,
    unit: str | None = None,
    site_column: str | None = "site_id",
    source: str = "measurements",
) -> Measurements:
    """Validate a GeoDataFrame of points into :class:`Measurements` (same rules as the reader)."""
    import pandas as pd

    unit = normalise_unit(value_kind, unit)
    kind = str(value_kind).strip().lower()
    if len(table) == 0:
        raise InputError(f"{source} has no points: nothing to read", parameter="measurements")
    if table.crs is None:
        raise CRSError(
            f"{source} has no CRS: save it with one (e.g. EPSG:4326)", parameter="measurements"
        )
    columns = {str(c).lower(): c for c in table.columns if c != table.geometry.name}
    column = columns.get(str(value_column).lower())
    if column is None:
        raise InputError(
            f"{source} has no column {value_column!r}; its columns are {list(columns.values())}: "
            "name the value column with value_column (--value-column)",
            parameter="value_column",
        )
    geoms = table.geometry
    missing = np.flatnonzero((geoms.isna() | geoms.is_empty).to_numpy())
    if len(missing):
        raise InputError(f"{source}: {row_list(missing)}: no geometry", parameter="measurements")
    not_points = np.flatnonzero((geoms.geom_type != "Point").to_numpy())
    if len(not_points):
        raise InputError(
            f"{source}: {row_list(not_points)}: not points "
            f"({sorted(set(geoms.geom_type.iloc[not_points]))}); measurements must be points",
            parameter="measurements",
        )
    values = _numeric_values(table[column], source, column)
    values = _to_canonical(values, kind, unit, source, column)
    site_ids = None
    if site_column is not None and str(site_column).lower() in columns:
        raw = table[columns[str(site_column).lower()]]
        empty = np.flatnonzero((raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy())
        if len(empty):
            raise InputError(
                f"{source}: {row_list(empty)}: empty {site_column!r}: fill it or drop "
                "the column (then values belong to all sites)",
                parameter="measurements",
            )
        site_ids = raw.astype(str).str.strip().to_numpy(dtype=object)
    attributes = pd.DataFrame(table.drop(columns=[table.geometry.name])).reset_index(drop=True)
    return Measurements(
        x=geoms.x.to_numpy(np.float64),
        y=geoms.y.to_numpy(np.float64),
        values=values,
        value_kind=kind,
        crs=to_crs(table.crs),
        site_ids=site_ids,
        attributes=attributes,
        source=source,
    )


def _numeric_values(series, source: str, column: str) -> np.ndarray:
    import pandas as pd

    text = series.astype(str).str.strip()
    numbers = pd.to_numeric(series if series.dtype.kind in "fiu" else text, errors="coerce")
    values = numbers.to_numpy(np.float64)
    empty = (series.isna() | text.isin(["", "nan", "NaN", "None"])).to_numpy()
    nonnumeric = ~np.isfinite(values) & ~empty
    if empty.any():
        raise InputError(
            f"{source}: {row_list(np.flatnonzero(empty))}: empty or NaN value in column "
            f"{column!r}: fill or delete them",
            parameter="value_column",
        )
    if nonnumeric.any():
        idx = np.flatnonzero(nonnumeric)
        examples = sorted(set(text.iloc[idx[:5]].tolist()))
        raise InputError(
            f"{source}: {row_list(idx)}: non-numeric values in column {column!r} "
            f"(e.g. {examples}): values must be plain numbers in the given unit",
            parameter="value_column",
        )
    return values


def _to_canonical(values: np.ndarray, kind: str, unit: str, source: str, column: str) -> np.ndarray:
    if unit == "v/m":
        bad = np.flatnonzero(values <= 0)
        if len(bad):
            raise InputError(
                f"{source}: {row_list(bad)}: column {column!r} is <= 0 V/m; field strengths "
                "in V/m are positive (are they already in dBuV/m? then pass unit dbuv/m)",
                parameter="value_unit",
            )
        check_plausible(values, kind, unit, source, column)
        return 20.0 * np.log10(values) + 120.0
    check_plausible(values, kind, unit, source, column)
    return values


#: Plausible range of each value kind in its canonical unit, and why; values outside it mean a
#: wrong kind or unit (W instead of dBm, a path loss instead of a path gain) or broken rows.
PLAUSIBLE: dict[str, tuple[float, float, str]] = {
    "rsrp": (-180.0, -20.0, "phones and scanners report RSRP within -140..-44 dBm (3GPP)"),
    "rx-power": (-200.0, 30.0, "a receiver never gets more than +30 dBm (1 W)"),
    "path-gain": (
        -300.0,
        0.0,
        "a path gain (received minus transmitted power) is never above 0 dB; a path loss is its "
        "negative",
    ),
    "e-field": (
        -60.0,
        20.0 * math.log10(200.0) + 120.0,  # 200 V/m
        "ICNIRP reference levels are about 40-61 V/m; no sensor reads above 200 V/m",
    ),
}
UNIT_LABELS = {"dbm": "dBm", "db": "dB", "dbuv/m": "dBuV/m", "v/m": "V/m"}


def check_plausible(
    values: np.ndarray, kind: str, unit: str, source: str, column: str = "values"
) -> None:
    """Raise :class:`InputError` naming the rows whose values ``kind`` cannot take.

    ``values`` are in ``unit`` (the kind's canonical unit, or ``v/m`` for fields); the limits
    are :data:`PLAUSIBLE`.
    """
    low, high, why = PLAUSIBLE[kind]
    if unit == "v/m":  # the limits in V/m: 20 log10(E) + 120 = dBuV/m
        low, high = 10.0 ** ((low - 120.0) / 20.0), 10.0 ** ((high - 120.0) / 20.0)
    values = np.asarray(values, np.float64)
    bad = np.flatnonzero((values < low) | (values > high))
    if not len(bad):
        return
    label = UNIT_LABELS[unit]
    found = values[bad]
    span = f"{found.min():g}" if found.min() == found.max() else f"{found.min():g}..{found.max():g}"
    raise InputError(
        f"{source}: {row_list(bad)}: column {column!r} holds {span} {label}, impossible for "
        f"{kind} in {label} (accepted {low:g}..{high:g} {label}: {why}): give the right "
        f"--value-kind ({'|'.join(VALUE_KINDS)}) and --value-unit "
        f"({'|'.join(UNIT_LABELS)}), or fix or delete those rows",
        parameter="value_unit",
    )


def e_field_dbuvm_to_vpm(dbuvm: np.ndarray | float) -> np.ndarray:
    """dBµV/m to V/m."""
    return 10.0 ** ((np.asarray(dbuvm, dtype=np.float64) - 120.0) / 20.0)


__all__ = [
    "CANONICAL_UNIT",
    "PLAUSIBLE",
    "VALUE_KINDS",
    "GriddedMeasurements",
    "Measurements",
    "check_plausible",
    "e_field_dbuvm_to_vpm",
    "measurements_from_frame",
    "normalise_unit",
    "read_measurements",
    "row_list",
]
