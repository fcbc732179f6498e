"""The empirical models' path gain in one compiled pass per site: what a city run spends most on.

A city run evaluates the fallback model (3GPP UMa beyond the network's 192 m, or a baseline
alone) for every site on every cell within its 2 km reach: 200 sites x 2.5 million cells. The
numpy form (:meth:`EmpiricalModel.path_gain_db`) makes some twenty passes over the cells
(distances, two loss formulas with their logarithms, the antenna angles, the pattern cuts).
:class:`TabulatedEmpirical` gives the same values in one pass:

* every term that depends on the horizontal distance alone (the LOS and NLOS losses, the
  vertical pattern cut along the direct ray) is the model's own function sampled every
  ``TABLE_STEP_M`` metres and interpolated linearly (within 0.01 dB of the formulas beyond 2 m,
  within 0.05 dB nearer; :func:`radiomap_geo.fastpath.table_error_db` measures it);
* the horizontal pattern cut is interpolated per cell from the bearing, as
  :meth:`AntennaPattern.gain_dbi` does;
* line of sight comes from the radial sweep (:func:`radiomap_geo.los.line_of_sight`).

:func:`accelerated` swaps a model's empirical part for its tabulated twin; the engine applies
it to every tile (``tests/test_fastpath.py`` compares the two on real buildings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from radiomap_geo.antenna import get_pattern
from radiomap_geo.grid import Grid
from radiomap_geo.los import line_of_sight
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.models.baselines import EmpiricalModel
from radiomap_geo.sites import Site

#: Spacing (m) of the distance tables.
TABLE_STEP_M = 0.05


@dataclass(frozen=True)
class TabulatedEmpirical:
    """An :class:`EmpiricalModel` evaluated by distance tables in one pass (see module notes)."""

    model: EmpiricalModel

    @property
    def name(self) -> str:
        """The wrapped model's name (outputs look the same)."""
        return self.model.name

    @property
    def reach_m(self) -> float:
        """The wrapped model's reach."""
        return self.model.reach_m

    def __getattr__(self, item: str) -> Any:  # description and the like: the model's own
        if item == "model":  # not set yet (unpickling): no recursion
            raise AttributeError(item)
        return getattr(self.model, item)

    def path_gain_db(
        self, scene: SceneInputs, site: Site, target: Grid, reach_m: float | None = None
    ) -> np.ndarray:
        """Path gain (dB) on ``target`` incl. the antenna pattern; NaN beyond ``reach_m``
        (default the model's).
        """
        reach = self.model.reach_m if reach_m is None else min(reach_m, self.model.reach_m)
        x0, y0 = _extent_from_site(target, site)
        d_max = min(math.hypot(x0, y0), reach) + 2 * TABLE_STEP_M
        if self.model.nlos_loss is not None:
            los = line_of_sight(
                scene.building_height, scene.grid, target, (site.x, site.y), site.height_m,
                scene.rx_height_m,
            )  # fmt: skip
        else:
            los = np.ones(target.shape, bool)
        los_table, nlos_table, vertical_table = self._tables(site, scene.rx_height_m, d_max)
        pattern = get_pattern(site.antenna)
        a, _, c, _, e, f = tuple(target.transform)[:6]
        return _fused(
            float(a), float(c), float(e), float(f), los,
            float(site.x), float(site.y), _bearing_table(pattern, site.azimuth_deg),
            float(pattern.horizontal_db[0]), float(pattern.max_gain_dbi), float(pattern.max_attenuation_db),
            not pattern.is_isotropic, los_table, nlos_table, vertical_table,
            1.0 / TABLE_STEP_M, float(reach),
        )  # fmt: skip

    def _tables(self, site: Site, rx_height_m: float, d_max: float):
        d = np.arange(0.0, d_max + 2 * TABLE_STEP_M, TABLE_STEP_M)
        args = (site.frequency_mhz, site.height_m, rx_height_m)
        los = np.asarray(self.model.los_loss(d, *args), np.float64)
        nlos = los if self.model.nlos_loss is None else self.model.nlos_loss(d, *args)
        pattern = get_pattern(site.antenna)
        # The vertical angle of the direct ray depends on the distance alone.
        depression = np.degrees(np.arctan2(-(rx_height_m - site.height_m), d)) - site.tilt_deg
        cut = np.append(pattern.vertical_db, pattern.vertical_db[0])
        vertical = np.interp(np.mod(depression, 360.0), np.arange(361.0), cut)
        return los, np.asarray(nlos, np.float64), vertical.astype(np.float64)


