"""The units of the coverage bands (the band contract itself is documented in :mod:`.coverage`).

Kept apart so that the raster writer can label bands without importing the result type.
"""

#: Unit of each band, by the band name's part before ``:`` (``path_gain_db:<site>`` -> dB).
BAND_UNITS = {
    "rsrp_dbm": "dBm",
    "rx_power_dbm": "dBm",
    "best_server": "index",
    "sinr_db": "dB",
    "path_gain_db": "dB",
    "validity": "flag",
    "model_source": "source",
    "e_field_vpm": "V/m",
    "rsrp_std_db": "dB",
}
#: Bands in dB that are no power (a spread): overviews average them as they are.
NOT_POWER_BANDS = frozenset({"rsrp_std_db"})


def band_unit(name: str) -> str:
    """Unit of a band from its name (``path_gain_db:<id>`` -> dB; unknown bands: '')."""
    return BAND_UNITS.get(name.split(":", 1)[0], "")
