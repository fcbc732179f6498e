"""radiomap_geo.sparse.data: which maps a measurement set can be drawn from."""

from dataclasses import replace

import pytest

from radiomap_geo.errors import InputError
from radiomap_geo.sparse.data import measurable_contexts

from .helpers import street_map


def test_maps_without_a_measurable_cell_are_left_out_of_training(caplog):
    good = street_map(64)
    silent = replace(good, index=1, gain_db=good.gain_db - 200.0)  # all below -130 dB
    assert good.measurable.any() and not silent.measurable.any()
    with caplog.at_level("WARNING"):
        kept = measurable_contexts([good, silent], "training")
    assert kept == [good]
    assert "skipped 1 of 2 training maps" in caplog.text
    with pytest.raises(InputError, match="no training map has a measurable cell"):
        measurable_contexts([silent], "training")
