"""A network inside its window, a calibrated empirical model beyond, cross-faded without seams.

A coverage network predicts only within ``reach_m`` of a site (its window). :class:`BlendedModel`
covers the rest with a fallback model (an :class:`~radiomap_geo.models.baselines.EmpiricalModel`
such as ``3gpp-uma``), as the :class:`~radiomap_geo.models.base.PathGainModel` contract wants:

* **inside** ``r_in = net.reach_m - blend_m`` of the site the value *is* the network's;
* **beyond** ``net.reach_m`` it is the fallback plus a per-site calibration offset;
* **in the ring** between them the two are cross-faded linearly in dB with the horizontal
  distance ``d``: ``w = (net.reach_m - d) / blend_m``, ``gain = w * net + (1 - w) * fallback``.
  Both terms are continuous, so the result is continuous (no seam at either edge of the ring).

Calibration (``calibrate=True``): the offset is the median of ``net - fallback`` (both clipped
at ``floor_db``) over the outdoor cells of the ring, clamped to ``±max_offset_db``; with fewer
than ``min_ring_cells`` such cells it is 0. It is computed on the cells of the scene grid within
the network's reach of the site, whatever the target is, so every tile of a tiled run finds the
same offset for a site (the engine's halo, ``reach_m + context_m``, holds that whole square).
The network's prediction on that square is computed once per site and scene content and reused
for every target (a small LRU cache; ``cache_size=0`` turns it off).

Provenance: :meth:`BlendedModel.model_source` (and :meth:`BlendedModel.path_gain_and_source`)
give, per cell, ``1`` where the value came from the network, ``2`` from the fallback and values
in between in the ring (``2 - w``); NaN where there is no value.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.models.base import PathGainModel, SceneInputs
from radiomap_geo.sites import Site

#: ``model_source`` values: the network, the fallback (fractions in the blend ring).
SOURCE_NET = 1.0
SOURCE_FALLBACK = 2.0
SOURCE_BAND = "model_source"


@dataclass(frozen=True)
class _SiteState:
    """What a site needs, whatever the target: the network on its square and the offset."""

    square: Grid  # cells of the scene grid within the network's reach (clipped to the scene)
    net_db: np.ndarray  # the network on the square (NaN beyond its reach)
    offset_db: float
    ring_cells: int


class BlendedModel:
    """A network model with a calibrated fallback beyond its window (see the module docstring).

    Args:
        net: the network model (a :class:`PathGainModel` with ``reach_m``; NetworkModel's
            ``context_m`` is honoured).
        fallback: the model used beyond the network's reach (default ``3gpp-uma``).
        blend_m: width of the cross-fade ring (default a quarter of the network's reach).
        calibrate: shift the fallback by a per-site offset fitted in the ring.
        max_offset_db: bound of that offset.
        min_ring_cells: fewer outdoor ring cells than this: offset 0.
        floor_db: both models are clipped here before fitting the offset.
        reach_m: overall reach (default the fallback's).
        name: display name (default ``<net>+<fallback>``).
        cache_size: sites whose network prediction is kept (0: none).
    """

    def __init__(
        self,
        net: PathGainModel,
        fallback: PathGainModel | None = None,
        *,
        blend_m: float | None = None,
        calibrate: bool = True,
        max_offset_db: float = 20.0,
        min_ring_cells: int = 20,
        floor_db: float = -160.0,
        reach_m: float | None = None,
        name: str | None = None,
        cache_size: int = 256,
    ):
        if fallback is None:
            from radiomap_geo.models.baselines import BASELINES

            fallback = BASELINES["3gpp-uma"]
        net_reach = float(net.reach_m)
        blend = 0.25 * net_reach if blend_m is None else float(blend_m)
        if not (math.isfinite(blend) and 0 < blend <= net_reach):
            raise InputError(
                f"blend_m must be positive and at most the network's reach ({net_reach:g} m), "
                f"got {blend_m}"
            )
        self.net, self.fallback = net, fallback
        self.blend_m = blend
        self.calibrate = bool(calibrate)
        self.max_offset_db = float(max_offset_db)
        self.min_ring_cells = int(min_ring_cells)
        self.floor_db = float(floor_db)
        self.reach_m = float(fallback.reach_m if reach_m is None else reach_m)
        if not self.reach_m > 0:
            raise InputError(f"reach_m must be positive, got {reach_m}")
        self.name = name or f"{net.name}+{fallback.name}"
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[tuple, _SiteState] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the lock and the per-site cache (for process workers)."""
        state = dict(self.__dict__)
        state.pop("_lock"), state.pop("_cache")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache, self._lock = OrderedDict(), threading.Lock()

    # -- geometry --------------------------------------------------------------------------------
    @property
    def net_reach_m(self) -> float:
        """Distance from the site up to which the network contributes."""
        return float(self.net.reach_m)

    @property
    def native_resolution_m(self) -> float | None:
        """The network's trained cell size (None for a cell-size-free network)."""
        return getattr(self.net, "native_resolution_m", None)

    @property
    def inner_m(self) -> float:
        """Distance from the site up to which the value is the network's alone."""
        return self.net_reach_m - self.blend_m

    @property
    def context_m(self) -> float:
        """Scene needed around a site beyond ``reach_m`` of a tile: the network's whole window.

        The calibration needs the network around *every* site within reach of a tile, so the
        tiled engine must see the network's context around those sites.
        """
        net_context = max(float(getattr(self.net, "context_m", 0.0)), self.net_reach_m)
        return net_context + float(getattr(self.fallback, "context_m", 0.0))

    def net_weight(self, distance_m: np.ndarray) -> np.ndarray:
        """Share of the network in the blend at horizontal distance ``distance_m`` (0..1)."""
        w = (self.net_reach_m - np.asarray(distance_m, np.float64)) / self.blend_m
        return np.clip(w, 0.0, 1.0)

    def _square(self, scene: SceneInputs, site: Site) -> tuple[Grid, int, int] | None:
        """Scene cells within the network's reach of the site (a window of the scene grid)."""
        grid = scene.grid
        half = math.ceil(self.net_reach_m / grid.resolution) + 1
        row, col = (int(v) for v in grid.rowcol(site.x, site.y))
        top, left = max(row - half, 0), max(col - half, 0)
        bottom, right = min(row + half + 1, grid.height), min(col + half + 1, grid.width)
        if bottom <= top or right <= left:
            return None
        return grid.window(top, left, bottom - top, right - left), top, left

    # -- the per-site state ----------------------------------------------------------------------
    def _key(self, scene: SceneInputs, site: Site, square: Grid) -> tuple:
        """Site, square and a digest of the scene the network and the calibration read."""
        grid = scene.grid
        extent = math.ceil(self.context_m / grid.resolution) + 1
        row, col = (int(v) for v in grid.rowcol(site.x, site.y))
        rows = slice(max(row - extent, 0), min(row + extent + 1, grid.height))
        cols = slice(max(col - extent, 0), min(col + extent + 1, grid.width))
        digest = hashlib.blake2b(digest_size=16)
        origin = grid.xy(rows.start, cols.start)
        digest.update(
            np.asarray([*origin, rows.stop - rows.start, cols.stop - cols.start]).tobytes()
        )
        for raster in (scene.building_height, scene.ndsm):
            if raster is not None:
                digest.update(np.ascontiguousarray(raster[rows, cols], np.float32).tobytes())
        if scene.ortho is not None:
            digest.update(np.ascontiguousarray(scene.ortho[:, rows, cols], np.float32).tobytes())
        return (
            site.x,
            site.y,
            site.height_m,
            site.frequency_mhz,
            site.antenna,
            site.azimuth_deg,
            site.tilt_deg,
            scene.rx_height_m,
            tuple(square.transform)[:6],
            square.shape,
            digest.hexdigest(),
        )

    def _site_state(self, scene: SceneInputs, site: Site) -> _SiteState | None:
        found = self._square(scene, site)
        if found is None:
            return None
        square, top, left = found
        key = self._key(scene, site, square) if self.cache_size > 0 else None
        if key is not None:
            with self._lock:  # tiles may run in threads (citywide runs)
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
                    return cached
        net_db = np.asarray(self.net.path_gain_db(scene, site, square), np.float32)
        offset, ring_cells = 0.0, 0
        if self.calibrate:
            offset, ring_cells = self._fit_offset(scene, site, square, top, left, net_db)
        state = _SiteState(square, net_db, offset, ring_cells)
        if key is not None:
            with self._lock:
                self._cache[key] = state
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return state

    def _fit_offset(
        self, scene: SceneInputs, site: Site, square: Grid, top: int, left: int, net_db: np.ndarray
    ) -> tuple[float, int]:
        x, y = square.cell_centers()
        d = np.hypot(x - site.x, y - site.y)
        outdoor = scene.building_height[top : top + square.height, left : left + square.width] <= 0
        ring = (d >= self.inner_m) & (d <= self.net_reach_m) & outdoor & np.isfinite(net_db)
        if ring.sum() < self.min_ring_cells:
            return 0.0, int(ring.sum())
        fb = np.asarray(self.fallback.path_gain_db(scene, site, square), np.float64)
        ring &= np.isfinite(fb)
        n = int(ring.sum())
        if n < self.min_ring_cells:
            return 0.0, n
        diff = np.maximum(net_db[ring], self.floor_db) - np.maximum(fb[ring], self.floor_db)
        offset = float(np.clip(np.median(diff), -self.max_offset_db, self.max_offset_db))
        return offset, n

    def calibration_offset_db(self, scene: SceneInputs, site: Site) -> float:
        """The dB added to the fallback for ``site`` (0 without calibration or ring cells)."""
        state = self._site_state(scene, site)
        return 0.0 if state is None else state.offset_db

    # -- prediction ------------------------------------------------------------------------------
    def path_gain_and_source(
        self, scene: SceneInputs, site: Site, target: Grid
    ) -> tuple[np.ndarray, np.ndarray]:
        """Path gain (dB, float32) and ``model_source`` (1 net .. 2 fallback, NaN: no value)."""
        x, y = target.cell_centers()
        d = np.hypot(x - site.x, y - site.y)
        w = self.net_weight(d)
        net = np.full(target.shape, np.nan, np.float32)
        needs_state = self.calibrate or bool((w > 0).any())
        state = self._site_state(scene, site) if needs_state else None
        if (w > 0).any() and state is not None:
            # Offsets in the scene grid of this call (a cached square may come from another tile).
            t_row, t_col = target.offset_in(scene.grid)
            s_row, s_col = state.square.offset_in(scene.grid)
            r0, c0 = max(t_row, s_row), max(t_col, s_col)
            r1 = min(t_row + target.height, s_row + state.square.height)
            c1 = min(t_col + target.width, s_col + state.square.width)
            if r1 > r0 and c1 > c0:
                net[r0 - t_row : r1 - t_row, c0 - t_col : c1 - t_col] = state.net_db[
                    r0 - s_row : r1 - s_row, c0 - s_col : c1 - s_col
                ]
        w = np.where(np.isfinite(net), w, 0.0)
        fb = np.full(target.shape, np.nan, np.float64)
        if (w < 1).any():
            offset = 0.0 if state is None else state.offset_db
            fb = np.asarray(self.fallback.path_gain_db(scene, site, target), np.float64) + offset
        w = np.where(np.isfinite(fb), w, np.where(w > 0, 1.0, 0.0))  # no fallback: net alone
        with np.errstate(invalid="ignore"):
            gain = np.where(
                w >= 1.0,
                net,
                np.where(w <= 0.0, fb, w * net.astype(np.float64) + (1.0 - w) * fb),
            )
        gain = np.where(d <= self.reach_m, gain, np.nan).astype(np.float32)
        source = np.where(np.isfinite(gain), SOURCE_FALLBACK - w, np.nan).astype(np.float32)
        return gain, source

    def path_gain_db(self, scene: SceneInputs, site: Site, target: Grid) -> np.ndarray:
        """Path gain (dB, antenna pattern included) on ``target``; NaN beyond ``reach_m``."""
        return self.path_gain_and_source(scene, site, target)[0]

    def model_source(self, scene: SceneInputs, site: Site, target: Grid) -> np.ndarray:
        """Per cell: 1 = network, 2 = fallback, in between = blend ring, NaN = no value."""
        return self.path_gain_and_source(scene, site, target)[1]

    def describe(self) -> dict[str, Any]:
        """Plain description (for metadata and reports)."""
        return {
            "name": self.name,
            "network": self.net.name,
            "network_reach_m": self.net_reach_m,
            "fallback": self.fallback.name,
            "blend_m": self.blend_m,
            "calibrate": self.calibrate,
            "max_offset_db": self.max_offset_db,
            "reach_m": self.reach_m,
        }

    def __repr__(self) -> str:
        return (
            f"BlendedModel({self.net!r}, fallback={self.fallback.name}, blend {self.blend_m:g} m, "
            f"calibrate={self.calibrate}, reach {self.reach_m:g} m)"
        )
