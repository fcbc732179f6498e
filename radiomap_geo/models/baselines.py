"""Closed-form propagation models: free space, log-distance, COST-231 Hata, 3GPP TR 38.901.

Each returns path *loss* in dB (positive) from 3-D distance, frequency and heights; the
:class:`EmpiricalModel` adapter turns that into the path-gain contract of
:class:`~radiomap_geo.models.base.PathGainModel`, adding the antenna pattern along the direct ray
and deciding LOS/NLOS from the building raster where the model distinguishes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from radiomap_geo.grid import Grid
from radiomap_geo.los import DirectRays, direct_rays
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.rasterize import antenna_gain_map, site_offsets
from radiomap_geo.sites import Site

SPEED_OF_LIGHT = 299_792_458.0
MIN_DISTANCE_M = 1.0


def free_space_loss(d3d: np.ndarray, f_mhz: float) -> np.ndarray:
    """Friis free-space loss: 20 log10(4 pi d f / c)."""
    d = np.maximum(d3d, MIN_DISTANCE_M)
    return 20.0 * np.log10(4.0 * np.pi * d * f_mhz * 1e6 / SPEED_OF_LIGHT)


def log_distance_loss(
    d3d: np.ndarray, f_mhz: float, exponent: float = 3.0, d0_m: float = 1.0
) -> np.ndarray:
    """Free space up to ``d0_m``, then ``10 * exponent * log10(d / d0)``."""
    d = np.maximum(d3d, d0_m)
    return free_space_loss(np.asarray(d0_m), f_mhz) + 10.0 * exponent * np.log10(d / d0_m)


def cost231_hata_loss(
    d2d: np.ndarray, f_mhz: float, h_bs: float, h_ut: float, metropolitan: bool = True
) -> np.ndarray:
    """COST-231 Hata (1.5-2 GHz, h_bs 30-200 m, 1-20 km), never below free space.

    Used outside its validity range it extrapolates; the free-space floor keeps short distances
    physical.
    """
    d_km = np.maximum(d2d, MIN_DISTANCE_M) / 1000.0
    log_f = np.log10(f_mhz)
    a_hm = (1.1 * log_f - 0.7) * h_ut - (1.56 * log_f - 0.8)
    loss = (
        46.3
        + 33.9 * log_f
        - 13.82 * np.log10(h_bs)
        - a_hm
        + (44.9 - 6.55 * np.log10(h_bs)) * np.log10(d_km)
        + (3.0 if metropolitan else 0.0)
    )
    d3d = np.hypot(d2d, h_bs - h_ut)
    return np.maximum(loss, free_space_loss(d3d, f_mhz))


def _breakpoint(h_bs: float, h_ut: float, f_mhz: float, h_env: float = 1.0) -> float:
    return 4.0 * (h_bs - h_env) * (h_ut - h_env) * f_mhz * 1e6 / SPEED_OF_LIGHT


def _tr38901_los(
    d2d: np.ndarray, f_mhz: float, h_bs: float, h_ut: float, a: float, b: float, c: float
) -> np.ndarray:
    """TR 38.901 LOS shape: ``a + b log10(d3d) + 20 log10(f)`` up to the breakpoint, then
    ``a + 40 log10(d3d) + 20 log10(f) - c log10(d_bp^2 + (h_bs - h_ut)^2)``.
    """
    f_ghz = f_mhz / 1000.0
    d3d = np.hypot(np.maximum(d2d, MIN_DISTANCE_M), h_bs - h_ut)
    d_bp = _breakpoint(h_bs, h_ut, f_mhz)
    near = a + b * np.log10(d3d) + 20.0 * np.log10(f_ghz)
    far = (
        a
        + 40.0 * np.log10(d3d)
        + 20.0 * np.log10(f_ghz)
        - c * np.log10(d_bp**2 + (h_bs - h_ut) ** 2)
    )
    return np.where(d2d <= d_bp, near, far)


def _tr38901_nlos(
    los: np.ndarray, d2d: np.ndarray, f_mhz: float, h_bs: float, h_ut: float, k: tuple[float, ...]
) -> np.ndarray:
    """TR 38.901 NLOS shape ``k0 + k1 log10(d3d) + k2 log10(f) - k3 (h_ut - 1.5)``, never below
    the ``los`` loss.
    """
    d3d = np.hypot(np.maximum(d2d, MIN_DISTANCE_M), h_bs - h_ut)
    nlos = k[0] + k[1] * np.log10(d3d) + k[2] * np.log10(f_mhz / 1000.0) - k[3] * (h_ut - 1.5)
    return np.maximum(los, nlos)


def umi_los_loss(d2d: np.ndarray, f_mhz: float, h_bs: float, h_ut: float) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMi street canyon, LOS."""
    return _tr38901_los(d2d, f_mhz, h_bs, h_ut, 32.4, 21.0, 9.5)


