"""Tower localisation from drive-test samples: timing-advance rings and signal strength, jointly.

Crowdsourced data rarely carries antenna positions. For each LTE site (eNodeB: cells whose
``cellid // 256`` agree, with the same mcc and mnc) one position is fitted to every sample of its
cells at once, with ``scipy.optimize.least_squares`` and a robust (soft-L1) loss, in a local
azimuthal-equidistant projection centred on the samples (pyproj), so distances are metres:

* signal strength: ``rsrp = P0_cell - 10 n log10(d)``, one intercept per cell (sectors and
  carriers differ), one exponent per site, residuals scaled by :data:`RSS_SIGMA_DB`;
* timing advance: an LTE TA step is 16 Ts of round trip, :data:`TA_STEP_M` = 78.12 m of range,
  so a sample with TA k lies on a ring of radius (k + 0.5) x 78.12 m; residuals scaled by
  :data:`TA_SIGMA_M` (quantisation, multipath and GPS error together).

Several starts (the centroid of the strongest samples, the centroid of all, points beyond each
end of the walk) guard against the mirror ambiguity of a walk along one street; the lowest
robust cost wins. The uncertainty radius is the 95 % radius of the position's covariance from the
Jacobian (sqrt(5.99 x largest eigenvalue)); the azimuth of a cell is fitted to the cosine
pattern of its residuals around the site when its samples span at least 90 degrees of bearing,
else left unknown (isotropic).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from pyproj import CRS, Geod, Transformer
from scipy.optimize import least_squares

from radiomap_geo.errors import InputError

log = logging.getLogger(__name__)

TA_STEP_M = 78.12  # 16 Ts x c / 2, Ts = 1 / 30.72 MHz (3GPP TS 36.211 / 36.213)
TA_SIGMA_M = 60.0
RSS_SIGMA_DB = 6.0
DEFAULT_HEIGHT_M = 25.0  # assumed antenna height: the data cannot tell it
DEFAULT_FREQUENCY_MHZ = 2100.0  # assumed LTE carrier (AWS / band 4 region); not in the data
DEFAULT_POWER_DBM = 43.0
MIN_DISTANCE_M = 10.0
CHI2_95_2D = 5.991
MIN_AZIMUTH_SPAN_DEG = 90.0
MIN_AZIMUTH_AMPLITUDE_DB = 3.0
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class SiteFit:
    """One located site: position, per-cell intercepts, exponent, quality numbers."""

    site: str
    lon: float
    lat: float
    uncertainty_m: float
    exponent: float
    intercepts: dict[str, float]
    rms_rss_db: float
    rms_ta_m: float
    n_samples: int


def local_projection(lon: float, lat: float) -> CRS:
    """An azimuthal-equidistant CRS centred on (lon, lat): metres, true distances from there."""
    return CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs")


def _residuals(params, x, y, rsrp, cell_idx, ta_range, has_ta, height):
    sx, sy, n = params[0], params[1], params[2]
    p0 = params[3:]
    d = np.sqrt((x - sx) ** 2 + (y - sy) ** 2 + height**2)
    d = np.maximum(d, MIN_DISTANCE_M)
    rss = (rsrp - (p0[cell_idx] - 10.0 * n * np.log10(d))) / RSS_SIGMA_DB
    ta = (d[has_ta] - ta_range[has_ta]) / TA_SIGMA_M
    return np.concatenate([rss, ta])


def fit_site(
    x: np.ndarray,
    y: np.ndarray,
    rsrp: np.ndarray,
    cell_idx: np.ndarray,
    ta: np.ndarray | None = None,
    height_m: float = DEFAULT_HEIGHT_M,
    use_rss: bool = True,
) -> tuple[np.ndarray, float, np.ndarray, float]:
    """Fit one site in local metres: ``(xy, exponent, intercepts, uncertainty_m)``.

    ``ta`` holds timing-advance steps (NaN where unknown); with ``use_rss=False`` only the rings
    count (the signal residuals get a negligible weight, for tests of the geometry alone).
    """
    x, y, rsrp = (np.asarray(a, float) for a in (x, y, rsrp))
    cell_idx = np.asarray(cell_idx, int)
    n_cells = int(cell_idx.max()) + 1
    ta = np.full(len(x), np.nan) if ta is None else np.asarray(ta, float)
    has_ta = np.isfinite(ta)
    ta_range = (np.where(has_ta, ta, 0.0) + 0.5) * TA_STEP_M
    if not use_rss:
        rsrp = np.zeros_like(rsrp)
    scale = 1.0 if use_rss else 1e-6
    starts = _starts(x, y, rsrp, ta_range, has_ta)
    best = None
    for sx, sy in starts:
        p0 = [np.median(rsrp[cell_idx == c]) + 60.0 for c in range(n_cells)]
        start = np.array([sx, sy, 3.0, *p0])
        lower = np.array([-np.inf, -np.inf, 1.5, *([-200.0] * n_cells)])
        upper = np.array([np.inf, np.inf, 6.0, *([200.0] * n_cells)])

        def fun(p, _scale=scale):
            r = _residuals(p, x, y, rsrp, cell_idx, ta_range, has_ta, height_m)
            r[: len(x)] *= _scale
            return r

        result = least_squares(fun, start, bounds=(lower, upper), loss="soft_l1", f_scale=1.0)
        if best is None or result.cost < best.cost:
            best = result
    radius = _uncertainty(best, len(starts[0]))
    return best.x[:2], float(best.x[2]), best.x[3:], radius


def _starts(x, y, rsrp, ta_range, has_ta) -> list[tuple[float, float]]:
    strong = rsrp >= np.quantile(rsrp, 0.8)
    cx, cy = float(np.mean(x)), float(np.mean(y))
    starts = [(float(np.mean(x[strong])), float(np.mean(y[strong]))), (cx, cy)]
    # Points off either side of the walk's main axis: a street walk is mirror-ambiguous.
    coords = np.column_stack([x - cx, y - cy])
    if len(coords) >= 3:
        _, _, vt = np.linalg.svd(coords, full_matrices=False)
        normal = vt[-1]
        reach = float(np.median(ta_range[has_ta])) if has_ta.any() else 200.0
        for sign in (1, -1):
            starts.append((cx + sign * reach * normal[0], cy + sign * reach * normal[1]))
    return starts


def _uncertainty(result, _unused: int) -> float:
    jac = result.jac
    dof = len(result.fun) - len(result.x)
    if dof < 2:  # as many unknowns as observations: the fit says nothing about its error
        return float("inf")
    sigma2 = float(2.0 * result.cost / dof)
    try:
        cov = np.linalg.pinv(jac.T @ jac) * max(sigma2, 1e-12)
    except np.linalg.LinAlgError:
        return float("inf")
    eig = np.linalg.eigvalsh(cov[:2, :2])
    return float(np.sqrt(CHI2_95_2D * max(eig.max(), 0.0)))


def fit_azimuth(bearings_deg: np.ndarray, residual_db: np.ndarray) -> float:
    """Boresight (deg from north) from residuals ~ a cos(bearing - az) + c, or NaN if unsupported."""
    bearings = np.radians(np.asarray(bearings_deg, float))
    span = _circular_span(np.degrees(bearings))
    if span < MIN_AZIMUTH_SPAN_DEG or len(bearings) < 8:
        return float("nan")
    design = np.column_stack([np.cos(bearings), np.sin(bearings), np.ones_like(bearings)])
    (a, b, _), *_ = np.linalg.lstsq(design, np.asarray(residual_db, float), rcond=None)
    if np.hypot(a, b) < MIN_AZIMUTH_AMPLITUDE_DB:
        return float("nan")
    return float(np.degrees(np.arctan2(b, a)) % 360.0)


def _circular_span(degrees: np.ndarray) -> float:
    """Smallest arc (degrees) containing all bearings."""
    angles = np.sort(np.asarray(degrees) % 360.0)
    if len(angles) < 2:
        return 0.0
    gaps = np.diff(np.concatenate([angles, [angles[0] + 360.0]]))
    return float(360.0 - gaps.max())


def locate_towers(samples, height_m: float = DEFAULT_HEIGHT_M, progress=None):
    """One row per cell: located site position, uncertainty, azimuth, and ``--tx-file`` columns.

    ``samples`` is the ``samples`` layer of an imported drive test (EPSG:4326 points with
    ``cell``, ``site``, ``cellid``, ``rsrp_dbm``, ``ta``). Returns a GeoDataFrame in EPSG:4326.
    """
    import geopandas as gpd
    import pandas as pd

    if len(samples) == 0:
        raise InputError("no samples to locate towers from", parameter="measurements")
    samples = samples.to_crs("EPSG:4326")
    rows = []
    groups = list(samples.groupby("site"))
    for done, (site, group) in enumerate(groups):
        rows.extend(_locate_one(site, group, height_m))
        if progress is not None:
            progress(done + 1, len(groups), f"site {site}")
    table = pd.DataFrame(rows)
    return gpd.GeoDataFrame(
        table, geometry=gpd.points_from_xy(table.pop("lon"), table.pop("lat")), crs="EPSG:4326"
    )


def _locate_one(site: str, group, height_m: float) -> list[dict]:
    lon0, lat0 = float(group.geometry.x.mean()), float(group.geometry.y.mean())
    crs = local_projection(lon0, lat0)
    to_local = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_local.transform(group.geometry.x.to_numpy(), group.geometry.y.to_numpy())
    cells = sorted(group["cell"].unique())
    cell_idx = group["cell"].map({c: i for i, c in enumerate(cells)}).to_numpy()
    rsrp = group["rsrp_dbm"].to_numpy(float)
    ta = group["ta"].to_numpy(float) if "ta" in group else None
    xy, exponent, p0, radius = fit_site(x, y, rsrp, cell_idx, ta, height_m)
    lon, lat = to_local.transform(float(xy[0]), float(xy[1]), direction="INVERSE")
    d = np.maximum(np.sqrt((x - xy[0]) ** 2 + (y - xy[1]) ** 2 + height_m**2), MIN_DISTANCE_M)
    residual = rsrp - (p0[cell_idx] - 10 * exponent * np.log10(d))
    ta_err = d - (np.nan_to_num(ta, nan=0.0) + 0.5) * TA_STEP_M if ta is not None else None
    bearings, _, _ = _GEOD.inv(
        np.full(len(x), lon), np.full(len(x), lat), group.geometry.x, group.geometry.y
    )
    rows = []
    for i, cell in enumerate(cells):
        mine = cell_idx == i
        azimuth = fit_azimuth(np.asarray(bearings)[mine], residual[mine])
        first = group.loc[mine].iloc[0]
        ta_ok = mine & np.isfinite(ta) if ta is not None else np.zeros(len(x), bool)
        rows.append(
            {
                "site_id": cell,
                "cellid": int(first["cellid"]),
                "cell": cell,
                "site": site,
                "lon": lon,
                "lat": lat,
                "height_m": height_m,
                "power_dbm": DEFAULT_POWER_DBM,
                "frequency_mhz": DEFAULT_FREQUENCY_MHZ,
                "antenna": "iso" if np.isnan(azimuth) else "tr38901",
                "azimuth_deg": 0.0 if np.isnan(azimuth) else azimuth,
                "tilt_deg": 0.0,
                "azimuth_known": bool(np.isfinite(azimuth)),
                "uncertainty_m": radius,
                "exponent": exponent,
                "intercept_db": float(p0[i]),
                "rms_rss_db": float(np.sqrt(np.mean(residual[mine] ** 2))),
                "rms_ta_m": float(np.sqrt(np.mean(ta_err[ta_ok] ** 2))) if ta_ok.any() else np.nan,
                "n_samples": int(mine.sum()),
                "n_site_samples": len(x),
            }
        )
    return rows


def read_towers(path):
    """A towers table (``locate`` output, or known towers in the same form) as a GeoDataFrame.

    Needs a ``cellid`` column and the ``--tx-file`` columns (at least ``height_m``); the rows are
    validated as a sites table too.
    """
    import geopandas as gpd

    from radiomap_geo.sites import read_sites

    read_sites(path)  # the same validation predict applies
    table = gpd.read_file(path) if not str(path).lower().endswith(".csv") else None
    if table is None:
        import pandas as pd

        frame = pd.read_csv(path)
        table = gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326"
        )
    if "cellid" not in table.columns and "cell" not in table.columns:
        raise InputError(
            f"{path}: a towers table needs a 'cellid' (or 'cell') column matching the "
            "measurements' cell identity",
            parameter="towers",
        )
    if "site_id" not in table.columns:
        table["site_id"] = table["cell"] if "cell" in table.columns else table["cellid"].astype(str)
    return table.to_crs("EPSG:4326")
