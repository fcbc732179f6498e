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

Two antenna models are fitted: isotropic cells, and 3GPP TR 38.901 sectors (65 degree beam,
20 dB front-to-back) with one boresight azimuth per cell; the one with the lower Akaike criterion
is kept, so an azimuth is reported only where the data supports it. Several starts (the centroid
of the strongest samples, the centroid of all, points off either side of the walk's main axis)
guard against the mirror ambiguity of a walk along one street; the lowest criterion wins. The
uncertainty radius is the 95 % radius of the position's covariance from the Jacobian
(sqrt(5.99 x largest eigenvalue)); sites with no more observations than unknowns get infinity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pyproj import CRS, Transformer
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
SECTOR_BEAMWIDTH_DEG = 65.0
SECTOR_BACK_LOSS_DB = 20.0


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


def _bearing_deg(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Bearing clockwise from north (grid north of the local projection), degrees."""
    return np.degrees(np.arctan2(dx, dy))


def sector_gain_db(bearing_deg: np.ndarray, azimuth_deg: np.ndarray) -> np.ndarray:
    """3GPP TR 38.901 horizontal sector pattern (65 degree beam), relative to boresight, dB."""
    delta = (bearing_deg - azimuth_deg + 180.0) % 360.0 - 180.0
    return -np.minimum(12.0 * (delta / SECTOR_BEAMWIDTH_DEG) ** 2, SECTOR_BACK_LOSS_DB)


def _residuals(params, x, y, rsrp, cell_idx, ta_range, has_ta, height, n_cells, sector):
    sx, sy, n = params[0], params[1], params[2]
    p0 = params[3 : 3 + n_cells]
    d = np.sqrt((x - sx) ** 2 + (y - sy) ** 2 + height**2)
    d = np.maximum(d, MIN_DISTANCE_M)
    model = p0[cell_idx] - 10.0 * n * np.log10(d)
    if sector:
        azimuth = params[3 + n_cells :]
        model = model + sector_gain_db(_bearing_deg(x - sx, y - sy), azimuth[cell_idx])
    rss = (rsrp - model) / RSS_SIGMA_DB
    ta = (d[has_ta] - ta_range[has_ta]) / TA_SIGMA_M
    return np.concatenate([rss, ta])


class SiteSolution(NamedTuple):
    """A fitted site in local metres; ``azimuths`` NaN when the isotropic model won."""

    xy: np.ndarray
    exponent: float
    intercepts: np.ndarray
    uncertainty_m: float
    azimuths: np.ndarray


def fit_site(
    x: np.ndarray,
    y: np.ndarray,
    rsrp: np.ndarray,
    cell_idx: np.ndarray,
    ta: np.ndarray | None = None,
    height_m: float = DEFAULT_HEIGHT_M,
    use_rss: bool = True,
    patterns: tuple[str, ...] = ("iso", "sector"),
) -> SiteSolution:
    """Fit one site in local metres (see the module docstring).

    ``ta`` holds timing-advance steps (NaN where unknown); with ``use_rss=False`` only the rings
    count (the signal residuals get a negligible weight, for tests of the geometry alone). Both
    antenna models in ``patterns`` are fitted (isotropic; a 3GPP sector per cell with its own
    azimuth) and the one with the lower Akaike criterion (2 cost + 2 parameters) is kept.
    """
    x, y, rsrp = (np.asarray(a, float) for a in (x, y, rsrp))
    cell_idx = np.asarray(cell_idx, int)
    n_cells = int(cell_idx.max()) + 1
    ta = np.full(len(x), np.nan) if ta is None else np.asarray(ta, float)
    has_ta = np.isfinite(ta)
    ta_range = (np.where(has_ta, ta, 0.0) + 0.5) * TA_STEP_M
    if not use_rss:
        rsrp = np.zeros_like(rsrp)
        patterns = ("iso",)
    scale = 1.0 if use_rss else 1e-6
    starts = _starts(x, y, rsrp, ta_range, has_ta)
    best, best_score, best_sector = None, np.inf, False
    for pattern in patterns:
        sector = pattern == "sector"
        for sx, sy in starts:
            result = _solve(
                x, y, rsrp, cell_idx, ta_range, has_ta, height_m, n_cells, sector, scale, sx, sy
            )
            score = 2 * result.cost + 2 * len(result.x)
            if score < best_score:
                best, best_score, best_sector = result, score, sector
    radius = _uncertainty(best)
    p0 = best.x[3 : 3 + n_cells]
    azimuths = best.x[3 + n_cells :] % 360.0 if best_sector else np.full(n_cells, np.nan)
    return SiteSolution(best.x[:2], float(best.x[2]), p0, radius, azimuths)


def _solve(x, y, rsrp, cell_idx, ta_range, has_ta, height_m, n_cells, sector, scale, sx, sy):
    p0 = [np.median(rsrp[cell_idx == c]) + 60.0 for c in range(n_cells)]
    start, lower, upper = [sx, sy, 3.0, *p0], [-np.inf, -np.inf, 1.5], [np.inf, np.inf, 6.0]
    lower += [-200.0] * n_cells
    upper += [200.0] * n_cells
    if sector:  # start each boresight towards the cell's strongest samples
        for c in range(n_cells):
            mine = cell_idx == c
            strong = mine & (rsrp >= np.quantile(rsrp[mine], 0.7))
            start.append(float(np.mean(_bearing_deg(x[strong] - sx, y[strong] - sy))))
        lower += [-np.inf] * n_cells
        upper += [np.inf] * n_cells

    def fun(p):
        r = _residuals(p, x, y, rsrp, cell_idx, ta_range, has_ta, height_m, n_cells, sector)
        r[: len(x)] *= scale
        return r

    return least_squares(
        fun, np.array(start), bounds=(np.array(lower), np.array(upper)), loss="soft_l1", f_scale=1.0
    )


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


def _uncertainty(result) -> float:
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
    xy, exponent, p0, radius, fitted_az = fit_site(x, y, rsrp, cell_idx, ta, height_m)
    lon, lat = to_local.transform(float(xy[0]), float(xy[1]), direction="INVERSE")
    d = np.maximum(np.sqrt((x - xy[0]) ** 2 + (y - xy[1]) ** 2 + height_m**2), MIN_DISTANCE_M)
    residual = rsrp - (p0[cell_idx] - 10 * exponent * np.log10(d))
    if np.isfinite(fitted_az).all():
        residual -= sector_gain_db(_bearing_deg(x - xy[0], y - xy[1]), fitted_az[cell_idx])
    ta_err = d - (np.nan_to_num(ta, nan=0.0) + 0.5) * TA_STEP_M if ta is not None else None
    rows = []
    for i, cell in enumerate(cells):
        mine = cell_idx == i
        azimuth = float(fitted_az[i])
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

    from radiomap_geo.errors import SitesError
    from radiomap_geo.sites import read_sites

    if not Path(path).exists():
        raise InputError(f"towers file {path} does not exist", parameter="towers")
    try:
        read_sites(path)  # the same validation predict applies
    except SitesError as exc:
        raise InputError(f"towers table {path}: {exc}", parameter="towers") from exc
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
