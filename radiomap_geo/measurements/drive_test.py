"""Drive-test import: OpenCellID / MLS measurement CSVs and plain point files to clean, binned data.

Accepted inputs, any number mixed:

* OpenCellID measurement CSVs (``mcc,mnc,lac,cellid,lat,lon,signal,measured_at,...,ta,...,pci``)
  and Mozilla Location Service style columns (``net``, ``area``, ``cell``, ``averageSignal``);
* a CSV with ``lon``, ``lat`` and ``rsrp_dbm`` (cell columns optional);
* point files (GeoPackage, GeoJSON, Shapefile) with the same columns, in any CRS.

Each row keeps its cell identity (mcc, mnc, lac/tac, cellid, pci; the LTE eNodeB is
``cellid // 256``), time (UTC), timing advance and speed. Malformed rows (no position, position
outside -90..90 / -180..180 or at 0,0, RSRP not a number or outside the 3GPP range -140..-44 dBm,
no usable cell id) are dropped and counted per reason; exact duplicate rows are dropped too.
Then the Hampel filters of :mod:`radiomap_geo.measurements.hampel` run, and the samples are
binned per cell into ``bin_size`` metre squares of the local UTM zone (count, mean, variance).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.measurements import hampel
from radiomap_geo.staged import write_layers

log = logging.getLogger(__name__)

RSRP_RANGE_DBM = (-140.0, -44.0)
DEFAULT_BIN_SIZE_M = 10.0
SAMPLES_LAYER = "samples"
BINS_LAYER = "bins"
#: Column name in our tables -> names accepted in input files (first match wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "lon": ("lon", "longitude", "lng"),
    "lat": ("lat", "latitude"),
    "rsrp_dbm": ("rsrp_dbm", "rsrp", "signal", "averagesignal", "signal_dbm"),
    "mcc": ("mcc",),
    "mnc": ("mnc", "net"),
    "lac": ("lac", "tac", "area"),
    "cellid": ("cellid", "cell", "cell_id", "eci", "ci"),
    "pci": ("pci", "psc"),
    "time": ("measured_at", "time", "timestamp", "created"),
    "ta": ("ta", "timing_advance"),
    "speed": ("speed",),
}
INTEGER_COLUMNS = ("mcc", "mnc", "lac", "cellid", "pci")
#: The cleaning steps after the malformed rows are gone, in order (keys of ``removed``).
CLEANING_STEPS = ("duplicates", "position_outliers", "rsrp_outliers")


@dataclass
class ImportReport:
    """What happened to the rows: read, dropped per reason, filtered, kept, bins made.

    ``dropped`` counts malformed rows per reason; ``removed`` counts valid rows each cleaning
    step took out (:data:`CLEANING_STEPS`), in the order the steps run.
    """

    rows_read: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLEANING_STEPS, 0))
    kept: int = 0
    cells: int = 0
    bins: int = 0

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        dropped = ", ".join(f"{n} {why}" for why, n in self.dropped.items() if n) or "none"
        removed = self.removed
        return [
            f"{self.rows_read} rows read; malformed rows dropped: {dropped}",
            f"{removed['duplicates']} exact duplicates dropped; Hampel outliers: "
            f"{removed['position_outliers']} by position, {removed['rsrp_outliers']} by RSRP",
            f"{self.kept} samples kept in {self.cells} cells, {self.bins} bins",
        ]


@dataclass
class DriveTest:
    """Clean samples (EPSG:4326 points) and per-cell bins (points at bin centres, UTM)."""

    samples: object  # geopandas.GeoDataFrame
    bins: object  # geopandas.GeoDataFrame
    report: ImportReport
    bin_size: float = DEFAULT_BIN_SIZE_M


def _pick(frame, name: str):
    lower = {str(c).strip().lower(): c for c in frame.columns}
    return next((lower[a] for a in ALIASES[name] if a in lower), None)


def _read_one(path: Path):
    """A pandas frame with our column names (strings or numbers as read) and ``source_file``."""
    import geopandas as gpd
    import pandas as pd

    if not path.exists():
        raise InputError(f"drive-test file {path} does not exist", parameter="files")
    if path.suffix.lower() in (".csv", ".txt"):
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            log.warning("%s is empty; skipped", path)
            return pd.DataFrame()
        except Exception as exc:
            raise InputError(f"cannot read CSV {path}: {exc}", parameter="files") from exc
    else:
        try:
            table = gpd.read_file(path)
        except Exception as exc:
            raise InputError(
                f"cannot read {path} ({exc}): give OpenCellID/MLS CSVs, a CSV with lon,lat,"
                "rsrp_dbm, or a GeoPackage/GeoJSON/Shapefile of points",
                parameter="files",
            ) from exc
        if table.crs is None:
            raise InputError(f"{path} has no CRS: save it with one", parameter="files")
        points = table.geometry.to_crs("EPSG:4326")
        raw = pd.DataFrame(table.drop(columns=table.geometry.name))
        raw["lon"] = [g.x if g is not None and g.geom_type == "Point" else np.nan for g in points]
        raw["lat"] = [g.y if g is not None and g.geom_type == "Point" else np.nan for g in points]
    if _pick(raw, "rsrp_dbm") is None or _pick(raw, "lon") is None or _pick(raw, "lat") is None:
        raise InputError(
            f"{path}: needs a position (lon, lat or point geometry) and a signal column "
            f"(rsrp_dbm or signal); it has {list(raw.columns)}",
            parameter="files",
        )
    out = pd.DataFrame(index=raw.index)
    for name in ALIASES:
        column = _pick(raw, name)
        out[name] = raw[column] if column is not None else np.nan
    out["source_file"] = path.name
    return out


def _parse_time(values):
    """Epoch milliseconds, epoch seconds or ISO strings to UTC timestamps (NaT when unreadable)."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    times = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    ms = numbers > 1e11
    sec = (numbers > 1e8) & ~ms
    times[ms] = pd.to_datetime(numbers[ms], unit="ms", utc=True)
    times[sec] = pd.to_datetime(numbers[sec], unit="s", utc=True)
    text = numbers.isna() & values.astype(str).str.strip().ne("")
    if text.any():
        times[text] = pd.to_datetime(values[text], utc=True, errors="coerce")
    return times


