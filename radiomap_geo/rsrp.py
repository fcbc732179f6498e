"""Reference-signal received power (RSRP) from total received power.

Phones, scanners and planning tools report RSRP: the received power of *one resource element*
(one subcarrier for one OFDM symbol), not the power over the whole channel. With the total
transmit power spread evenly over every subcarrier of the carrier,

    RSRP = P_rx_total - 10 log10(N_subcarriers),   N_subcarriers = 12 * N_RB

where N_RB, the number of resource blocks, follows from the channel bandwidth and the subcarrier
spacing (3GPP TS 36.101 Table 5.6-1 for LTE, TS 38.101-1 Table 5.3.2-1 for NR FR1). At 20 MHz
that is 1200 subcarriers (LTE) or 612 (NR, 30 kHz): RSRP is 28-31 dB below the total power.
"""

from __future__ import annotations

import math

from radiomap_geo.errors import InputError

SUBCARRIERS_PER_RB = 12

# LTE: 15 kHz subcarriers only; channel bandwidth (MHz) -> resource blocks.
LTE_RESOURCE_BLOCKS: dict[float, int] = {1.4: 6, 3: 15, 5: 25, 10: 50, 15: 75, 20: 100}

# NR FR1: subcarrier spacing (kHz) -> channel bandwidth (MHz) -> resource blocks.
NR_RESOURCE_BLOCKS: dict[int, dict[float, int]] = {
    15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 35: 188, 40: 216, 45: 242, 50: 270},
    30: {
        5: 11,
        10: 24,
        15: 38,
        20: 51,
        25: 65,
        30: 78,
        35: 92,
        40: 106,
        45: 119,
        50: 133,
        60: 162,
        70: 189,
        80: 217,
        90: 245,
        100: 273,
    },
    60: {
        10: 11,
        15: 18,
        20: 24,
        25: 31,
        30: 38,
        35: 44,
        40: 51,
        45: 58,
        50: 65,
        60: 79,
        70: 93,
        80: 107,
        90: 121,
        100: 135,
    },
}

TECHNOLOGIES = ("nr", "lte")
#: (technology, subcarrier spacing kHz) -> its bandwidth table: every numerology the tables hold.
NUMEROLOGIES: dict[tuple[str, int], dict[float, int]] = {
    ("lte", 15): LTE_RESOURCE_BLOCKS,
    **{("nr", spacing): table for spacing, table in NR_RESOURCE_BLOCKS.items()},
}


def _lookup(table: dict[float, int], bandwidth_mhz: float) -> int | None:
    for bandwidth, blocks in table.items():
        if math.isclose(bandwidth, bandwidth_mhz, abs_tol=1e-6):
            return blocks
    return None


def _spacings(technology: str) -> str:
    return ", ".join(str(spacing) for tech, spacing in NUMEROLOGIES if tech == technology)


def resource_blocks(bandwidth_mhz: float, subcarrier_spacing_khz: int, technology: str) -> int:
    """Resource blocks of a carrier, from the 3GPP tables; InputError for combinations they lack."""
    if technology not in TECHNOLOGIES:
        raise InputError(
            f"unknown technology {technology!r}: use one of {', '.join(TECHNOLOGIES)}",
            parameter="technology",
        )
    table = NUMEROLOGIES.get((technology, subcarrier_spacing_khz))
    blocks = None if table is None else _lookup(table, bandwidth_mhz)
    if table is None:  # LTE has one numerology, NR FR1 three
        what = "an LTE" if technology == "lte" else "an NR FR1"
        raise InputError(
            f"{subcarrier_spacing_khz} kHz subcarriers are not {what} numerology: use "
            f"{_spacings(technology)} kHz",
            parameter="subcarrier_spacing_khz",
        )
    if blocks is None:
        valid = ", ".join(f"{b:g}" for b in table)
        raise InputError(
            f"bandwidth {bandwidth_mhz:g} MHz is not a {technology.upper()} channel bandwidth at "
            f"{subcarrier_spacing_khz} kHz subcarriers: use one of {valid} MHz",
            parameter="bandwidth_mhz",
        )
    return blocks


def rsrp_offset_db(bandwidth_mhz: float, subcarrier_spacing_khz: int, technology: str) -> float:
    """Decibels to add to total received power to get RSRP (-10 log10 of the subcarriers)."""
    blocks = resource_blocks(bandwidth_mhz, subcarrier_spacing_khz, technology)
    return -10.0 * math.log10(SUBCARRIERS_PER_RB * blocks)
