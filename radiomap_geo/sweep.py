"""Line of sight, building depth and knife-edge obstruction for one site in one radial sweep.

:mod:`radiomap_geo.los` walks one ray per receiver cell: ``O(cells x distance)`` per site. This
module casts a fan of rays from the antenna instead (the R2 idea of Franklin and Ray's horizon
algorithms, as in GDAL's viewshed) and evaluates every cell on the ray nearest its centre, so each
height sample is read once per ray and a site costs ``O(cells within reach)``:

* **Rays.** A cell at distance ``D`` cells from the antenna belongs to level ``L = ceil(log2 D)``
  (0 for ``D <= 1``); level ``L`` has ``ceil(2 pi 2^L)`` rays, rounded up to a multiple of 8, at
  equal angles, and the cell is evaluated on the level's ray whose angle is nearest its own. That ray passes within half a
  cell of the cell centre, and the choice depends only on the site and the cell, never on the
  tile or target asked for, so tiled runs stitch exactly as with the ray walks.
* **Samples.** Along each ray heights are sampled every ``step`` cells from the antenna, exactly
  as the ray walk does; a cell at distance ``D`` sees the samples ``k * step < D``.
* **What is kept per ray**, with ``s_k = (h_k - h_tx) / d_k`` the slope of sample ``k`` and
  ``q = (h_rx - h_tx) / D`` the slope of the direct ray to the cell (a sample blocks the ray when
  ``s_k > q``):
    - line of sight: the running maximum of ``s_k`` (the horizon);
    - building depth: the samples with ``s_k > q`` in a min-heap; ``q`` only grows along a ray
      when the antenna is above the receiver, so samples leave it for good (``O(log n)``);
    - knife-edge: ``nu_k = (s_k - q) * g(d_k)`` with ``g`` increasing in ``d_k`` (ITU-R P.526
      eq. 31 rewritten), so the largest positive ``nu`` lies on the staircase of samples not
      beaten by a later, steeper one (a monotone stack).
* **Agreement with the ray walks** (``tests/test_sweep.py`` measures it): line of sight and depth
  differ only where the nearest ray and the ray to the exact cell centre, at most half a cell
  apart, sample different cells (shadow edges); the knife-edge loss is exact wherever the worst
  obstacle blocks the ray (``nu > 0``) and an approximation (the staircase only) where every
  obstacle clears it (``nu <= 0``, 0 to 6 dB).

Antennas below the receiver (``q`` shrinking along the ray) fall back to the ray walks.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from radiomap_geo.raywalk import (
    DirectRays,
    RayResults,
    knife_edge_loss_db,
    ray_walks,
    wavelength_m,
)

#: Initial (and "nothing on the ray") Fresnel-Kirchhoff parameter, as in the ray walk.
_NO_NU = -10.0


@numba.njit(cache=True)
def _level_of(dist: float) -> int:
    if dist <= 1.0:
        return 0
    return int(math.ceil(math.log2(dist)))


@numba.njit(cache=True, inline="always")
def _n_rays(level: int) -> int:
    # A multiple of 8 with ray 0 due east: the fan maps onto itself under the quarter turns and
    # mirror images of the grid, so a rotated or mirrored map gets rotated or mirrored values
    # (the training data's augmentation relies on it).
    return 8 * int(math.ceil(2.0 * math.pi * (2.0**level) / 8.0))


@numba.njit(cache=True, inline="always")
def _boundary(index: int, n_rays: int) -> tuple[float, float]:
    """Unit vector (row, col) of the angle ``index * pi / n_rays`` (odd index: a ray boundary).

    Ray ``r`` spans the boundaries ``2r - 1`` and ``2r + 1`` (mod ``2 n_rays``); neighbours
    compute their shared boundary from the same index, so every cell belongs to exactly one ray.
    """
    angle = (index % (2 * n_rays)) * math.pi / n_rays
    return math.sin(angle), math.cos(angle)


@numba.njit(cache=True)
def _heap_push(heap: np.ndarray, size: int, value: float) -> int:
    i = size
    heap[i] = value
    while i > 0:
        parent = (i - 1) // 2
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return size + 1


@numba.njit(cache=True)
def _heap_pop(heap: np.ndarray, size: int) -> int:
    size -= 1
    heap[0] = heap[size]
    i = 0
    while True:
        left, right, low = 2 * i + 1, 2 * i + 2, i
        if left < size and heap[left] < heap[low]:
            low = left
        if right < size and heap[right] < heap[low]:
            low = right
        if low == i:
            return size
        heap[low], heap[i] = heap[i], heap[low]
        i = low


@numba.njit(cache=True)
def _ray_cells(
    level, ray, n_rays, tx_row, tx_col, t_row0, t_col0, t_h, t_w, d_max, cells_r, cells_c, cells_d
):
    """Target cells of this ray (level by distance, ray by angle), sorted by distance."""
    angle = ray * 2.0 * math.pi / n_rays
    u_row, u_col = math.sin(angle), math.cos(angle)
    lo_row, lo_col = _boundary(2 * ray - 1, n_rays)
    hi_row, hi_col = _boundary(2 * ray + 1, n_rays)
    outer = 4.0**level
    inner = 0.0 if level == 0 else 4.0 ** (level - 1)
    t_lo = 0.0 if level == 0 else max(2.0 ** (level - 1) - 2.0, 0.0)
    t_hi = min(2.0**level, d_max) + 1.5
    along_cols = abs(u_col) >= abs(u_row)
    major_u = u_col if along_cols else u_row
    major_0 = tx_col if along_cols else tx_row
    minor_u = u_row if along_cols else u_col
    minor_0 = tx_row if along_cols else tx_col
    direction = 1 if major_u > 0 else -1
    m = int(math.floor(major_0 + t_lo * major_u))
    n = 0
    while True:
        t = (m + 0.5 - major_0) / major_u
        if t > t_hi:
            break
        base = int(math.floor(minor_0 + t * minor_u))
        for minor in range(base - 1, base + 2):
            r, c = (minor, m) if along_cols else (m, minor)
            if r < t_row0 or r >= t_row0 + t_h or c < t_col0 or c >= t_col0 + t_w:
                continue
            d_row, d_col = r + 0.5 - tx_row, c + 0.5 - tx_col
            d2 = d_row * d_row + d_col * d_col
            if d2 > outer or (d2 <= inner and level > 0):
                continue
            if d2 == 0.0:
                if level != 0 or ray != 0:  # the antenna's own cell centre: ray 0 only
                    continue
            # Inside the ray's sector: at or after its lower boundary, before its upper one.
            elif lo_col * d_row - lo_row * d_col < 0.0 or hi_col * d_row - hi_row * d_col >= 0.0:
                continue
            cells_r[n], cells_c[n], cells_d[n] = r, c, math.sqrt(d2)
            n += 1
        m += direction
    # Nearly sorted already (cells come column by column): insertion sort is linear here.
    for i in range(1, n):
        r, c, d = cells_r[i], cells_c[i], cells_d[i]
        j = i - 1
        while j >= 0 and cells_d[j] > d:
            cells_r[j + 1], cells_c[j + 1], cells_d[j + 1] = cells_r[j], cells_c[j], cells_d[j]
            j -= 1
        cells_r[j + 1], cells_c[j + 1], cells_d[j + 1] = r, c, d
    return n


@numba.njit(cache=True)
def _blocked_beyond(heights, tx_row, tx_col, tx_h, rx_h, step, u_row, u_col, d_end):
    """Distance along the ray beyond which every cell up to ``d_end`` is blocked (R2's early exit).

    The direct-ray slope ``q(D) = (h_rx - h_tx) / D`` grows with ``D`` (antenna above the
    receiver), so once the horizon exceeds ``q(d_end)`` no farther cell up to ``d_end`` sees the
    antenna: the sweep stops there. Returns more than ``d_end`` when nothing blocks.
    """
    n_rows, n_cols = heights.shape
    q_end = (rx_h - tx_h) / d_end if d_end > 0.0 else -np.inf
    k = 1
    while k * step < d_end + 2.0:
        d_k = k * step
        r = min(max(int(math.floor(tx_row + d_k * u_row)), 0), n_rows - 1)
        c = min(max(int(math.floor(tx_col + d_k * u_col)), 0), n_cols - 1)
        h = heights[r, c]
        if h > 0.0 and (h - tx_h) / d_k > q_end:
            return d_k
        k += 1
    return d_end + 2.0


@numba.njit(parallel=True, cache=True)
def _sweep_kernel(
    heights, tx_row, tx_col, tx_h, rx_h, step, cell_m, wavelength_m, rays, target, full
):
    """Per target cell: blocking samples (count) and the largest ``nu`` (see the module notes).

    ``rays``: ``(n, 2)`` int64 (level, ray index) pairs to cast; ``target``: (row0, col0, h, w)
    in ``heights`` cells. Without ``full`` only line of sight is computed (count 0 or 1).
    """
    n_rows, n_cols = heights.shape
    t_row0, t_col0, t_h, t_w = target[0], target[1], target[2], target[3]
    # Line of sight alone: cells a ray never reaches (it stopped, see below) stay blocked.
    count = np.full((t_h, t_w), 0 if full else 1, np.int32)
    max_nu = np.full((t_h, t_w), _NO_NU, np.float32)
    d_max = 0.0
    for r in (t_row0, t_row0 + t_h):
        for c in (t_col0, t_col0 + t_w):
            d_max = max(d_max, math.sqrt((r - tx_row) ** 2 + (c - tx_col) ** 2))
    capacity = int(4 * (d_max + 4.0) + 16)
    n_samples_max = int(d_max / step) + 4
    lam_coef = 2.0 / (wavelength_m * cell_m)
    for job in numba.prange(rays.shape[0]):
        level, ray = rays[job, 0], rays[job, 1]
        n_rays = _n_rays(level)
        cells_r = np.empty(capacity, np.int64)
        cells_c = np.empty(capacity, np.int64)
        cells_d = np.empty(capacity, np.float64)
        angle = ray * 2.0 * math.pi / n_rays
        u_row, u_col = math.sin(angle), math.cos(angle)
        reach = d_max
        if not full:
            reach = _blocked_beyond(heights, tx_row, tx_col, tx_h, rx_h, step, u_row, u_col,
                                    min(2.0**level, d_max))  # fmt: skip
            if level > 0 and reach < 2.0 ** (level - 1) - 2.0:
                continue
        n = _ray_cells(
            level, ray, n_rays, tx_row, tx_col, t_row0, t_col0, t_h, t_w, reach,
            cells_r, cells_c, cells_d,
        )  # fmt: skip
        if n == 0:
            continue
        heap = np.empty(n_samples_max, np.float64)
        stack_s = np.empty(n_samples_max, np.float64)
        stack_d = np.empty(n_samples_max, np.float64)
        heap_n, stack_n = 0, 0
        horizon = -np.inf
        k = 1
        for i in range(n):
            dist = cells_d[i]
            q = (rx_h - tx_h) / dist if dist > 0.0 else np.inf
            while k * step < dist:
                d_k = k * step
                r = min(max(int(math.floor(tx_row + d_k * u_row)), 0), n_rows - 1)
                c = min(max(int(math.floor(tx_col + d_k * u_col)), 0), n_cols - 1)
                h = heights[r, c]
                if h > 0.0:
                    s = (h - tx_h) / d_k
                    if s > horizon:
                        horizon = s
                    if full:
                        if s > q:
                            heap_n = _heap_push(heap, heap_n, s)
                        while stack_n > 0 and stack_s[stack_n - 1] <= s:
                            stack_n -= 1
                        stack_s[stack_n], stack_d[stack_n] = s, d_k
                        stack_n += 1
                k += 1
            out_r, out_c = cells_r[i] - t_row0, cells_c[i] - t_col0
            if not full:
                count[out_r, out_c] = 1 if horizon > q else 0
                continue
            while heap_n > 0 and heap[0] <= q:
                heap_n = _heap_pop(heap, heap_n)
            count[out_r, out_c] = heap_n
            if stack_n == 0:
                continue
            best = _NO_NU
            top_s = stack_s[0]  # the steepest sample (bottom of the staircase)
            for j in range(stack_n - 1, -1, -1):
                d1 = stack_d[j]
                g = math.sqrt(lam_coef * dist * d1 / (dist - d1))
                if top_s > q and best > 0.0 and (top_s - q) * g <= best:
                    break  # every sample further down has a smaller g and at most top_s
                nu = (stack_s[j] - q) * g
                if nu > best:
                    best = nu
            max_nu[out_r, out_c] = best
    return count, max_nu


def _rays_for(tx_row: float, tx_col: float, target: tuple[int, int, int, int]) -> np.ndarray:
    """(level, ray) pairs that can hold a cell of ``target`` (angular span and distance)."""
    row0, col0, h, w = target
    rows = np.array([row0, row0 + h], np.float64) - tx_row
    cols = np.array([col0, col0 + w], np.float64) - tx_col
    inside = rows[0] <= 0 <= rows[1] and cols[0] <= 0 <= cols[1]
    near_r = 0.0 if rows[0] <= 0 <= rows[1] else min(abs(rows[0]), abs(rows[1]))
    near_c = 0.0 if cols[0] <= 0 <= cols[1] else min(abs(cols[0]), abs(cols[1]))
    d_min = max(math.hypot(near_r, near_c) - 1.0, 0.0)
    d_max = math.sqrt(max(r * r + c * c for r in rows for c in cols)) + 1.0
    jobs = []
    for level in range(_level_of(max(d_min, 1e-9)), _level_of(d_max) + 1):
        if 2.0**level < d_min:
            continue
        n = _n_rays(level)
        if inside:
            jobs.append(np.stack([np.full(n, level), np.arange(n)], axis=1))
            continue
        corners = np.arctan2(rows[[0, 0, 1, 1]], cols[[0, 1, 0, 1]])
        centre = math.atan2(rows.mean(), cols.mean())
        offsets = (corners - centre + np.pi) % (2 * np.pi) - np.pi
        width = 2 * np.pi / n
        lo = math.floor((centre + offsets.min()) / width) - 1
        hi = math.ceil((centre + offsets.max()) / width) + 1
        index = np.unique(np.arange(lo, hi + 1) % n)
        jobs.append(np.stack([np.full(index.size, level), index], axis=1))
    if not jobs:
        return np.zeros((0, 2), np.int64)
    # Long rays first: the parallel loop balances better.
    return np.ascontiguousarray(np.concatenate(jobs)[::-1], dtype=np.int64)


def sweep(rays: DirectRays, frequency_mhz: float = 3500.0, *, full: bool = True) -> RayResults:
    """``(visible, building_depth_m, knife_edge_db)`` on ``rays.target`` from one radial sweep.

    The meanings of :func:`radiomap_geo.los.line_of_sight` and
    :func:`radiomap_geo.los.obstruction`. Without ``full`` only ``visible`` is computed (the
    other two are returned as None). Antennas below the receiver are handed to the ray walks.
    """
    if rays.tx_height_m <= rays.rx_height_m:
        return ray_walks(rays, frequency_mhz, full=full)
    tx_row, tx_col = rays.tx_cell
    window = rays.window
    count, max_nu = _sweep_kernel(
        rays.heights,
        tx_row,
        tx_col,
        float(rays.tx_height_m),
        float(rays.rx_height_m),
        float(rays.step),
        float(rays.height_grid.resolution),
        wavelength_m(frequency_mhz),
        _rays_for(tx_row, tx_col, window),
        np.asarray(window, np.int64),
        bool(full),
    )
    visible = (count == 0) & rays.outdoor()
    if not full:
        return visible, None, None
    depth = (count * (rays.step * rays.height_grid.resolution)).astype(np.float32)
    return visible, depth, knife_edge_loss_db(max_nu)
