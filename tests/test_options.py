"""The one options object: defaults once, validation with the parameter named, front-end names."""

import math

import pytest

from radiomap_geo.errors import InputError
from radiomap_geo.options import RunOptions, default_of, field_names, option_info, run_options


def test_defaults_and_rsrp_numerology():
    options = RunOptions()
    assert (options.rx_height_m, options.bandwidth_mhz, options.noise_figure_db) == (1.5, 20, 7)
    assert options.technology == "nr" and options.subcarrier_spacing == 30
    assert options.rsrp_offset_db == pytest.approx(-10 * math.log10(612))
    lte = RunOptions(technology="lte")
    assert lte.subcarrier_spacing == 15
    assert lte.rsrp_offset_db == pytest.approx(-10 * math.log10(1200))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("rx_height_m", math.nan),
        ("rx_height_m", -1.0),
        ("rx_height_m", 0.0),
        ("rx_height_m", 501.0),
        ("bandwidth_mhz", 0.0),
        ("bandwidth_mhz", 7.0),
        ("noise_figure_db", math.inf),
        ("tile_size", 0),
        ("tile_size", 32.5),
        ("max_range_m", -1.0),
        ("default_height_m", 1001.0),
        ("storey_height_m", math.nan),
        ("technology", "gsm"),
        ("subcarrier_spacing_khz", 120),
        ("strict", "yes"),
        ("per_site", 1),
    ],
)
def test_bad_values_name_their_parameter(name, value):
    with pytest.raises(InputError) as info:
        RunOptions(**{name: value})
    assert info.value.parameter == name
    assert option_info(name).label.split(" (")[0].lower() in str(info.value).lower() or (
        name == "bandwidth_mhz"
    )


def test_every_field_is_described_once():
    for name in field_names():
        info = option_info(name)
        assert info.label and info.help.endswith((".", "]."))
        assert info.cli is None or info.cli.startswith("--")
    assert default_of("rx_height_m") == 1.5
    flags = [option_info(n).cli for n in field_names() if option_info(n).cli]
    assert len(flags) == len(set(flags))


def test_settings_override_and_unknown_names_are_refused():
    options = run_options(RunOptions(per_site=True), rx_height_m=2.0)
    assert options.per_site and options.rx_height_m == 2.0
    with pytest.raises(TypeError, match="rx_height"):
        run_options(rx_height=2.0)
