"""Small synthetic maps for the measurement tests (a street grid with a smooth path-gain field)."""

from __future__ import annotations

import numpy as np

from radiomap_geo.sparse.data import MapContext


def street_map(size: int = 64, seed: int = 0, index: int = 0, tile: int = 0) -> MapContext:
    """Buildings in blocks with 2-cell streets; path gain falls with distance from a corner site
    and 12 dB behind blocks (NLOS), plus a little texture.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.indices((size, size))
    heights = np.where((rows % 12 >= 3) & (cols % 12 >= 3), 15.0, 0.0).astype(np.float32)
    dist = np.hypot(rows - 1.0, cols - 1.0) * 2.0 + 5.0
    los = (rows < 3) | (cols < 3) | (heights > 0) & False
    gain = -40.0 - 30.0 * np.log10(dist) - np.where(los, 0.0, 12.0)
    gain = gain + rng.normal(0, 0.5, gain.shape)
    valid = heights <= 0
    free = (-40.0 - 20.0 * np.log10(dist)).astype(np.float32)
    return MapContext(
        index=index,
        tile=tile,
        heights=heights,
        gain_db=np.where(valid, gain, np.nan).astype(np.float32),
        valid=valid,
        los=los,
        geometry_db=(gain + 6.0 + rng.normal(0, 2.0, gain.shape)).astype(np.float32),
        free_space_db=free,
        resolution=2.0,
    )
