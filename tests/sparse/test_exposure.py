import math

import numpy as np
import pytest

from radiomap_geo.errors import InputError
from radiomap_geo.sparse.exposure import (
    e_field_dbuvm_to_rx_power_dbm,
    e_field_vpm,
    to_path_gain_db,
    to_rx_power_dbm,
)


def test_field_of_a_received_power_by_hand():
    # lambda = c / 3.5 GHz = 0.085655 m; E = sqrt(4 pi 376.73 ohm 1e-9 W) / lambda
    assert e_field_vpm(np.array(-60.0), 3500.0) == pytest.approx(0.025402, rel=1e-4)
    # 6 dB more power doubles the field; at twice the frequency the same power needs twice
    # the field (the aperture lambda^2 / 4 pi is a quarter)
    assert e_field_vpm(np.array(-54.0), 3500.0) / e_field_vpm(np.array(-60.0), 3500.0) == (
        pytest.approx(10 ** (6 / 20))
    )
    assert e_field_vpm(np.array(-60.0), 7000.0) == pytest.approx(0.025402 * 2, rel=1e-4)


def test_field_and_power_round_trip_and_nan_is_no_field():
    dbuvm = 20 * math.log10(0.025402) + 120
    assert e_field_dbuvm_to_rx_power_dbm(dbuvm, 3500.0) == pytest.approx(-60.0, abs=1e-3)
    assert e_field_vpm(np.array([np.nan]), 3500.0)[0] == 0.0


def test_value_kinds_to_path_gain():
    v = np.array([-100.0])
    kw = {"power_dbm": 43.0, "rsrp_offset_db": -27.9, "frequency_mhz": 3500.0}
    assert to_path_gain_db(v, "path-gain", **kw)[0] == -100.0
    assert to_path_gain_db(v, "rx-power", **kw)[0] == pytest.approx(-143.0)
    # RSRP is per resource element: 27.9 dB below the total received power
    assert to_path_gain_db(v, "rsrp", **kw)[0] == pytest.approx(-100.0 + 27.9 - 43.0)
    dbuvm = np.array([88.097])
    assert to_path_gain_db(dbuvm, "e-field", **kw)[0] == pytest.approx(-103.0, abs=0.01)
    with pytest.raises(InputError, match="path gains belong to one site"):
        to_rx_power_dbm(v, "path-gain", rsrp_offset_db=-27.9, frequency_mhz=3500.0)
