"""Measured values to received power and path gain, and coverage bands with the total field.

The field physics (``E = sqrt(4 pi eta0 P) / lambda`` for an isotropic receiver) lives in
:mod:`radiomap_geo.efield`; its functions are re-exported here for the measurement code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from radiomap_geo.efield import ETA0_OHM, e_field_squared, e_field_vpm, wavelength_m
from radiomap_geo.errors import InputError

__all__ = ["e_field_squared", "e_field_vpm", "wavelength_m"]


def e_field_dbuvm_to_rx_power_dbm(dbuvm: np.ndarray, frequency_mhz: float) -> np.ndarray:
    """The received power (dBm) of an isotropic antenna in a field of ``dbuvm`` dBuV/m."""
    e_vpm = 10.0 ** ((np.asarray(dbuvm, np.float64) - 120.0) / 20.0)
    watts = e_vpm**2 * wavelength_m(frequency_mhz) ** 2 / (4.0 * math.pi * ETA0_OHM)
    return 10.0 * np.log10(watts) + 30.0


def to_rx_power_dbm(
    values: np.ndarray, value_kind: str, *, rsrp_offset_db: float, frequency_mhz: float
) -> np.ndarray:
    """Measured values (canonical unit of their kind) as total received power (dBm).

    ``rsrp``: per resource element, so minus the run's RSRP offset (``rsrp = rx + offset``);
    ``e-field`` (dBuV/m): through the isotropic aperture at ``frequency_mhz``.

    Raises:
        InputError: ``path-gain`` (needs a site's power: use :func:`to_path_gain_db`).
    """
    if value_kind == "rx-power":
        return np.asarray(values, np.float64)
    if value_kind == "rsrp":
        return np.asarray(values, np.float64) - rsrp_offset_db
    if value_kind == "e-field":
        return e_field_dbuvm_to_rx_power_dbm(values, frequency_mhz)
    raise InputError(
        f"value kind {value_kind!r} cannot be a total over several sites: path gains belong to "
        "one site (add a site_id column, or give rx-power / rsrp / e-field values)",
        parameter="value_kind",
    )


def to_path_gain_db(
    values: np.ndarray,
    value_kind: str,
    *,
    power_dbm: float,
    rsrp_offset_db: float,
    frequency_mhz: float,
) -> np.ndarray:
    """Measured values of one site as its path gain (dB): received power minus its power."""
    if value_kind == "path-gain":
        return np.asarray(values, np.float64)
    return to_rx_power_dbm(
        values, value_kind, rsrp_offset_db=rsrp_offset_db, frequency_mhz=frequency_mhz
    ) - float(power_dbm)


def coverage_and_field(
    shape: tuple[int, int],
    sites,
    gains: Mapping[str, np.ndarray],
    options,
    invalid: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The coverage bands of per-site path gains (dB, by site id) and the total RMS field (V/m).

    Cells in ``invalid`` (inside buildings) or reached by no site are NaN in both; the
    ``path_gain_db:<site>`` bands are kept when ``options.per_site``.
    """
    from radiomap_geo.coverage import CoverageAccumulator, noise_power_dbm

    acc = CoverageAccumulator(
        shape,
        noise_power_dbm(options.bandwidth_mhz, options.noise_figure_db),
        options.rsrp_offset_db,
        keep_per_site=options.per_site,
        keep_field=True,
    )
    for index, site in enumerate(sites):
        gain = gains[site.site_id]
        if invalid is not None:
            gain = np.where(invalid, np.nan, gain)
        acc.add(index, site.site_id, site.power_dbm, gain, frequency_mhz=site.frequency_mhz)
    bands = acc.bands(invalid=invalid)
    return bands, bands.pop("e_field_vpm")