def _validate(frame, report: ImportReport):
    """Numbers parsed, malformed rows dropped and counted per reason."""
    import pandas as pd

    for name in ("lon", "lat", "rsrp_dbm", "ta", "speed", *INTEGER_COLUMNS):
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    frame["time"] = _parse_time(frame["time"].astype(str).replace({"nan": ""}))
    reasons = {
        "without a valid position": ~(
            frame.lat.between(-90, 90)
            & frame.lon.between(-180, 180)
            & ~((frame.lat == 0) & (frame.lon == 0))
        ),
        "without a plausible RSRP (-140..-44 dBm)": ~frame.rsrp_dbm.between(*RSRP_RANGE_DBM),
        "without a cell id": frame.cellid.isna() | (frame.cellid <= 0),
    }
    bad = pd.Series(False, index=frame.index)
    for why, mask in reasons.items():
        mask = mask & ~bad
        report.dropped[why] = int(mask.sum())
        bad |= mask
    frame = frame.loc[~bad].copy()
    for name in INTEGER_COLUMNS:
        frame[name] = frame[name].fillna(-1).astype("int64")
    return frame


def cell_key(mcc, mnc, lac, cellid) -> str:
    """The cell identity as one string, ``mcc-mnc-lac-cellid``."""
    return f"{int(mcc)}-{int(mnc)}-{int(lac)}-{int(cellid)}"


def site_key(mcc, mnc, cellid) -> str:
    """The LTE site (eNodeB) a cell belongs to: ``mcc-mnc-enb`` with ``enb = cellid // 256``."""
    return f"{int(mcc)}-{int(mnc)}-{int(cellid) // 256}"


def check_bin_size(bin_size: float) -> float:
    """Refuse a bin side that is not a positive, finite number of metres."""
    if not (math.isfinite(bin_size) and bin_size > 0):
        raise InputError(
            f"bin size must be a positive number of metres, got {bin_size}: give the side of the "
            f"squares samples are averaged in (default {DEFAULT_BIN_SIZE_M:g})",
            parameter="bin_size",
        )
    return float(bin_size)


def import_drive_tests(
    paths: list[str | Path], bin_size: float = DEFAULT_BIN_SIZE_M, filters: bool = True
) -> DriveTest:
    """Read, clean, filter and bin drive-test files (see the module docstring)."""
    import geopandas as gpd
    import pandas as pd

    if not paths:
        raise InputError("no drive-test files given", parameter="files")
    check_bin_size(bin_size)
    report = ImportReport()
    frames = [_read_one(Path(p)) for p in paths]
    frame = (
        pd.concat([f for f in frames if len(f)], ignore_index=True)
        if any(len(f) for f in frames)
        else pd.DataFrame()
    )
    report.rows_read = len(frame)
    if not len(frame):
        raise InputError(
            f"the drive-test files {list(map(str, paths))} hold no rows: give files with a header "
            "line and at least one measurement (OpenCellID/MLS CSV, or lon,lat,rsrp_dbm)",
            parameter="files",
        )
    frame = _validate(frame, report)
    if not len(frame):
        raise InputError(
            f"no valid samples in {[str(p) for p in paths]}: {report.lines()[0]}", parameter="files"
        )
    before = len(frame)
    frame = frame.drop_duplicates(subset=[c for c in frame.columns if c != "source_file"])
    report.removed["duplicates"] = before - len(frame)
    frame["cell"] = [cell_key(*r) for r in frame[["mcc", "mnc", "lac", "cellid"]].to_numpy()]
    frame["site"] = [site_key(*r) for r in frame[["mcc", "mnc", "cellid"]].to_numpy()]
    if filters:
        frame = _apply_filters(frame, report)
    frame = frame.reset_index(drop=True)
    if not len(frame):
        raise InputError("no valid samples left after dropping malformed rows", parameter="files")
    report.kept = len(frame)
    report.cells = int(frame["cell"].nunique())
    samples = gpd.GeoDataFrame(
        frame.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(frame.lon, frame.lat),
        crs="EPSG:4326",
    )
    bins = bin_samples(samples, bin_size)
    report.bins = len(bins)
    for line in report.lines():
        log.info(line)
    if sum(report.dropped.values()):
        log.warning("malformed rows dropped: %s", report.lines()[0])
    return DriveTest(samples=samples, bins=bins, report=report, bin_size=float(bin_size))


