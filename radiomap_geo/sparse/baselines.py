"""Interpolation baselines from well-kept libraries (papers 001 and 003).

Each baseline maps ``(context, measured mask, values)`` to a full ``(H, W)`` map in the unit of
the values (dB of path gain on the dataset):

* ``idw``: inverse-distance weighting (power 2) over the 12 nearest points, scikit-learn's
  :class:`~sklearn.neighbors.KNeighborsRegressor` with a 1/d^2 weight;
* ``knn``: the mean of the 5 nearest points (paper 001's KNN baseline);
* ``random-forest``: scikit-learn's random forest on cell coordinates (paper 001's RFR), plus the
  free-space gain and line of sight when the site is known;
* ``kriging``: ordinary kriging (PyKrige, exponential variogram fitted to the points; paper
  003's kriging baseline);
* ``regression-kriging``: the geometry network's prediction plus ordinary kriging of the
  measurements' residuals from it (a geostatistical "correct the model" baseline);
* ``geometry``: the geometry network alone, measurements ignored (the reference to beat).

Kriging solves a dense system per map; above :data:`KRIGING_MAX_POINTS` points it uses a random
subset of that size (20 % of a 128 x 128 map is ~2,500 points; the subset keeps it to ~1 s).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import numpy as np

from radiomap_geo.sparse.data import MapContext

logger = logging.getLogger(__name__)

KRIGING_MAX_POINTS = 600
Baseline = Callable[[MapContext, np.ndarray, np.ndarray], np.ndarray]


def _coords(shape: tuple[int, int], resolution: float) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.indices(shape, dtype=np.float64)
    return (cols + 0.5) * resolution, (rows + 0.5) * resolution


def _points(ctx: MapContext, measured: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(all cell coordinates (N, 2), measured point coordinates (n, 2))`` in metres."""
    x, y = _coords(ctx.shape, ctx.resolution)
    cells = np.column_stack([x.ravel(), y.ravel()])
    return cells, cells[measured.ravel()]


def _neighbours(ctx: MapContext, measured: np.ndarray, values: np.ndarray, k: int, weights):
    from sklearn.neighbors import KNeighborsRegressor

    cells, pts = _points(ctx, measured)
    z = values[measured]
    model = KNeighborsRegressor(n_neighbors=min(k, len(z)), weights=weights)
    model.fit(pts, z)
    return model.predict(cells).reshape(ctx.shape).astype(np.float32)


def _inverse_square(distance: np.ndarray) -> np.ndarray:
    return 1.0 / np.maximum(distance, 1e-3) ** 2


def idw(ctx: MapContext, measured: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Inverse-distance weighting (power 2, 12 nearest points)."""
    return _neighbours(ctx, measured, values, 12, _inverse_square)


def knn(ctx: MapContext, measured: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of the 5 nearest points."""
    return _neighbours(ctx, measured, values, 5, "uniform")


def _rf_features(ctx: MapContext, known_site: bool) -> np.ndarray:
    x, y = _coords(ctx.shape, ctx.resolution)
    columns = [x.ravel(), y.ravel()]
    if known_site:
        columns += [ctx.free_space_db.ravel(), ctx.los.ravel().astype(np.float64)]
    return np.column_stack(columns)


def random_forest(ctx: MapContext, measured: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Random forest on coordinates, free-space gain and line of sight (50 trees)."""
    from sklearn.ensemble import RandomForestRegressor

    features = _rf_features(ctx, known_site=True)
    model = RandomForestRegressor(n_estimators=50, min_samples_leaf=2, n_jobs=1, random_state=0)
    model.fit(features[measured.ravel()], values[measured])
    return model.predict(features).reshape(ctx.shape).astype(np.float32)


def _krige(ctx: MapContext, measured: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Ordinary kriging of ``z`` (values at the measured cells, row-major) onto every cell."""
    from pykrige.ok import OrdinaryKriging

    _, pts = _points(ctx, measured)
    if len(z) > KRIGING_MAX_POINTS:
        keep = np.random.default_rng(0).choice(len(z), KRIGING_MAX_POINTS, replace=False)
        pts, z = pts[keep], z[keep]
    if len(z) < 3 or float(np.ptp(z)) < 1e-6:  # no variogram to fit: the mean is the estimate
        return np.full(ctx.shape, float(np.mean(z)), np.float32)
    x, y = _coords(ctx.shape, ctx.resolution)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok = OrdinaryKriging(
            pts[:, 0], pts[:, 1], z, variogram_model="exponential", nlags=8, pseudo_inv=True
        )
        est, _ = ok.execute("points", x.ravel(), y.ravel(), backend="vectorized")
    return np.asarray(est, np.float32).reshape(ctx.shape)


def kriging(ctx: MapContext, measured: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Ordinary kriging of the measured values."""
    return _krige(ctx, measured, values[measured].astype(np.float64))


def regression_kriging(ctx: MapContext, measured: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The geometry prediction plus the ordinary-kriged residuals of the measurements from it."""
    residual = (values - ctx.geometry_db)[measured].astype(np.float64)
    return (ctx.geometry_db + _krige(ctx, measured, residual)).astype(np.float32)


def geometry_only(ctx: MapContext, measured: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The geometry network's prediction (measurements ignored)."""
    return ctx.geometry_db.astype(np.float32)


BASELINES: dict[str, Baseline] = {
    "geometry": geometry_only,
    "idw": idw,
    "knn": knn,
    "random-forest": random_forest,
    "kriging": kriging,
    "regression-kriging": regression_kriging,
}
