"""Antenna gain as a differentiable function of a site's azimuth and tilt (torch).

The same geometry and pattern as :mod:`radiomap_geo.antenna` (numpy), written with torch
operations so gradients reach the orientation: the horizontal and vertical angles of every cell
relative to the boresight, and the pattern's cuts interpolated linearly between whole degrees
exactly as :func:`numpy.interp` does there (the values agree to float32 round-off; the gradient is
the slope of the cut's segment, hence piecewise constant).
"""

from __future__ import annotations

import numpy as np
import torch

from radiomap_geo.antenna import AntennaPattern


def wrap_deg(angle: torch.Tensor) -> torch.Tensor:
    """Wrap angles into [-180, 180) (gradient 1 everywhere but at the seam)."""
    return torch.remainder(angle + 180.0, 360.0) - 180.0


def bearing_and_depression(
    dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-cell bearing (degrees clockwise from north), depression below the horizon (degrees)
    and a mask of cells straight below the antenna, from east/north/up offsets.

    These do not depend on the orientation, so they are computed once per site.
    """
    bearing = np.degrees(np.arctan2(dx, dy))
    depression = np.degrees(np.arctan2(-dz, np.hypot(dx, dy)))
    below = (np.asarray(dx) == 0) & (np.asarray(dy) == 0)
    return (
        torch.as_tensor(bearing, dtype=torch.float32),
        torch.as_tensor(depression, dtype=torch.float32),
        torch.as_tensor(below),
    )


def relative_angles(
    bearing: torch.Tensor,
    depression: torch.Tensor,
    below: torch.Tensor,
    azimuth_deg: torch.Tensor,
    tilt_deg: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal angle clockwise of boresight and vertical angle below it (degrees).

    ``azimuth_deg`` / ``tilt_deg`` broadcast against the maps (shape ``(n, 1, 1)`` for ``n``
    sites over ``(n, H, W)`` maps). Straight below the antenna the horizontal angle is 0, as in
    :func:`radiomap_geo.antenna.relative_angles`.
    """
    horizontal = wrap_deg(bearing - azimuth_deg)
    horizontal = torch.where(below, torch.zeros_like(horizontal), horizontal)
    return horizontal, depression - tilt_deg


class TorchPattern:
    """An :class:`AntennaPattern` whose gain is a torch function of the angles."""

    def __init__(self, pattern: AntennaPattern, device: torch.device | str = "cpu"):
        self.pattern = pattern
        self.max_gain_dbi = float(pattern.max_gain_dbi)
        self.max_attenuation_db = float(pattern.max_attenuation_db)
        self._h = _closed_cut(pattern.horizontal_db, device)
        self._v = _closed_cut(pattern.vertical_db, device)

    @property
    def is_isotropic(self) -> bool:
        """True for a pattern with no direction dependence."""
        return self.pattern.is_isotropic

    def gain_dbi(self, horizontal_deg: torch.Tensor, vertical_deg: torch.Tensor) -> torch.Tensor:
        """Gain (dBi) at angles relative to boresight; same rule as ``AntennaPattern.gain_dbi``."""
        attenuation = _interp_cut(self._h, horizontal_deg) + _interp_cut(self._v, vertical_deg)
        return self.max_gain_dbi - torch.clamp(attenuation, max=self.max_attenuation_db)


def _closed_cut(cut: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """The 360 one-degree samples with the 0-degree value repeated at 360 degrees."""
    return torch.as_tensor(np.append(cut, cut[0]), dtype=torch.float32, device=device)


def _interp_cut(cut: torch.Tensor, angle_deg: torch.Tensor) -> torch.Tensor:
    angle = torch.remainder(angle_deg, 360.0)
    # remainder may return 360.0 exactly for tiny negative inputs in float32: stay in the table.
    whole = torch.clamp(torch.floor(angle.detach()), 0, 359)
    index = whole.long()
    low, high = cut[index], cut[index + 1]
    return low + (angle - whole) * (high - low)