def _apply_filters(frame, report: ImportReport):
    out_pos = np.zeros(len(frame), bool)
    for _, idx in frame.groupby("cell").indices.items():
        out_pos[idx] = hampel.position_outliers(
            frame.lat.to_numpy()[idx], frame.lon.to_numpy()[idx]
        )
    report.removed["position_outliers"] = int(out_pos.sum())
    frame = frame.loc[~out_pos]
    order = frame["time"].astype("int64").to_numpy()
    walks = (frame["cell"] + "|" + frame["source_file"]).to_numpy()
    out_rsrp = hampel.rsrp_outliers(frame.rsrp_dbm.to_numpy(), walks, order)
    report.removed["rsrp_outliers"] = int(out_rsrp.sum())
    return frame.loc[~out_rsrp]


def local_crs(samples):
    """The UTM zone of the samples' centre (bins and fits work in metres there)."""
    from radiomap_geo.grid import BBox, utm_crs_for

    minx, miny, maxx, maxy = samples.to_crs("EPSG:4326").total_bounds
    pad = 1e-6
    return utm_crs_for(BBox(minx - pad, miny - pad, maxx + pad, maxy + pad, crs=samples.crs))


def bin_samples(samples, bin_size: float = DEFAULT_BIN_SIZE_M):
    """Per cell and ``bin_size`` square of the local UTM zone: count, mean, variance, TA, month."""
    import geopandas as gpd
    import pandas as pd

    crs = local_crs(samples)
    pts = samples.to_crs(crs)
    frame = pd.DataFrame(samples.drop(columns=samples.geometry.name))
    frame["bx"] = np.floor(pts.geometry.x.to_numpy() / bin_size).astype(np.int64)
    frame["by"] = np.floor(pts.geometry.y.to_numpy() / bin_size).astype(np.int64)
    frame["month"] = frame["time"].dt.month.fillna(0).astype(int)
    frame["t"] = frame["time"].astype("int64") / 1e9
    keys = ["cell", "bx", "by"]
    grouped = frame.groupby(keys, sort=True)
    bins = grouped.agg(
        site=("site", "first"),
        mcc=("mcc", "first"),
        mnc=("mnc", "first"),
        lac=("lac", "first"),
        cellid=("cellid", "first"),
        pci=("pci", "first"),
        count=("rsrp_dbm", "size"),
        rsrp_mean=("rsrp_dbm", "mean"),
        rsrp_var=("rsrp_dbm", lambda v: float(np.var(v, ddof=1)) if len(v) > 1 else np.nan),
        ta_median=("ta", "median"),
        month=("month", lambda v: int(pd.Series(v).mode().iloc[0])),
        time_s=("t", "mean"),
    ).reset_index()
    x = (bins["bx"].to_numpy() + 0.5) * bin_size
    y = (bins["by"].to_numpy() + 0.5) * bin_size
    return gpd.GeoDataFrame(bins, geometry=gpd.points_from_xy(x, y), crs=crs)


def write_drive_test(dt: DriveTest, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``samples`` and ``bins`` layers to a GeoPackage, atomically."""
    samples = dt.samples.copy()
    samples["time"] = samples["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    bins = dt.bins.copy()
    bins.attrs = {}
    bins["bin_size_m"] = dt.bin_size
    return write_layers(path, {SAMPLES_LAYER: samples, BINS_LAYER: bins}, overwrite=overwrite)


def read_drive_test(path: str | Path) -> DriveTest:
    """Read a GeoPackage written by :func:`write_drive_test` (or by ``measurements import``)."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    path = Path(path)
    if not path.exists():
        raise InputError(f"measurement file {path} does not exist", parameter="measurements")
    try:
        layers = {name for name, _ in pyogrio.list_layers(path)}
    except Exception as exc:
        raise InputError(f"cannot read {path}: {exc}", parameter="measurements") from exc
    if not {SAMPLES_LAYER, BINS_LAYER} <= layers:
        raise InputError(
            f"{path} is not an imported drive test (layers {sorted(layers)}): run "
            "'radiomap-geo measurements import' on the raw files first",
            parameter="measurements",
        )
    samples = gpd.read_file(path, layer=SAMPLES_LAYER)
    samples["time"] = pd.to_datetime(samples["time"], utc=True, errors="coerce")
    bins = gpd.read_file(path, layer=BINS_LAYER)
    bin_size = float(bins["bin_size_m"].iloc[0]) if len(bins) else DEFAULT_BIN_SIZE_M
    report = ImportReport(kept=len(samples), cells=int(samples["cell"].nunique()), bins=len(bins))
    return DriveTest(samples=samples, bins=bins, report=report, bin_size=bin_size)