#: Entries of the horizontal-cut table over the pseudo-angle (0.06 degree steps at most).
BEARING_TABLE_SIZE = 8192


def _bearing_table(pattern, azimuth_deg: float) -> np.ndarray:
    """The horizontal cut at the bearings of ``BEARING_TABLE_SIZE + 1`` pseudo-angles 0..4.

    The pseudo-angle ("diamond angle", :func:`_pseudo_angle`) grows monotonically with the
    bearing and costs a division instead of an arctangent; the table is interpolated linearly.
    """
    p = np.linspace(0.0, 4.0, BEARING_TABLE_SIZE + 1)
    north = np.select([p < 1, p < 2, p < 3], [1 - p, 1 - p, p - 3], p - 3)
    east = np.select([p < 1, p < 2, p < 3], [p, 2 - p, 2 - p], p - 4)
    bearing = np.degrees(np.arctan2(east, north))
    horizontal = (bearing - azimuth_deg + 180.0) % 360.0 - 180.0
    cut = np.append(pattern.horizontal_db, pattern.horizontal_db[0])
    return np.interp(np.mod(horizontal, 360.0), np.arange(361.0), cut).astype(np.float64)


@numba.njit(cache=True, inline="always")
def _pseudo_angle(east: float, north: float) -> float:
    """0..4, growing clockwise from north like the bearing (1 east, 2 south, 3 west)."""
    if east >= 0.0:
        if north >= 0.0:
            return east / (east + north)
        return 1.0 - north / (east - north)
    if north < 0.0:
        return 2.0 - east / (-east - north)
    return 3.0 + north / (north - east)


def _extent_from_site(target: Grid, site: Site) -> tuple[float, float]:
    minx, miny, maxx, maxy = target.bounds
    return max(abs(minx - site.x), abs(maxx - site.x)), max(abs(miny - site.y), abs(maxy - site.y))


@numba.njit(cache=True, inline="always")
def _lerp(table: np.ndarray, position: float) -> float:
    j = min(int(position), table.size - 2)
    return table[j] + (table[j + 1] - table[j]) * (position - j)


@numba.njit(parallel=True, cache=True, nogil=True)
def _fused(a, c, e, f, los, x0, y0, h_table, h_below, peak, floor, directional, los_table,
           nlos_table, vertical_table, per_metre, reach):  # fmt: skip
    rows, cols = los.shape
    out = np.empty((rows, cols), np.float32)
    per_unit = (h_table.size - 1) / 4.0
    for i in numba.prange(rows):
        dy = f + e * (i + 0.5) - y0
        for j in range(cols):
            dx = c + a * (j + 0.5) - x0
            d = math.sqrt(dx * dx + dy * dy)
            if d > reach:
                out[i, j] = np.nan
                continue
            position = d * per_metre
            loss = _lerp(los_table, position) if los[i, j] else _lerp(nlos_table, position)
            gain = peak
            if directional:
                if dx == 0.0 and dy == 0.0:
                    h = h_below  # straight below the antenna: boresight
                else:
                    h = _lerp(h_table, _pseudo_angle(dx, dy) * per_unit)
                gain = peak - min(h + _lerp(vertical_table, position), floor)
            out[i, j] = gain - loss
    return out


