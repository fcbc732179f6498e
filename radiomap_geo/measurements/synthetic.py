"""Synthetic drive tests from ray-traced maps, where the tower position is known.

A walk is a contiguous path over labelled outdoor cells (4-neighbour steps, keeping its heading
while it can, turning at random otherwise, turning back at dead ends), so it follows streets and
squares like a walk test.
Every :data:`SAMPLE_EVERY` cells it records RSRP = transmit power + ray-traced path gain + the
RSRP offset + Gaussian noise (``noise_db``, 2 dB by default) and the LTE timing advance of the
true 3-D distance (``floor(d / 78.12 m)``), as a phone would.
"""

from __future__ import annotations

import numpy as np
from pyproj import Transformer
from scipy import ndimage

from radiomap_geo.measurements.locate import TA_STEP_M

SAMPLE_EVERY = 3
STEPS = ((0, 1), (1, 0), (0, -1), (-1, 0))


def random_walk(mask: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 2)`` (row, col) cells of one contiguous walk over ``mask`` (n <= ``length``).

    The walk starts in a connected open area large enough for it (a walk test starts on a
    street, not in a closed courtyard), prefers cells it has not visited, and turns back at a
    dead end instead of stopping there, as a walker would; it is shorter than ``length`` only
    when no open area is that large and it is trapped on a single cell.
    """
    pos = _start_cell(mask, length, rng)
    if pos is None:
        return np.zeros((0, 2), int)
    heading = int(rng.integers(4))
    path = [pos]
    seen = {pos}
    for _ in range(length - 1):
        options = [heading] + [int(h) for h in rng.permutation(4) if h != heading]
        if rng.random() < 0.05:  # occasional turn at a junction
            options = options[1:] + options[:1]
        open_steps = [h for h in options if _is_open(mask, _step(pos, h))]
        if not open_steps:
            break
        fresh = [h for h in open_steps if _step(pos, h) not in seen]
        heading = fresh[0] if fresh else open_steps[0]  # back over old ground when boxed in
        pos = _step(pos, heading)
        path.append(pos)
        seen.add(pos)
    return np.array(path, int)


def _step(pos: tuple[int, int], heading: int) -> tuple[int, int]:
    return pos[0] + STEPS[heading][0], pos[1] + STEPS[heading][1]


def _is_open(mask: np.ndarray, cell: tuple[int, int]) -> bool:
    inside = 0 <= cell[0] < mask.shape[0] and 0 <= cell[1] < mask.shape[1]
    return inside and bool(mask[cell])


def _start_cell(mask: np.ndarray, length: int, rng: np.random.Generator) -> tuple[int, int] | None:
    """A random cell of the open areas (4-connected) of ``length`` cells or more.

    Falls back to the largest area when none is that large; None when ``mask`` is empty.
    """
    labels, n = ndimage.label(mask)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    big = np.flatnonzero(sizes >= min(length, sizes.max())) + 1
    rows, cols = np.nonzero(np.isin(labels, big))
    k = rng.integers(len(rows))
    return int(rows[k]), int(cols[k])


def walk_samples(
    gain_db: np.ndarray,
    grid,
    site_xy: tuple[float, float],
    site_height_m: float,
    walks: list[np.ndarray],
    noise_db: float = 2.0,
    power_dbm: float = 43.0,
    rsrp_offset_db: float = 0.0,
    rng: np.random.Generator | None = None,
    cell: str = "302-720-1-256",
):
    """Samples (EPSG:4326 GeoDataFrame, the ``samples`` layer's columns) along ``walks``."""
    import geopandas as gpd
    import pandas as pd

    rng = rng or np.random.default_rng(0)
    records = []
    for w, path in enumerate(walks):
        picked = path[::SAMPLE_EVERY]
        x, y = grid.xy(picked[:, 0], picked[:, 1])
        gain = gain_db[picked[:, 0], picked[:, 1]]
        d = np.sqrt((x - site_xy[0]) ** 2 + (y - site_xy[1]) ** 2 + (site_height_m - 1.5) ** 2)
        rsrp = power_dbm + gain + rsrp_offset_db + rng.normal(0.0, noise_db, len(gain))
        for i in range(len(picked)):
            if np.isfinite(gain[i]):
                records.append(
                    {
                        "x": x[i],
                        "y": y[i],
                        "rsrp_dbm": rsrp[i],
                        "ta": np.floor(d[i] / TA_STEP_M),
                        "walk": w,
                        "t": i,
                    }
                )
    frame = pd.DataFrame(records)
    mcc, mnc, lac, cellid = (int(v) for v in cell.split("-"))
    frame["mcc"], frame["mnc"], frame["lac"], frame["cellid"], frame["pci"] = (
        mcc,
        mnc,
        lac,
        cellid,
        1,
    )
    frame["cell"] = cell
    frame["site"] = f"{mcc}-{mnc}-{cellid // 256}"
    frame["source_file"] = "walk-" + frame["walk"].astype(str)
    frame["time"] = pd.to_datetime(frame["t"] * 5, unit="s", utc=True) + pd.to_timedelta(
        frame["walk"] * 3600, unit="s"
    )
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(
        frame.x.to_numpy(), frame.y.to_numpy()
    )
    return gpd.GeoDataFrame(
        frame.drop(columns=["x", "y", "t"]), geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326"
    )
