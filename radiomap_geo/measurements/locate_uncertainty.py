"""The 95 % uncertainty radius of a located site (:mod:`radiomap_geo.measurements.locate`).

The plain Jacobian radius (``sqrt(5.99 x largest eigenvalue)`` of ``sigma^2 (J^T J)^-1``) covered
the true tower for only 61 % (val) / 67 % (test) of the synthetic ray-traced sites, median 6-7 m.
Why, in order of weight:

1. **Several minima.** The cost over the position has more than one basin (a walk along one
   street is mirror-ambiguous; a sector pattern trades off against the position; isotropic and
   sector fits land metres to tens of metres apart) and the kept fit is often only a few Akaike
   units better than another basin nearer the truth (the 52 m and 33 m misses of isotropic
   sites fitted as sectors). One basin's curvature says nothing about the others.
2. **Correlated residuals.** Ray-traced (and real) signal departs from the log-distance law by
   building-scale amounts that persist along a street, so neighbouring samples along a walk
   are not independent evidence: both the curvature and the Akaike differences overstate it.
3. The scale estimate ``2 cost / dof`` counted the timing-advance rows inside their interval
   (zero residual, zero gradient: half the rows) as degrees of freedom.

The radius is therefore the 95 % radius, around the kept position, of a mixture over the distinct
minima of every fit tried (both antenna models, every start):

* each minimum's position covariance is a cluster-robust sandwich ``A^-1 B A^-1`` of the soft-L1
  M-estimator: bread ``A = sum w_i J_i J_i^T`` (the Gauss-Newton Hessian of the robust cost),
  meat ``B = sum_c g_c g_c^T`` over blocks ``c`` of :data:`BLOCK_SAMPLES` consecutive samples
  of one walk (``g_c`` the block's summed score), with the usual small-sample factors; only rows
  with a non-zero gradient count as observations;
* the minima are weighted by Akaike weights ``exp(-delta / (2 deff))``, tempered by the design
  effect ``deff >= 1`` (sandwich over model-based variance of the kept fit): correlated samples
  carry ``deff`` times less evidence than their count;
* the radius ``R`` solves ``sum_m w_m P(|x_m - x_kept| <= R) = 0.95`` with each component an
  isotropic Gaussian of its largest eigenvalue (non-central chi-square, 2 degrees of freedom).

The residual scale of a fit never counts below the residuals' nominal noise (see
:func:`position_covariances`): a near-exact fit of a handful of samples otherwise reported a
radius of millimetres. A residual factor :data:`SIGMA_FACTOR` on every component's standard
deviation remains (the log-distance model's bias, which no variance estimate sees): it was
fitted on the **val** split of ``data/radiomaps`` only (132 synthetic sites: 4 walks of 150
cells, 2 dB noise, the synthetic walks of ``benchmarks/bench_drive_tests.py``), as the smallest
factor on a 0.05 grid covering 95 % of them (1.0: 94.7 %, 1.05: 95.5 %, 126 of 132, median
radius 18 m). On the test split it then covers 38 of 39 sites (97 %), median radius 20 m (the
plain Jacobian radius: 67 %, 7 m).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ncx2

BLOCK_SAMPLES = 10  # samples per cluster of the sandwich: about one street segment of a walk
SIGMA_FACTOR = 1.05  # residual factor on each component's sd, fitted on val (module docstring)
MIN_WEIGHT = 1e-3  # minima rarer than this do not move the radius
SAME_MINIMUM_M = 1.0
MIN_DOF = 5  # a 5-sample site fits its 4 unknowns almost exactly: a radius of 0 is not honest


def walk_blocks(order_keys: list[np.ndarray] | None, n: int) -> np.ndarray:
    """Cluster ids: runs of :data:`BLOCK_SAMPLES` consecutive samples of the same walk.

    ``order_keys`` (e.g. ``[source_file, time]``) sort the samples, first key first; the first
    key also separates walks. Without keys the given order counts.
    """
    if not order_keys:
        return np.arange(n) // BLOCK_SAMPLES
    codes = [np.unique(np.asarray(k), return_inverse=True)[1].ravel() for k in order_keys]
    order = np.lexsort(tuple(reversed(codes)))
    walk = codes[0]
    rank = np.empty(n, int)
    rank[order] = np.arange(n)
    blocks = np.empty(n, int)
    for w in np.unique(walk):
        mine = walk == w
        within = np.argsort(np.argsort(rank[mine]))
        blocks[mine] = w * (n + 1) + within // BLOCK_SAMPLES
    return blocks


def numeric_jacobian(residuals, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residuals and their central-difference Jacobian at ``params`` (raw, not loss-scaled)."""
    f0 = residuals(params)
    jac = np.zeros((len(f0), len(params)))
    for k in range(len(params)):
        h = 1e-4 * max(1.0, abs(params[k]))
        up, down = params.copy(), params.copy()
        up[k] += h
        down[k] -= h
        jac[:, k] = (residuals(up) - residuals(down)) / (2 * h)
    return f0, jac


