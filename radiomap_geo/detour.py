"""The way round the buildings: how much longer than the direct line is the shortest outdoor path.

A street-level antenna reaches the next street round the corner by reflection and diffraction
along the streets, not through the block; the direct ray's channels (``los``,
``building_depth``, ``knife_edge_db``) do not say how far round that is. On the validation split
re-traced at 1e7 rays the shipped network's bias for street antennas grows with that detour,
from -1.1 dB under 2 m to -7.3 dB at 20-40 m (``benchmarks/results/street_detour.md``). As a
13th input (lane round 28) it did not lower the error: there the 3e6-ray training labels lack
30 % of the cells and are about 4 dB too weak on the rest.

:func:`detour_m` gives, for every outdoor cell, the length of the shortest path that leaves the
antenna along a direct ray to an outdoor cell it sees and continues at ground level between the
buildings, minus the direct horizontal distance: 0 in line of sight, the extra metres of the way
round elsewhere. The path runs on the cell graph with 16 neighbours (the 8 adjacent cells and the
8 knight moves; a knight move only where both cells it passes are outdoors, a diagonal step only
where one of its side cells is), whose lengths
overestimate a straight line by at most 2.7 % (8 neighbours alone: 8.2 %). The graph is the same
under the eight flips and rotations of the raster, so the channel turns with the map.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

#: Steps of the cell graph as (row, col) offsets, one of each opposite pair (edges are undirected).
_STEPS = ((0, 1), (1, 0), (1, 1), (1, -1), (1, 2), (2, 1), (1, -2), (2, -1))


def _shifted(mask: np.ndarray, dr: int, dc: int) -> tuple[slice, slice, slice, slice]:
    """Slices ``(rows_a, cols_a, rows_b, cols_b)`` pairing each cell a with a + (dr, dc)."""
    rows, cols = mask.shape
    c0, c1 = max(0, -dc), cols - max(0, dc)
    return slice(0, rows - dr), slice(c0, c1), slice(dr, rows), slice(c0 + dc, c1 + dc)


def _step_allowed(outdoor: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """For each step from a to a + (dr, dc): the cells it passes let it through.

    A diagonal step needs one of its two side cells outdoors (no slipping between two buildings
    that touch at a corner); a knight move needs both cells it passes: (0, 1) and (1, 1) for a
    (1, 2) move, (1, 0) and (1, 1) for a (2, 1) move, mirrored for negative columns. Steps to an
    adjacent cell pass no other.
    """
    ra, ca, _, _ = _shifted(outdoor, dr, dc)

    def passed(pr: int, pc: int) -> np.ndarray:
        return outdoor[ra.start + pr : ra.stop + pr, ca.start + pc : ca.stop + pc]

    sign = 1 if dc > 0 else -1
    if abs(dr) + abs(dc) == 1:
        return np.ones(outdoor[ra, ca].shape, bool)
    if dr == 1 and abs(dc) == 1:
        return passed(0, sign) | passed(1, 0)
    first = passed(0, sign) if dr == 1 else passed(1, 0)
    return first & passed(1, sign)


def _outdoor_edges(outdoor: np.ndarray, resolution_m: float):
    """``(from, to, metres)`` of the undirected cell graph between outdoor cells."""
    ids = np.arange(outdoor.size).reshape(outdoor.shape)
    sources, targets, lengths = [], [], []
    for dr, dc in _STEPS:
        ra, ca, rb, cb = _shifted(outdoor, dr, dc)
        keep = outdoor[ra, ca] & outdoor[rb, cb] & _step_allowed(outdoor, dr, dc)
        sources.append(ids[ra, ca][keep])
        targets.append(ids[rb, cb][keep])
        lengths.append(np.full(int(keep.sum()), resolution_m * np.hypot(dr, dc)))
    return np.concatenate(sources), np.concatenate(targets), np.concatenate(lengths)


def outdoor_paths_m(outdoor: np.ndarray, starts: np.ndarray, resolution_m: float) -> np.ndarray:
    """Length (m) of the shortest outdoor path from each start cell to every cell.

    Args:
        outdoor: True where a cell is outside every building.
        starts: flat (row-major) indices of the start cells.
        resolution_m: cell size, metres.

    Returns:
        ``(len(starts), outdoor.size)`` float64; ``inf`` where no outdoor path leads (buildings,
        closed courtyards).
    """
    outdoor = np.asarray(outdoor, bool)
    a, b, metres = _outdoor_edges(outdoor, resolution_m)
    graph = coo_matrix((metres, (a, b)), shape=(outdoor.size, outdoor.size)).tocsr()
    return dijkstra(graph, directed=False, indices=np.asarray(starts, np.int64))


def detour_m(
    outdoor: np.ndarray,
    seen: np.ndarray,
    direct_m: np.ndarray,
    resolution_m: float,
    cap_m: float = 200.0,
) -> np.ndarray:
    """Metres the shortest outdoor path exceeds the direct distance, per cell (float32).

    Args:
        outdoor: True where a cell is outside every building (the path may only cross these).
        seen: True where the antenna's direct ray reaches the cell (paths start there).
        direct_m: horizontal distance from the antenna to each cell, metres.
        resolution_m: cell size, metres.
        cap_m: the value of outdoor cells no path reaches (closed courtyards, or no cell seen)
            and the largest value returned.

    Returns:
        0 at seen cells and inside buildings; elsewhere ``min(path - direct, cap_m)``.
    """
    outdoor = np.asarray(outdoor, bool)
    starts = np.flatnonzero(np.asarray(seen, bool) & outdoor)
    out = np.zeros(outdoor.shape, np.float32)
    if not starts.size:
        out[outdoor] = cap_m
        return out
    source = outdoor.size  # one extra node linked to every seen cell by its direct distance
    a, b, metres = _outdoor_edges(outdoor, resolution_m)
    direct = np.asarray(direct_m, np.float64).ravel()
    # dijkstra drops explicit zeros: a seen cell at the antenna's foot still needs its link
    a = np.concatenate([a, np.full(starts.size, source)])
    b = np.concatenate([b, starts])
    metres = np.concatenate([metres, np.maximum(direct[starts], 1e-6)])
    graph = coo_matrix((metres, (a, b)), shape=(source + 1, source + 1)).tocsr()
    path = dijkstra(graph, directed=False, indices=source)[:source]
    extra = np.clip(path - direct, 0.0, cap_m)  # in line of sight the path is the direct one
    out[outdoor] = np.where(np.isfinite(path), extra, cap_m).reshape(-1)[outdoor.ravel()]
    out[np.asarray(seen, bool) & outdoor] = 0.0
    return out
