"""Seeded procedural cities: street grids, blocks, courtyards, squares and towers.

A city is drawn from a :class:`CityStyle` (itself drawn from the seed unless given): a street
lattice of varying block sizes and street widths, optionally rotated against north, whose blocks
are filled with one of

============  ===================================================================================
block kind    buildings
============  ===================================================================================
``square``    nothing (an open square or park), sometimes one small kiosk
``perimeter`` a perimeter block around a courtyard: one polygon with a hole, or the ring cut into
              2-4 buildings of different heights
``solid``     the whole block (minus a set-back) as one building
``rows``      a row of narrow terraced buildings along each long side
``detached``  a lattice of lots, each with a detached rectangular or L-shaped building
``tower``     one tall slab or tower on a podium-free plot
============  ===================================================================================

Heights are drawn per building: ``storeys ~ round(LogNormal(log(median), sigma))`` clipped to
1-40, times a storey height of 2.8-3.6 m, plus 0-1.5 m of parapet, rounded to 0.1 m. Towers get
2-5 times the city's median storeys. The city lies in a real UTM CRS (:data:`PROCEDURAL_CRS`) at a
nominal location, so everything downstream is georeferenced like real data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon, box

#: CRS of procedural cities: WGS 84 / UTM zone 32N (nominal location only).
PROCEDURAL_CRS = "EPSG:32632"
#: Nominal south-west corner (easting, northing) of procedural city number 0.
PROCEDURAL_ORIGIN = (300_000.0, 5_000_000.0)
#: Spacing (m) of the nominal locations of successive procedural cities.
PROCEDURAL_SPACING_M = 2_000.0
#: Cities per row of the nominal lattice (then the next row, northwards).
PROCEDURAL_PER_ROW = 200
#: Building parts smaller than this after clipping are dropped (m^2).
MIN_PART_M2 = 4.0

BLOCK_KINDS = ("square", "perimeter", "solid", "rows", "detached", "tower")


@dataclass(frozen=True)
class CityStyle:
    """Parameters of one procedural city (all lengths in metres)."""

    block_min_m: float
    block_max_m: float
    street_min_m: float
    street_max_m: float
    rotation_deg: float
    storeys_median: float
    storeys_sigma: float
    weights: tuple[float, ...]  # probability of each of BLOCK_KINDS

    @classmethod
    def random(cls, rng: np.random.Generator) -> CityStyle:
        """A style drawn from broad ranges: from villages of villas to dense old towns."""
        block_min = float(rng.uniform(25.0, 70.0))
        block_max = float(block_min + rng.uniform(20.0, 90.0))
        street_min = float(rng.uniform(6.0, 14.0))
        street_max = float(street_min + rng.uniform(4.0, 22.0))
        rotation = 0.0 if rng.random() < 0.35 else float(rng.uniform(-45.0, 45.0))
        median = float(np.exp(rng.uniform(np.log(1.5), np.log(9.0))))
        sigma = float(rng.uniform(0.15, 0.55))
        raw = rng.dirichlet(np.array([0.6, 2.0, 1.2, 1.2, 1.6, 0.5]))
        raw[0] = min(raw[0], 0.25)  # at most a quarter of the blocks empty
        weights = tuple(float(w) for w in raw / raw.sum())
        return cls(block_min, block_max, street_min, street_max, rotation, median, sigma, weights)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for the manifest)."""
        out = asdict(self)
        out["weights"] = dict(zip(BLOCK_KINDS, (round(w, 4) for w in self.weights)))
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


def nominal_origin(index: int) -> tuple[float, float]:
    """South-west corner of procedural city ``index`` on the nominal lattice (UTM 32N)."""
    row, col = divmod(int(index) % (PROCEDURAL_PER_ROW * 500), PROCEDURAL_PER_ROW)
    return (
        PROCEDURAL_ORIGIN[0] + col * PROCEDURAL_SPACING_M,
        PROCEDURAL_ORIGIN[1] + row * PROCEDURAL_SPACING_M,
    )


def _height(rng: np.random.Generator, style: CityStyle, factor: float = 1.0) -> float:
    storeys = round(
        float(rng.lognormal(math.log(style.storeys_median * factor), style.storeys_sigma))
    )
    storeys = min(max(storeys, 1), 40)
    height = storeys * rng.uniform(2.8, 3.6) + rng.uniform(0.0, 1.5)
    return round(float(height), 1)


