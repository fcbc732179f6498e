import numpy as np
import pytest

from radiomap_geo.antenna import get_pattern, read_msi, relative_angles, tr38901_sector
from radiomap_geo.errors import InputError


def test_relative_angles_use_clockwise_from_north():
    # A receiver due east of a site whose boresight points east is on boresight.
    h, v = relative_angles(np.array(100.0), np.array(0.0), np.array(0.0), 90.0, 0.0)
    assert h == pytest.approx(0.0) and v == pytest.approx(0.0)
    # Due north of an east-pointing antenna is 90 degrees anticlockwise (-90).
    h, _ = relative_angles(np.array(0.0), np.array(100.0), np.array(0.0), 90.0, 0.0)
    assert h == pytest.approx(-90.0)


def test_downtilt_moves_the_vertical_angle():
    # 100 m away, 10 m below the antenna: 5.71 degrees below the horizon.
    _, v = relative_angles(np.array(100.0), np.array(0.0), np.array(-10.0), 90.0, 6.0)
    assert v == pytest.approx(np.degrees(np.arctan(0.1)) - 6.0)


def test_tr38901_values_from_the_standard():
    p = tr38901_sector()
    assert p.gain_dbi(np.array(0.0), np.array(0.0)) == pytest.approx(8.0)
    # 3 dB down at half the 65 degree beam width, in both planes.
    assert p.gain_dbi(np.array(32.5), np.array(0.0)) == pytest.approx(5.0, abs=0.01)
    assert p.gain_dbi(np.array(0.0), np.array(32.5)) == pytest.approx(5.0, abs=0.01)
    # Front-to-back limited to 30 dB.
    assert p.gain_dbi(np.array(180.0), np.array(0.0)) == pytest.approx(8.0 - 30.0)


def test_msi_file_is_read(tmp_path):
    lines = ["NAME test-panel", "FREQUENCY 3500", "GAIN 15.5 dBi", "HORIZONTAL 360"]
    lines += [f"{a} {min(12 * (min(a, 360 - a) / 65) ** 2, 25):.2f}" for a in range(360)]
    lines += ["VERTICAL 360"]
    lines += [f"{a} {min(12 * (min(a, 360 - a) / 10) ** 2, 25):.2f}" for a in range(360)]
    path = tmp_path / "panel.msi"
    path.write_text("\n".join(lines))
    p = read_msi(path)
    assert p.name == "test-panel" and p.max_gain_dbi == 15.5
    assert p.gain_dbi(np.array(0.0), np.array(0.0)) == pytest.approx(15.5)
    assert p.gain_dbi(np.array(0.0), np.array(5.0)) == pytest.approx(15.5 - 3.0, abs=0.05)
    assert get_pattern(str(path)).name == "test-panel"


def test_unknown_antenna_is_explained():
    with pytest.raises(InputError, match="MSI"):
        get_pattern("yagi")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("GAIN x\nHORIZONTAL 1\n0 0\nVERTICAL 1\n0 0\n", ["line 1", "'x'"]),
        ("HORIZONTAL 2\n0 0\n1 abc\nVERTICAL 1\n0 0\n", ["line 3", "'abc'"]),
        ("HORIZONTAL 2\n0 0\n1\nVERTICAL 1\n0 0\n", ["line 3", "angle attenuation"]),
        ("HORIZONTAL 360\n0 0\n", ["line 1", "announces 360 angles"]),
        ("HORIZONTAL 1\n0 nan\nVERTICAL 1\n0 0\n", ["line 2", "'nan'"]),
    ],
)
def test_malformed_msi_file_names_file_and_line(tmp_path, text, words):
    from radiomap_geo.antenna import read_msi
    from radiomap_geo.errors import InputError

    path = tmp_path / "bad.msi"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_msi(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message
