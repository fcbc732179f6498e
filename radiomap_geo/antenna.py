"""Transmit antenna patterns: isotropic, the 3GPP TR 38.901 sector element, and MSI/Planet files.

Angles follow the GIS convention used in site tables: azimuth clockwise from north, tilt positive
downwards. Gains are in dBi and include the pattern's peak gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from radiomap_geo.errors import InputError

#: Peak gain, half-power beam width and side-lobe/front-back limits of TR 38.901 Table 7.3-1.
TR38901_MAX_GAIN_DBI = 8.0
TR38901_BEAMWIDTH_DEG = 65.0
TR38901_SLA_DB = 30.0


def wrap_deg(angle: np.ndarray | float) -> np.ndarray:
    """Wrap angles into [-180, 180)."""
    return (np.asarray(angle) + 180.0) % 360.0 - 180.0


def relative_angles(
    dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, azimuth_deg: float, tilt_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical angle (degrees) of direction ``(dx east, dy north, dz up)``
    relative to a boresight at ``azimuth_deg`` (clockwise from north) tilted ``tilt_deg`` down.

    The vertical angle is positive *below* the boresight.
    """
    bearing = np.degrees(np.arctan2(dx, dy))  # clockwise from north
    # Straight below the antenna the bearing is undefined: call it boresight, not north.
    horizontal = np.where((dx == 0) & (dy == 0), 0.0, wrap_deg(bearing - azimuth_deg))
    ground = np.hypot(dx, dy)
    depression = np.degrees(np.arctan2(-dz, ground))  # positive below the horizon
    return horizontal, depression - tilt_deg


@dataclass(frozen=True)
class AntennaPattern:
    """A pattern as horizontal and vertical attenuation cuts (dB, >= 0) plus its peak gain.

    ``horizontal_db[i]`` is the attenuation ``i`` degrees clockwise of boresight and
    ``vertical_db[i]`` the attenuation ``i`` degrees below boresight (indices modulo 360).
    The 3-D gain follows the usual summation rule, clipped at ``max_attenuation_db``.
    """

    name: str
    max_gain_dbi: float
    horizontal_db: np.ndarray = field(repr=False)
    vertical_db: np.ndarray = field(repr=False)
    max_attenuation_db: float = 40.0

    @property
    def is_isotropic(self) -> bool:
        """True for a pattern with no direction dependence."""
        return not np.any(self.horizontal_db) and not np.any(self.vertical_db)

    def gain_dbi(self, horizontal_deg: np.ndarray, vertical_deg: np.ndarray) -> np.ndarray:
        """Gain (dBi) at angles relative to boresight (see :func:`relative_angles`)."""
        h = _interp_cut(self.horizontal_db, horizontal_deg)
        v = _interp_cut(self.vertical_db, vertical_deg)
        return self.max_gain_dbi - np.minimum(h + v, self.max_attenuation_db)


def _interp_cut(cut: np.ndarray, angle_deg: np.ndarray) -> np.ndarray:
    angle = np.mod(np.asarray(angle_deg, dtype=np.float64), 360.0)
    grid = np.arange(361.0)
    return np.interp(angle, grid, np.append(cut, cut[0]))


def isotropic() -> AntennaPattern:
    """The 0 dBi isotropic radiator."""
    zeros = np.zeros(360)
    return AntennaPattern("iso", 0.0, zeros, zeros)


def tr38901_sector() -> AntennaPattern:
    """The TR 38.901 single element: 65 degree beams, 30 dB limits, 8 dBi peak."""
    angles = wrap_deg(np.arange(360.0))
    cut = np.minimum(12.0 * (angles / TR38901_BEAMWIDTH_DEG) ** 2, TR38901_SLA_DB)
    return AntennaPattern("tr38901", TR38901_MAX_GAIN_DBI, cut, cut, TR38901_SLA_DB)


def read_msi(path: str | Path) -> AntennaPattern:
    """Read an MSI / Planet ``.msi`` / ``.pln`` pattern file (HORIZONTAL and VERTICAL 360 cuts).

    The vertical cut in these files is measured from the horizon, positive downwards, so it maps
    directly onto our vertical angle relative to an untilted boresight. Electrical tilt already in
    the file adds to the site's ``tilt_deg``.
    """
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read antenna pattern file {path}: {exc}") from exc
    name, gain, cuts = path.stem, 0.0, {}
    i = 0
    while i < len(lines):
        words = lines[i].split()
        i += 1
        if not words:
            continue
        key = words[0].upper()
        if key == "NAME" and len(words) > 1:
            name = " ".join(words[1:])
        elif key == "GAIN" and len(words) > 1:
            gain = _msi_number(path, i, words[1], "a gain in dBi or dBd")
            if len(words) > 2 and words[2].lower() == "dbd":
                gain += 2.15
        elif key in ("HORIZONTAL", "VERTICAL"):
            count = (
                int(_msi_number(path, i, words[1], "a count of angles")) if len(words) > 1 else 360
            )
            if len(lines) - i < count:
                raise InputError(
                    f"{path}, line {i}: {key} announces {count} angles but the file ends after "
                    f"{len(lines) - i} more lines"
                )
            cuts[key] = _msi_cut(path, lines, i, count)
            i += count
    if set(cuts) != {"HORIZONTAL", "VERTICAL"}:
        raise InputError(
            f"{path} is not an MSI/Planet pattern: it needs HORIZONTAL 360 and VERTICAL 360 blocks"
        )
    return AntennaPattern(name, gain, cuts["HORIZONTAL"], cuts["VERTICAL"])


def _msi_number(path: Path, line_number: int, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(
            f"{path}, line {line_number}: {text!r} is not a number (expected {what}); fix the "
            "pattern file"
        )
    return value


def _msi_cut(path: Path, lines: list[str], start: int, count: int) -> np.ndarray:
    """``count`` lines of ``angle attenuation`` from 0-based line ``start`` on, by whole degree."""
    values = np.zeros(360)
    for number in range(start + 1, start + count + 1):  # 1-based line numbers for messages
        words = lines[number - 1].split()
        if len(words) < 2:
            raise InputError(
                f"{path}, line {number}: expected 'angle attenuation', got {lines[number - 1]!r}"
            )
        angle = _msi_number(path, number, words[0], "an angle in degrees")
        att = _msi_number(path, number, words[1], "an attenuation in dB")
        values[int(round(angle)) % 360] = att
    return values


@lru_cache(maxsize=64)
def get_pattern(spec: str) -> AntennaPattern:
    """Resolve a site's ``antenna`` value: ``iso``, ``tr38901`` or a path to an MSI/Planet file."""
    key = (spec or "iso").strip()
    if key.lower() in ("iso", "isotropic", "omni"):
        return isotropic()
    if key.lower() in ("tr38901", "3gpp", "sector"):
        return tr38901_sector()
    if Path(key).suffix.lower() in (".msi", ".pln", ".txt") and Path(key).exists():
        return read_msi(key)
    raise InputError(
        f"unknown antenna {spec!r}: use 'iso', 'tr38901' or the path of an MSI/Planet pattern file"
    )