def _lattice(rng: np.random.Generator, lo: float, hi: float, style: CityStyle) -> list[tuple]:
    """Intervals (start, end) of blocks along one axis, separated by streets, covering lo..hi."""
    out = []
    pos = lo - rng.uniform(0.0, style.block_max_m)  # random phase of the lattice
    while pos < hi:
        size = rng.uniform(style.block_min_m, style.block_max_m)
        out.append((pos, pos + size))
        pos += size + rng.uniform(style.street_min_m, style.street_max_m)
    return out


def _perimeter(rng, x0, y0, x1, y1, style) -> list[tuple[Polygon, float, str]]:
    w, h = x1 - x0, y1 - y0
    depth = rng.uniform(9.0, 16.0)
    outer = box(x0, y0, x1, y1)
    if min(w, h) < 2 * depth + 8.0:
        return [(outer, _height(rng, style), "solid")]
    inner = box(x0 + depth, y0 + depth, x1 - depth, y1 - depth)
    ring = outer.difference(inner)
    if rng.random() < 0.55:
        return [(ring, _height(rng, style), "courtyard")]
    # Cut the ring into pieces with vertical/horizontal cuts through the courtyard corners.
    pieces = []
    n_cuts = int(rng.integers(1, 4))
    cuts_x = sorted(rng.uniform(x0 + depth, x1 - depth, size=n_cuts))
    xs = [x0, *cuts_x, x1]
    for a, b in zip(xs[:-1], xs[1:]):
        part = ring.intersection(box(a, y0, b, y1))
        for poly in _parts(part):
            pieces.append((poly, _height(rng, style), "perimeter"))
    return pieces


def _rows(rng, x0, y0, x1, y1, style) -> list[tuple[Polygon, float, str]]:
    w, h = x1 - x0, y1 - y0
    along_x = w >= h
    length = w if along_x else h
    across = h if along_x else w
    depth = min(rng.uniform(8.0, 14.0), across / 2.0 - 1.0)
    if depth < 5.0:
        return [(box(x0, y0, x1, y1), _height(rng, style), "solid")]
    out = []
    for side in (0, 1):
        pos = 0.0
        while pos < length - 4.0:
            width = min(rng.uniform(6.0, 18.0), length - pos)
            a, b = pos, pos + width
            if along_x:
                ys = (y0, y0 + depth) if side == 0 else (y1 - depth, y1)
                poly = box(x0 + a, ys[0], x0 + b, ys[1])
            else:
                xs = (x0, x0 + depth) if side == 0 else (x1 - depth, x1)
                poly = box(xs[0], y0 + a, xs[1], y0 + b)
            if rng.random() > 0.08:  # a few gaps between houses
                out.append((poly, _height(rng, style), "row"))
            pos = b
    return out