def umi_nlos_loss(d2d: np.ndarray, f_mhz: float, h_bs: float, h_ut: float) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMi street canyon, NLOS (never below LOS)."""
    los = umi_los_loss(d2d, f_mhz, h_bs, h_ut)
    return _tr38901_nlos(los, d2d, f_mhz, h_bs, h_ut, (22.4, 35.3, 21.3, 0.3))


def uma_los_loss(d2d: np.ndarray, f_mhz: float, h_bs: float, h_ut: float) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMa, LOS (effective environment height 1 m)."""
    return _tr38901_los(d2d, f_mhz, h_bs, h_ut, 28.0, 22.0, 9.0)


def uma_nlos_loss(d2d: np.ndarray, f_mhz: float, h_bs: float, h_ut: float) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMa, NLOS (never below LOS)."""
    los = uma_los_loss(d2d, f_mhz, h_bs, h_ut)
    return _tr38901_nlos(los, d2d, f_mhz, h_bs, h_ut, (13.54, 39.08, 20.0, 0.6))


LossFn = Callable[[np.ndarray, float, float, float], np.ndarray]


@dataclass(frozen=True)
class EmpiricalModel:
    """Adapts a closed-form loss to the path-gain model contract.

    With ``nlos_loss`` set, each cell uses ``los_loss`` or ``nlos_loss`` according to 2.5-D line of
    sight over the building raster; otherwise ``los_loss`` applies everywhere.
    """

    name: str
    los_loss: LossFn
    nlos_loss: LossFn | None = None
    reach_m: float = 2000.0
    description: str = ""

    def path_gain_db(self, scene: SceneInputs, site: Site, target: Grid) -> np.ndarray:
        """Path gain (dB) on ``target`` including the antenna pattern; NaN beyond ``reach_m``."""
        dx, dy, _ = site_offsets(target, site, scene.rx_height_m)
        d2d = np.hypot(dx, dy)
        args = (site.frequency_mhz, site.height_m, scene.rx_height_m)
        loss = self.los_loss(d2d, *args)
        if self.nlos_loss is not None:
            los, _, _ = direct_rays(DirectRays.of(scene, site, target), full=False)
            loss = np.where(los, loss, self.nlos_loss(d2d, *args))
        gain = antenna_gain_map(target, site, scene.rx_height_m) - loss
        return np.where(d2d <= self.reach_m, gain, np.nan).astype(np.float32)


def _fspl(d2d, f_mhz, h_bs, h_ut):
    return free_space_loss(np.hypot(d2d, h_bs - h_ut), f_mhz)


def _log_distance(d2d, f_mhz, h_bs, h_ut):
    return log_distance_loss(np.hypot(d2d, h_bs - h_ut), f_mhz)


BASELINES: dict[str, EmpiricalModel] = {
    m.name: m
    for m in (
        EmpiricalModel("free-space", _fspl, description="Friis free-space loss"),
        EmpiricalModel(
            "log-distance", _log_distance, description="log-distance, exponent 3, d0 = 1 m"
        ),
        EmpiricalModel(
            "cost231-hata", cost231_hata_loss, description="COST-231 Hata, metropolitan centre"
        ),
        EmpiricalModel(
            "3gpp-umi", umi_los_loss, umi_nlos_loss, description="3GPP TR 38.901 UMi street canyon"
        ),
        EmpiricalModel("3gpp-uma", uma_los_loss, uma_nlos_loss, description="3GPP TR 38.901 UMa"),
    )
}
