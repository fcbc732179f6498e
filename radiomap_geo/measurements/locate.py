"""Tower localisation from drive-test samples: timing-advance intervals and signal strength.

Crowdsourced data rarely carries antenna positions. For each LTE site (eNodeB: cells whose
``cellid // 256`` agree, with the same mcc and mnc) one position is fitted to every sample of its
cells at once, with ``scipy.optimize.least_squares`` and a robust (soft-L1) loss, in a local
azimuthal-equidistant projection centred on the samples (pyproj), so distances are metres:

* signal strength: ``rsrp = P0_cell - 10 n log10(d)``, one intercept per cell (sectors and
  carriers differ), one exponent per site; two-piece residuals (:func:`rss_residuals`): a sample
  above the model costs as noise (:data:`RSS_SIGMA_UP_DB`), one below it much less
  (:data:`RSS_SIGMA_DOWN_DB`), since shadowing only ever removes signal: the fit follows the
  line-of-sight envelope;
* timing advance: an LTE TA step is 16 Ts of round trip, :data:`TA_STEP_M` = 78.12 m of range,
  and TA k = floor(d / 78.12 m) says d lies in [k, k + 1) steps: only range outside that
  interval costs, scaled first by :data:`TA_SIGMA_M`, then by the RMS range outside the
  intervals the fit shows (down to :data:`TA_SIGMA_FLOOR_M`), so clean TA data pins the
  position where the walk crosses a step boundary and noisy TA keeps a loose scale.

Two antenna models are fitted: isotropic cells, and 3GPP TR 38.901 sectors (65 degree beam,
20 dB front-to-back) with one boresight azimuth per cell; the one with the lower Akaike criterion
is kept, so an azimuth is reported only where the data supports it. The starts are the centroid
of the strongest samples and the best distinct minima of a 48 x 48 grid search (closed-form
isotropic fit per candidate plus its TA cost), which guards against local minima such as the
mirror image of a walk along one street; the lowest criterion wins. The uncertainty radius is a
95 % radius over every distinct minimum found, each with a cluster-robust (walk-block) sandwich
covariance, weighted by tempered Akaike weights (``locate_uncertainty`` says why the plain
Jacobian radius was overconfident); sites with no more observations than unknowns get infinity.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pyproj import CRS, Transformer
from scipy.optimize import least_squares

from radiomap_geo.errors import InputError
from radiomap_geo.measurements.locate_uncertainty import site_radius, walk_blocks

log = logging.getLogger(__name__)

TA_STEP_M = 78.12  # 16 Ts x c / 2, Ts = 1 / 30.72 MHz (3GPP TS 36.211 / 36.213)
TA_SIGMA_M = 20.0  # prior scale of range outside the TA interval (GPS, multipath, timing)
TA_SIGMA_FLOOR_M = 5.0  # never trust the rings more than a phone's GPS fix
RSS_SIGMA_UP_DB = 3.0  # a sample above the line-of-sight model: measurement noise only
RSS_SIGMA_DOWN_DB = 20.0  # below it: also the loss behind buildings, one-sided, tens of dB
PHONE_HEIGHT_M = 1.5
DEFAULT_HEIGHT_M = 25.0  # assumed antenna height: the data cannot tell it
#: Antenna heights a sites table may hold, m: (low, high]; ``sites.Site.validate`` (so predict)
#: refuses any other.
HEIGHT_RANGE_M = (0.0, 500.0)
DEFAULT_FREQUENCY_MHZ = 2100.0  # assumed LTE carrier (AWS / band 4 region); not in the data
DEFAULT_POWER_DBM = 43.0
MIN_DISTANCE_M = 10.0
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


@dataclass(frozen=True)
class _Site:
    """One site's observations in local metres, with what every fit of it shares."""

    x: np.ndarray
    y: np.ndarray
    rsrp: np.ndarray
    cell_idx: np.ndarray
    n_cells: int
    ta: np.ndarray  # timing advance steps, NaN where unknown
    has_ta: np.ndarray
    dz: float  # antenna height over the phone
    rss_weight: float  # 1, or ~0 to fit the timing advance alone
    ta_sigma_m: float = TA_SIGMA_M

    def distance(self, sx, sy) -> np.ndarray:
        """3-D distance from (sx, sy) (scalars, or arrays broadcasting against the samples)."""
        d = np.sqrt((self.x - sx) ** 2 + (self.y - sy) ** 2 + self.dz**2)
        return np.maximum(d, MIN_DISTANCE_M)

    def ta_residuals(self, d: np.ndarray) -> np.ndarray:
        """Range outside each sample's TA interval, in units of ``ta_sigma_m`` (0 inside)."""
        return ta_outside_m(d[..., self.has_ta], self.ta[self.has_ta]) / self.ta_sigma_m