@dataclass(frozen=True)
class WindowedBlend:
    """A blended network (:class:`~radiomap_geo.models.blend.BlendedModel`) that runs the blend
    only where the network contributes.

    Beyond the network's reach the blend's value is the fallback plus the site's calibration
    offset and its source is 2; there this computes exactly that (one pass of the tabulated
    fallback) instead of the blend's dozen full-size array operations, and asks the blend
    itself for the square within the network's reach. Same values, same sources.
    """

    blend: Any

    def __getattr__(self, item: str) -> Any:  # name, reach_m, context_m...: the blend's own
        if item == "blend":
            raise AttributeError(item)
        return getattr(self.blend, item)

    def path_gain_and_source(
        self, scene: SceneInputs, site: Site, target: Grid
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`BlendedModel.path_gain_and_source`."""
        blend = self.blend
        if not isinstance(blend.fallback, TabulatedEmpirical):
            return blend.path_gain_and_source(scene, site, target)
        offset = blend.calibration_offset_db(scene, site) if blend.calibrate else 0.0
        gain = blend.fallback.path_gain_db(scene, site, target, reach_m=blend.reach_m)
        gain = (gain.astype(np.float64) + offset).astype(np.float32)
        source = np.where(np.isfinite(gain), np.float32(2.0), np.float32(np.nan))
        window = _cells_within(target, site, blend.net_reach_m)
        if window is not None:
            row, col, height, width = window
            near_gain, near_source = blend.path_gain_and_source(
                scene, site, target.window(row, col, height, width)
            )
            gain[row : row + height, col : col + width] = near_gain
            source[row : row + height, col : col + width] = near_source
        return gain, source.astype(np.float32)

    def path_gain_db(self, scene: SceneInputs, site: Site, target: Grid) -> np.ndarray:
        """Path gain (dB), as :meth:`BlendedModel.path_gain_db`."""
        return self.path_gain_and_source(scene, site, target)[0]


def _cells_within(target: Grid, site: Site, distance_m: float):
    """(row, col, height, width) of the cells of ``target`` whose box reaches ``distance_m``
    of the site, or None.
    """
    t, res = target.transform, target.resolution
    col0 = max(math.floor((site.x - distance_m - t.c) / res) - 1, 0)
    col1 = min(math.ceil((site.x + distance_m - t.c) / res) + 1, target.width)
    row0 = max(math.floor((t.f - (site.y + distance_m)) / res) - 1, 0)
    row1 = min(math.ceil((t.f - (site.y - distance_m)) / res) + 1, target.height)
    if col1 <= col0 or row1 <= row0:
        return None
    return row0, col0, row1 - row0, col1 - col0


def accelerated(model):
    """``model`` with its empirical part tabulated (:class:`TabulatedEmpirical`).

    An :class:`EmpiricalModel` comes back wrapped; a blended network gets its fallback swapped
    in place (so its per-site cache of network windows is kept) and comes back as a
    :class:`WindowedBlend`; anything else is returned as it is.
    """
    if isinstance(model, (TabulatedEmpirical, WindowedBlend)):
        return model
    if isinstance(model, EmpiricalModel):
        return TabulatedEmpirical(model)
    fallback = getattr(model, "fallback", None)
    if isinstance(fallback, EmpiricalModel):
        model.fallback = fallback = TabulatedEmpirical(fallback)
    if isinstance(fallback, TabulatedEmpirical) and hasattr(model, "calibration_offset_db"):
        return WindowedBlend(model)
    return model


def table_error_db(model: EmpiricalModel, site: Site, rx_height_m: float = 1.5) -> float:
    """Largest difference (dB) between the tables and the formulas, at points between samples."""
    tabulated = TabulatedEmpirical(model)
    los, nlos, _ = tabulated._tables(site, rx_height_m, model.reach_m)
    d = (np.arange(los.size - 1) + 0.37) * TABLE_STEP_M
    args = (site.frequency_mhz, site.height_m, rx_height_m)
    worst = 0.0
    for table, loss in ((los, model.los_loss), (nlos, model.nlos_loss or model.los_loss)):
        approx = np.interp(d / TABLE_STEP_M, np.arange(table.size), table)
        worst = max(worst, float(np.abs(approx - loss(d, *args)).max()))
    return worst