def _detached(rng, x0, y0, x1, y1, style) -> list[tuple[Polygon, float, str]]:
    out = []
    lot = rng.uniform(16.0, 32.0)
    nx, ny = max(1, int((x1 - x0) // lot)), max(1, int((y1 - y0) // lot))
    lw, lh = (x1 - x0) / nx, (y1 - y0) / ny
    for i in range(nx):
        for j in range(ny):
            if rng.random() < 0.1:
                continue  # an empty lot
            setback = rng.uniform(2.0, 5.0)
            bw = rng.uniform(0.4, 0.9) * (lw - 2 * setback)
            bh = rng.uniform(0.4, 0.9) * (lh - 2 * setback)
            if bw < 5.0 or bh < 5.0:
                continue
            cx = x0 + i * lw + rng.uniform(setback, lw - setback - bw)
            cy = y0 + j * lh + rng.uniform(setback, lh - setback - bh)
            poly = box(cx, cy, cx + bw, cy + bh)
            if rng.random() < 0.3:  # L-shaped: add a wing
                wing = box(cx, cy, cx + bw * rng.uniform(0.3, 0.6), cy + bh * rng.uniform(1.2, 1.5))
                wing = wing.intersection(
                    box(x0 + i * lw, y0 + j * lh, x0 + (i + 1) * lw, y0 + (j + 1) * lh)
                )
                poly = shapely.union(poly, wing)
            out.append((poly, _height(rng, style, 0.6), "detached"))
    return out


def _block(rng, kind, x0, y0, x1, y1, style) -> list[tuple[Polygon, float, str]]:
    if kind == "square":
        if rng.random() < 0.25:
            cx, cy = rng.uniform(x0, x1 - 6.0), rng.uniform(y0, y1 - 6.0)
            return [
                (box(cx, cy, cx + 6.0, cy + 6.0), round(float(rng.uniform(3.0, 5.0)), 1), "kiosk")
            ]
        return []
    setback = rng.uniform(0.0, 3.0)
    x0, y0, x1, y1 = x0 + setback, y0 + setback, x1 - setback, y1 - setback
    if x1 - x0 < 6.0 or y1 - y0 < 6.0:
        return []
    if kind == "perimeter":
        return _perimeter(rng, x0, y0, x1, y1, style)
    if kind == "rows":
        return _rows(rng, x0, y0, x1, y1, style)
    if kind == "detached":
        return _detached(rng, x0, y0, x1, y1, style)
    if kind == "tower":
        w, h = x1 - x0, y1 - y0
        tw, th = min(w, rng.uniform(15.0, 40.0)), min(h, rng.uniform(15.0, 40.0))
        # max(..., 0): when the tower fills the block, round-off must not invert the range.
        cx, cy = x0 + rng.uniform(0.0, max(w - tw, 0.0)), y0 + rng.uniform(0.0, max(h - th, 0.0))
        return [
            (box(cx, cy, cx + tw, cy + th), _height(rng, style, rng.uniform(2.0, 5.0)), "tower")
        ]
    return [(box(x0, y0, x1, y1), _height(rng, style), "solid")]


def _parts(geom: Any) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    return [p for g in getattr(geom, "geoms", []) for p in _parts(g)]


def procedural_city(
    seed: int,
    bounds: tuple[float, float, float, float] | None = None,
    *,
    crs: str = PROCEDURAL_CRS,
    style: CityStyle | None = None,
) -> Any:
    """A seeded procedural city clipped to ``bounds``, as a GeoDataFrame with ``height_m``.

    Args:
        seed: Seed of the city (its style too, unless ``style`` is given); the same seed gives
            the same city.
        bounds: ``(minx, miny, maxx, maxy)`` in ``crs``; default: a 256 m square at
            :func:`nominal_origin` of ``seed``.
        crs: A metric CRS the bounds are in.
        style: Fixed city parameters instead of drawing them from the seed.

    Returns:
        A GeoDataFrame of Polygons (courtyard blocks have holes) with float ``height_m`` (metres
        above ground, > 0), text ``kind`` and ``height_source`` = ``"procedural"``; its ``attrs``
        hold ``seed`` and ``style``.
    """
    import geopandas as gpd

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    style = CityStyle.random(rng) if style is None else style
    if bounds is None:
        x0, y0 = nominal_origin(seed)
        bounds = (x0, y0, x0 + 256.0, y0 + 256.0)
    minx, miny, maxx, maxy = bounds
    cx, cy = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    # Lay the lattice out in a frame rotated with the streets, covering the box's circumcircle.
    reach = math.hypot(maxx - minx, maxy - miny) / 2.0 + 1.0
    kinds = np.array(BLOCK_KINDS)
    polys, heights, labels = [], [], []
    for ya, yb in _lattice(rng, -reach, reach, style):
        for xa, xb in _lattice(rng, -reach, reach, style):
            kind = str(rng.choice(kinds, p=np.asarray(style.weights)))
            for poly, height, label in _block(rng, kind, xa, ya, xb, yb, style):
                polys.append(poly)
                heights.append(height)
                labels.append(label)
    frame = gpd.GeoDataFrame(
        {"height_m": np.asarray(heights, dtype=np.float64), "kind": labels},
        geometry=list(polys) if polys else [],
        crs=crs,
    )
    if len(frame):
        angle = math.radians(style.rotation_deg)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        placed = shapely.transform(frame.geometry.to_numpy(), lambda xy: xy @ rot.T + (cx, cy))
        clipped = shapely.intersection(placed, box(*bounds))
        keep_geoms, keep_rows = [], []
        for i, geom in enumerate(clipped):
            for part in _parts(geom):
                if part.area >= MIN_PART_M2:
                    keep_geoms.append(shapely.set_precision(part, 0.01))
                    keep_rows.append(i)
        frame = gpd.GeoDataFrame(
            frame.drop(columns="geometry").iloc[keep_rows].reset_index(drop=True),
            geometry=keep_geoms,
            crs=crs,
        )
    frame["height_source"] = "procedural"
    frame.attrs["seed"] = int(seed)
    frame.attrs["style"] = style.to_dict()
    return frame
