"""Point coordinates from one CRS to another: the one transform every point set uses."""

from __future__ import annotations

import numpy as np
from pyproj import CRS, Transformer


def reproject_xy(x, y, src: CRS, dst: CRS) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` arrays in ``dst`` (easting/longitude first, whatever the CRS's axis order)."""
    if src == dst:
        return np.asarray(x, float), np.asarray(y, float)
    tx, ty = Transformer.from_crs(src, dst, always_xy=True).transform(x, y)
    return np.asarray(tx, float), np.asarray(ty, float)