def ta_outside_m(distance_m: np.ndarray, ta: np.ndarray) -> np.ndarray:
    """Signed range outside the interval [ta, ta + 1) x :data:`TA_STEP_M` (0 inside it).

    ``TA = floor(d / step)`` says no more than that the distance lies in the interval; a ring at
    its centre would charge half a step to a sample that fits exactly.
    """
    low, high = ta * TA_STEP_M, (ta + 1.0) * TA_STEP_M
    return np.maximum(distance_m - high, 0.0) - np.maximum(low - distance_m, 0.0)


def rss_residuals(observed: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Two-piece residuals: a sample above the model costs as LOS noise, one below much less.

    Ray-traced (and real) urban signal follows line of sight at the strongest points and loses
    a one-sided, unknown amount behind buildings: a symmetric fit drags the model down and the
    position towards the shadowed samples; the two-piece fit follows the upper envelope.
    """
    r = observed - model
    return np.where(r > 0, r / RSS_SIGMA_UP_DB, r / RSS_SIGMA_DOWN_DB)


def _model(site: _Site, params: np.ndarray, sector: bool) -> tuple[np.ndarray, np.ndarray]:
    sx, sy, n = params[0], params[1], params[2]
    d = site.distance(sx, sy)
    model = params[3 : 3 + site.n_cells][site.cell_idx] - 10.0 * n * np.log10(d)
    if sector:
        azimuth = params[3 + site.n_cells :]
        bearing = _bearing_deg(site.x - sx, site.y - sy)
        model = model + sector_gain_db(bearing, azimuth[site.cell_idx])
    return model, d


def _residuals(params: np.ndarray, site: _Site, sector: bool) -> np.ndarray:
    model, d = _model(site, params, sector)
    rss = rss_residuals(site.rsrp, model) * site.rss_weight
    return np.concatenate([rss, site.ta_residuals(d)])


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
    blocks: np.ndarray | None = None,
) -> SiteSolution:
    """Fit one site in local metres (see the module docstring).

    ``ta`` holds timing-advance steps (NaN where unknown); with ``use_rss=False`` only the TA
    intervals count (the signal residuals get a negligible weight, for tests of the geometry
    alone). Both antenna models in ``patterns`` are fitted (isotropic; a 3GPP sector per cell
    with its own azimuth) from the best starts of a grid search, and the one with the lower
    Akaike criterion (2 cost + 2 parameters) is kept. ``blocks`` groups samples whose errors
    go together (runs along one walk, :func:`~radiomap_geo.measurements.locate_uncertainty.
    walk_blocks`) for the uncertainty radius; by default runs of the given order.
    """
    site = _make_site(x, y, rsrp, cell_idx, ta, height_m, use_rss)
    if not use_rss:
        patterns = ("iso",)
    best, best_sector, fits = _fit_all(site, patterns)
    for _ in range(2):  # the TA scale the data shows: tighter rings where the TA is clean
        sigma = _ta_scale(site, best.x)
        if sigma > 0.8 * site.ta_sigma_m:
            break
        site = replace(site, ta_sigma_m=sigma)
        best, best_sector, fits = _fit_all(site, patterns)
    blocks = walk_blocks(None, len(site.x)) if blocks is None else np.asarray(blocks)
    clusters = np.concatenate([blocks, blocks[site.has_ta]])  # a sample's RSS and TA rows
    radius = site_radius(fits, lambda p, sector: _residuals(p, site, sector), clusters)
    p0 = best.x[3 : 3 + site.n_cells]
    azimuths = best.x[3 + site.n_cells :] % 360.0 if best_sector else np.full(site.n_cells, np.nan)
    return SiteSolution(best.x[:2], float(best.x[2]), p0, radius, azimuths)


def _fit_all(site: _Site, patterns: tuple[str, ...]):
    """The lowest-criterion fit over antenna models and starts, whether it is a sector, and
    every fit tried as ``(criterion, sector, result)`` (for the uncertainty radius).
    """
    best, best_score, best_sector, fits = None, np.inf, False, []
    for pattern in patterns:
        sector = pattern == "sector"
        for sx, sy in _starts(site):
            result = _solve(site, sector, sx, sy)
            score = 2 * result.cost + 2 * len(result.x)
            fits.append((score, sector, result))
            if score < best_score:
                best, best_score, best_sector = result, score, sector
    return best, best_sector, fits


def _ta_scale(site: _Site, params: np.ndarray) -> float:
    """RMS range outside the TA intervals at ``params``, clipped to the floor and the prior.

    Synthetic or clean timing advance leaves almost no range outside its interval, so the
    intervals may pin the position to a few metres; real phones' TA errs by whole steps at
    times, and then the scale stays near :data:`TA_SIGMA_M`.
    """
    if not site.has_ta.any():
        return site.ta_sigma_m
    outside = site.ta_residuals(site.distance(params[0], params[1])) * site.ta_sigma_m
    rms = float(np.sqrt(np.mean(outside**2)))
    return float(np.clip(rms, TA_SIGMA_FLOOR_M, TA_SIGMA_M))


def _make_site(x, y, rsrp, cell_idx, ta, height_m: float, use_rss: bool) -> _Site:
    x, y, rsrp = (np.asarray(a, float) for a in (x, y, rsrp))
    ta = np.full(len(x), np.nan) if ta is None else np.asarray(ta, float)
    has_ta = np.isfinite(ta)
    return _Site(
        x=x,
        y=y,
        rsrp=rsrp if use_rss else np.zeros_like(rsrp),
        cell_idx=np.asarray(cell_idx, int),
        n_cells=int(np.max(cell_idx)) + 1,
        ta=ta,
        has_ta=has_ta,
        dz=max(height_m - PHONE_HEIGHT_M, 0.0),
        rss_weight=1.0 if use_rss else 1e-6,
    )


def _solve(site: _Site, sector: bool, sx: float, sy: float):
    n_cells, cell_idx, rsrp = site.n_cells, site.cell_idx, site.rsrp
    p0 = [np.max(rsrp[cell_idx == c]) + 50.0 for c in range(n_cells)]
    start, lower, upper = [sx, sy, 2.5, *p0], [-np.inf, -np.inf, 1.5], [np.inf, np.inf, 6.0]
    lower += [-200.0] * n_cells
    upper += [200.0] * n_cells
    if sector:  # start each boresight towards the cell's strongest samples
        for c in range(n_cells):
            mine = cell_idx == c
            strong = mine & (rsrp >= np.quantile(rsrp[mine], 0.7))
            start.append(
                float(_circular_mean(_bearing_deg(site.x[strong] - sx, site.y[strong] - sy)))
            )
        lower += [-np.inf] * n_cells
        upper += [np.inf] * n_cells
    return least_squares(
        _residuals,
        np.array(start),
        bounds=(np.array(lower), np.array(upper)),
        loss="soft_l1",
        f_scale=1.0,
        args=(site, sector),
    )


def _circular_mean(deg: np.ndarray) -> float:
    rad = np.radians(deg)
    return float(np.degrees(np.arctan2(np.mean(np.sin(rad)), np.mean(np.cos(rad)))))


def _starts(site: _Site, keep: int = 3) -> list[tuple[float, float]]:
    """The best few positions of a grid search, plus the strongest samples' centroid.

    Each candidate gets the closed-form isotropic fit (intercepts and exponent by weighted
    least squares, reweighted for the two-piece residuals) plus its TA-interval cost; distinct
    local minima (a street walk is mirror-ambiguous) start the full fits.
    """
    gx, gy = _candidates(site)
    cost = _grid_cost(site, gx.ravel(), gy.ravel())
    strong = site.rsrp >= np.quantile(site.rsrp, 0.8)
    starts = [(float(np.mean(site.x[strong])), float(np.mean(site.y[strong])))]
    spacing = max(float(gx[0, 1] - gx[0, 0]), 1.0)
    for k in np.argsort(cost):
        cand = (float(gx.ravel()[k]), float(gy.ravel()[k]))
        if all(np.hypot(cand[0] - a, cand[1] - b) > 4 * spacing for a, b in starts[1:]):
            starts.append(cand)
        if len(starts) > keep:
            break
    return starts


def _candidates(site: _Site, n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """An ``n x n`` grid over the samples' extent, widened by the largest TA range."""
    reach = float(np.nanmax(site.ta) + 1.0) * TA_STEP_M if site.has_ta.any() else 300.0
    margin = min(reach, 600.0)
    xs = np.linspace(site.x.min() - margin, site.x.max() + margin, n)
    ys = np.linspace(site.y.min() - margin, site.y.max() + margin, n)
    return np.meshgrid(xs, ys)


def _grid_cost(site: _Site, gx: np.ndarray, gy: np.ndarray, iterations: int = 4) -> np.ndarray:
    d = site.distance(gx[:, None], gy[:, None])  # candidates x samples
    cost = np.sum(_soft_l1(site.ta_residuals(d)), axis=1)
    if site.rss_weight < 1.0:
        return cost
    onehot = np.eye(site.n_cells)[site.cell_idx]
    loss = -10.0 * np.log10(d)
    weight = np.ones_like(d)
    for _ in range(iterations):  # reweighted least squares for the two-piece residuals
        exponent = _weighted_exponent(site.rsrp, loss, weight, onehot)
        p0 = _cell_means(site.rsrp - exponent[:, None] * loss, weight, onehot)
        r = rss_residuals(site.rsrp, p0[:, site.cell_idx] + exponent[:, None] * loss)
        weight = np.where(r > 0, 1.0 / RSS_SIGMA_UP_DB**2, 1.0 / RSS_SIGMA_DOWN_DB**2)
    return cost + np.sum(_soft_l1(r), axis=1)


def _cell_means(v: np.ndarray, w: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    return ((v * w) @ onehot) / np.maximum(w @ onehot, 1e-12)


def _weighted_exponent(rsrp, loss, weight, onehot) -> np.ndarray:
    """Per candidate, the exponent of ``rsrp = p0_cell + n loss`` by weighted least squares."""
    rc = rsrp - _cell_means(np.broadcast_to(rsrp, loss.shape), weight, onehot)[:, _argmax(onehot)]
    lc = loss - _cell_means(loss, weight, onehot)[:, _argmax(onehot)]
    n = np.sum(weight * rc * lc, axis=1) / np.maximum(np.sum(weight * lc * lc, axis=1), 1e-12)
    return np.clip(n, 1.5, 6.0)


def _argmax(onehot: np.ndarray) -> np.ndarray:
    return np.argmax(onehot, axis=1)


def _soft_l1(r: np.ndarray) -> np.ndarray:
    """The loss ``least_squares`` applies (times 2): quadratic near 0, linear beyond 1."""
    return 2.0 * (np.sqrt(1.0 + r**2) - 1.0)


def check_height(height_m: float) -> float:
    """Refuse an assumed antenna height that a sites table cannot hold (see HEIGHT_RANGE_M)."""
    low, high = HEIGHT_RANGE_M
    if not (math.isfinite(height_m) and low < height_m <= high):
        raise InputError(
            f"antenna height {height_m} m is outside ({low:g}, {high:g}] m, the heights predict "
            f"accepts for sites: give the assumed height above ground in metres (default "
            f"{DEFAULT_HEIGHT_M:g})",
            parameter="height_m",
        )
    return float(height_m)


def locate_towers(samples, height_m: float = DEFAULT_HEIGHT_M, progress=None):
    """One row per cell: located site position, uncertainty, azimuth, and ``--tx-file`` columns.

    ``samples`` is the ``samples`` layer of an imported drive test (EPSG:4326 points with
    ``cell``, ``site``, ``cellid``, ``rsrp_dbm``, ``ta``). Returns a GeoDataFrame in EPSG:4326.
    """
    import geopandas as gpd
    import pandas as pd

    check_height(height_m)
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
    keys = [group[k].to_numpy() for k in ("source_file", "time") if k in group]
    blocks = walk_blocks(keys if "source_file" in group else None, len(x))
    xy, exponent, p0, radius, fitted_az = fit_site(
        x, y, rsrp, cell_idx, ta, height_m, blocks=blocks
    )
    lon, lat = to_local.transform(float(xy[0]), float(xy[1]), direction="INVERSE")
    dz = max(height_m - PHONE_HEIGHT_M, 0.0)
    d = np.maximum(np.sqrt((x - xy[0]) ** 2 + (y - xy[1]) ** 2 + dz**2), MIN_DISTANCE_M)
    residual = rsrp - (p0[cell_idx] - 10 * exponent * np.log10(d))
    if np.isfinite(fitted_az).all():
        residual -= sector_gain_db(_bearing_deg(x - xy[0], y - xy[1]), fitted_az[cell_idx])
    ta_k = np.nan_to_num(ta, nan=0.0) if ta is not None else np.zeros(len(x))
    ta_err = d - (ta_k + 0.5) * TA_STEP_M  # from the interval's centre, comparable to before
    ta_out = ta_outside_m(d, ta_k)
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
                "rms_ta_m": _rms(ta_err[ta_ok]),
                "rms_ta_outside_m": _rms(ta_out[ta_ok]),
                "n_samples": int(mine.sum()),
                "n_site_samples": len(x),
            }
        )
    return rows


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(v**2))) if len(v) else float("nan")


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
