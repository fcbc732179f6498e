"""Electric field strength (exposure) from received power, for an isotropic receiver.

An isotropic receiving antenna has the effective aperture ``A_e = lambda^2 / (4 pi)``, so a
received power ``P`` (W) means an incident power density ``S = P / A_e = 4 pi P / lambda^2``
(W/m^2), and a plane wave of that density has the RMS field ``E = sqrt(eta0 * S)`` (V/m) with
``eta0 = 376.73 ohm`` (free-space impedance). Together::

    E = sqrt(4 pi eta0 P) / lambda,     lambda = c / f

Fields of several sites (different carriers, uncorrelated) add in power:
``E_total = sqrt(sum_i E_i^2)``. Example: -60 dBm at 3.5 GHz gives 0.0254 V/m (88.1 dBuV/m).
"""

from __future__ import annotations

import math

import numpy as np

ETA0_OHM = 376.730313668
C0 = 299_792_458.0


def wavelength_m(frequency_mhz: float) -> float:
    """Free-space wavelength (m)."""
    return C0 / (float(frequency_mhz) * 1e6)


def e_field_squared(rx_power_dbm: np.ndarray, frequency_mhz: float) -> np.ndarray:
    """``E^2`` ((V/m)^2) of a received power (dBm) at one carrier; 0 where not finite."""
    watts = np.where(np.isfinite(rx_power_dbm), 10.0 ** ((rx_power_dbm - 30.0) / 10.0), 0.0)
    return 4.0 * math.pi * ETA0_OHM * watts / wavelength_m(frequency_mhz) ** 2


def e_field_vpm(rx_power_dbm: np.ndarray, frequency_mhz: float) -> np.ndarray:
    """RMS field strength (V/m) of a received power (dBm) for an isotropic receiver."""
    return np.sqrt(e_field_squared(np.asarray(rx_power_dbm, np.float64), frequency_mhz))
