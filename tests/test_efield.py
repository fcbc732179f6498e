import math

import numpy as np
import pytest

from radiomap_geo.coverage import CoverageAccumulator
from radiomap_geo.efield import e_field_vpm


def test_minus_60_dbm_at_3_5_ghz_is_25_mv_per_m():
    # E = sqrt(4 pi eta0 P) / lambda: 1 nW, lambda = 85.65 mm -> 25.4 mV/m (88.1 dBuV/m)
    field = float(e_field_vpm(np.array(-60.0), 3500.0))
    assert field == pytest.approx(0.02539, rel=1e-3)
    assert 20 * math.log10(field * 1e6) == pytest.approx(88.1, abs=0.05)


def test_fields_of_two_carriers_add_in_power():
    acc = CoverageAccumulator((1, 2), noise_dbm=-100.0, rsrp_offset_db=-27.9, keep_field=True)
    acc.add(0, "a", 40.0, np.array([[-100.0, np.nan]]), frequency_mhz=3500.0)
    acc.add(1, "b", 40.0, np.array([[-100.0, -100.0]]), frequency_mhz=1800.0)
    bands = acc.bands()
    both = math.hypot(
        float(e_field_vpm(np.array(-60.0), 3500.0)), float(e_field_vpm(-60.0, 1800.0))
    )
    assert bands["e_field_vpm"][0, 0] == pytest.approx(both, rel=1e-5)
    assert bands["e_field_vpm"][0, 1] == pytest.approx(float(e_field_vpm(-60.0, 1800.0)), rel=1e-5)


def test_field_needs_the_frequency():
    acc = CoverageAccumulator((1, 1), noise_dbm=-100.0, rsrp_offset_db=0.0, keep_field=True)
    with pytest.raises(ValueError, match="frequency"):
        acc.add(0, "a", 40.0, np.array([[-100.0]]))