def position_covariances(f: np.ndarray, jac: np.ndarray, clusters: np.ndarray):
    """(sandwich, model-based) 2 x 2 position covariances of a soft-L1 fit; None if unknown.

    ``clusters`` gives each residual row's cluster (a sample's signal and TA rows share one).
    """
    z = f**2
    informative = np.any(jac != 0, axis=1)
    n_obs, p = int(informative.sum()), jac.shape[1]
    if n_obs - p < MIN_DOF:  # hardly more observations than unknowns: no error estimate
        return None
    bread = (jac * ((1 + z) ** -1.5)[:, None]).T @ jac
    score = (f / np.sqrt(1 + z))[:, None] * jac
    try:
        bread_inv = np.linalg.pinv(bread)
    except np.linalg.LinAlgError:
        return None
    ids = np.unique(clusters[informative], return_inverse=True)[1].ravel()
    sums = np.zeros((ids.max() + 1, p))
    np.add.at(sums, ids, score[informative])
    n_clusters = sums.shape[0]
    small = n_clusters / max(n_clusters - 1, 1) * (n_obs - 1) / (n_obs - p)
    sandwich = bread_inv @ (sums.T @ sums) @ bread_inv * small
    sigma2 = float(np.sum((f[informative] ** 2) / (1 + z[informative])) / (n_obs - p))
    # Residuals are in units of their nominal noise (3 dB above the model, the TA scale): a
    # near-exact fit of a handful of samples says its noise is tiny, but no reading is better
    # than that nominal noise, so the scale never falls below 1 (5 Ottawa samples gave 0.007 m).
    model = bread_inv * max(sigma2, 1.0)
    sandwich = sandwich * max(1.0, 1.0 / max(sigma2, 1e-12))
    return sandwich[:2, :2], model[:2, :2]


def mixture_radius(components, centre: np.ndarray, q: float = 0.95) -> float:
    """``R`` with ``sum w P(|mu + sd Z - centre| <= R) = q``; components ``(w, mu, variance)``."""

    def covered(radius: float) -> float:
        return sum(
            w * ncx2.cdf(radius**2 / var, 2, float(np.sum((mu - centre) ** 2)) / var)
            for w, mu, var in components
        )

    low, high = 0.0, max(np.sqrt(var) for _, _, var in components) * 4.0 + 1.0
    while covered(high) < q:
        high *= 2.0
    for _ in range(40):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if covered(mid) < q else (low, mid)
    return float(high)


def site_radius(fits, residuals, clusters: np.ndarray, factor: float = SIGMA_FACTOR) -> float:
    """The 95 % radius around the best of ``fits`` (module docstring).

    ``fits``: ``(score, sector, result)`` of every fit tried, score the Akaike criterion;
    ``residuals(params, sector)`` the residual vector; ``clusters`` one id per residual row.
    """
    fits = sorted(fits, key=lambda fit: fit[0])
    distinct = []
    for score, sector, result in fits:
        if not any(
            sector == s and np.hypot(*(result.x[:2] - r.x[:2])) < SAME_MINIMUM_M
            for _, s, r in distinct
        ):
            distinct.append((score, sector, result))
    best_score, best_sector, best = distinct[0]
    covs = {}
    deff = 1.0
    for k, (score, sector, result) in enumerate(distinct):
        if k and score - best_score > 2 * deff * -np.log(MIN_WEIGHT):
            continue
        f, jac = numeric_jacobian(lambda x, s=sector: residuals(x, s), result.x)
        pair = position_covariances(f, jac, clusters)
        if pair is None:
            if k == 0:
                return float("inf")
            continue
        # The sandwich never below the model-based variance: with few blocks (a short walk)
        # the meat is degenerate (one block sums to the zero gradient of the optimum).
        covs[k] = pair[0] if _top(pair[0]) >= _top(pair[1]) else pair[1]
        if k == 0:  # the design effect of the kept fit tempers every Akaike difference
            deff = max(_top(pair[0]) / max(_top(pair[1]), 1e-12), 1.0)
    components = []
    for k, cov in covs.items():
        weight = np.exp(-(distinct[k][0] - best_score) / (2 * deff))
        var = max(_top(cov), 1e-6) * factor**2
        components.append((weight, distinct[k][2].x[:2], var))
    total = sum(w for w, _, _ in components)
    components = [(w / total, mu, var) for w, mu, var in components if w / total >= MIN_WEIGHT]
    total = sum(w for w, _, _ in components)
    components = [(w / total, mu, var) for w, mu, var in components]
    return mixture_radius(components, best.x[:2])


def _top(cov: np.ndarray) -> float:
    return float(np.linalg.eigvalsh(cov).max())
