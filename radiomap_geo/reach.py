"""Which sites a tile can skip: a link-budget bound on what each site could deliver there.

A site is skipped on a tile when, at the tile's point nearest to it, the most it could deliver
(:func:`received_upper_bound_dbm`) is at least ``margin_db`` (30 dB) below the noise floor *and*
below the weakest best-server power already found on the tile's cells. Then it is nowhere the
best server and every cell's RSRP and best server are unchanged; its share of the interference
is at most ``10**(-margin_db / 10)`` of the noise per skipped site (0.004 dB of SINR for one
site at 30 dB). ``tests/test_reach.py`` checks this on real buildings.

The bound uses the model's smallest loss: the line-of-sight formula of an empirical model (its
NLOS loss is never smaller), plus the calibration allowance of a blended network's fallback;
within a network's own reach, or for any other model, free space plus 6 dB (two in-phase rays).

What it buys depends on the link budget: at 43 dBm a 3GPP UMa site falls 30 dB below a 20 MHz
noise floor only beyond ~7 km in NLOS, so inside the default 2 km reach nothing is skipped;
low-power sites (small cells, IoT beacons) and long reaches are where it helps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from radiomap_geo.antenna import get_pattern
from radiomap_geo.grid import Grid
from radiomap_geo.models.baselines import free_space_loss
from radiomap_geo.sites import Site, Sites

#: Skip a site only this far below the noise floor (dB).
MARGIN_DB = 30.0
#: Constructive two-ray gain allowed over free space where no model bound applies (dB).
TWO_RAY_DB = 6.0


def tile_distance_m(site: Site, grid: Grid) -> float:
    """Horizontal distance from the site to the nearest point of ``grid``'s rectangle."""
    minx, miny, maxx, maxy = grid.bounds
    dx = max(minx - site.x, 0.0, site.x - maxx)
    dy = max(miny - site.y, 0.0, site.y - maxy)
    return math.hypot(dx, dy)


def received_upper_bound_dbm(
    model, site: Site, distance_m: float, rx_height_m: float = 1.5
) -> float:
    """The most ``site`` could deliver (dBm) at ``distance_m`` or farther under ``model``."""
    peak = site.power_dbm + get_pattern(site.antenna).max_gain_dbi
    loss = _least_loss(model, site, distance_m, rx_height_m)
    return float(peak - loss)


def _least_loss(model, site: Site, distance_m: float, rx_height_m: float) -> float:
    los_loss = getattr(model, "los_loss", None)
    if los_loss is None and hasattr(model, "model"):  # a tabulated empirical model
        los_loss = getattr(model.model, "los_loss", None)
    d = np.asarray([max(distance_m, 1.0)])
    args = (site.frequency_mhz, site.height_m, rx_height_m)
    if los_loss is not None:
        return float(los_loss(d, *args)[0])
    fallback = getattr(model, "fallback", None)
    net_reach = getattr(model, "net_reach_m", None)
    if fallback is not None and net_reach is not None and distance_m > net_reach:
        allowance = float(getattr(model, "max_offset_db", 0.0))
        return _least_loss(fallback, site, distance_m, rx_height_m) - allowance
    d3d = math.hypot(max(distance_m, 1.0), site.height_m - rx_height_m)
    return float(free_space_loss(np.asarray(d3d), site.frequency_mhz)) - TWO_RAY_DB


def nearest_first(sites: Sites, near: Sequence[int], core: Grid) -> list[int]:
    """``near`` ordered by distance to the tile: strong sites first, so more can be skipped."""
    return sorted(near, key=lambda i: (tile_distance_m(sites[i], core), i))


def weakest_best_dbm(best_mw: np.ndarray, valid: np.ndarray | None = None) -> float:
    """The weakest best-server power (dBm) over the tile's cells (-inf if a cell has none)."""
    values = best_mw if valid is None else best_mw[valid]
    if values.size == 0:
        return math.inf
    weakest = float(values.min())
    return 10.0 * math.log10(weakest) if weakest > 0 else -math.inf


def can_skip(bound_dbm: float, noise_dbm: float, weakest_dbm: float, margin_db: float = MARGIN_DB):
    """True when a site bounded by ``bound_dbm`` matters nowhere on the tile (module notes)."""
    return bound_dbm <= noise_dbm - margin_db and bound_dbm < weakest_dbm


def skip_site(
    model, site: Site, core: Grid, noise_dbm: float, best_mw: np.ndarray, rx_height_m: float
) -> bool:
    """Whether ``site`` can be left out of a tile whose cells' best powers are ``best_mw``."""
    bound = received_upper_bound_dbm(model, site, tile_distance_m(site, core), rx_height_m)
    if bound > noise_dbm - MARGIN_DB:  # the usual case: no need to look at the cells
        return False
    return can_skip(bound, noise_dbm, weakest_best_dbm(best_mw))
