"""Invented but plausible land cover for a tile: which cells are roof, street, sidewalk,
grass, tree, water or bare ground (the ground truth the orthophoto renderer paints).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from radiomap_geo.grid import Grid

#: Land-cover codes of :func:`landcover_map`.
OPEN, ROOF, STREET, SIDEWALK, GRASS, TREE, WATER, SOIL = range(8)
LANDCOVER_NAMES = ("paved", "roof", "street", "sidewalk", "grass", "tree", "water", "soil")


def random_streams(seed: int | np.random.SeedSequence, n: int) -> list[np.random.Generator]:
    """``n`` independent generators from one seed (a separate stream per rendering step)."""
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(s) for s in seq.spawn(n)]


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """A smooth random field with zero mean and unit standard deviation."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    std = noise.std()
    return (noise - noise.mean()) / (std if std > 0 else 1.0)


def building_labels(building_height_m: np.ndarray) -> np.ndarray:
    """Building identity per cell: connected cells of equal height (0.05 m) share a label.

    Rasterised footprints of different heights that touch are told apart by their heights; touching
    buildings of the same height become one.
    """
    heights = np.round(np.asarray(building_height_m, np.float64) / 0.05).astype(np.int64)
    labels = np.zeros(heights.shape, np.int32)
    offset = 0
    for value in np.unique(heights[heights > 0]):
        part, n = ndimage.label(heights == value)
        labels[part > 0] = part[part > 0] + offset
        offset += n
    return labels


def _disc_mask(
    shape: tuple[int, int], centres: np.ndarray, radii: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Union of slightly irregular discs (radii in cells)."""
    mask = np.zeros(shape, bool)
    for (r0, c0), rad in zip(centres, radii):
        reach = int(np.ceil(rad * 1.25)) + 1
        r_lo, r_hi = max(int(r0) - reach, 0), min(int(r0) + reach + 1, shape[0])
        c_lo, c_hi = max(int(c0) - reach, 0), min(int(c0) + reach + 1, shape[1])
        if r_lo >= r_hi or c_lo >= c_hi:
            continue
        rr, cc = np.mgrid[r_lo:r_hi, c_lo:c_hi]
        angle = np.arctan2(rr - r0, cc - c0)
        wobble = 1.0 + 0.15 * np.sin(3 * angle + rng.uniform(0, 6.3))
        mask[r_lo:r_hi, c_lo:c_hi] |= np.hypot(rr - r0, cc - c0) <= rad * wobble
    return mask


def landcover_map(
    building_height_m: np.ndarray,
    grid: Grid,
    rng: np.random.Generator,
    *,
    tree_mask: np.ndarray | None = None,
) -> np.ndarray:
    """An invented, plausible land cover for a tile (uint8 codes, :data:`LANDCOVER_NAMES`).

    Streets follow the medial lines between building blocks (Voronoi edges of the blocks) where
    the gap is wide enough for a road and its sidewalks, or cross tiles with too few buildings;
    sidewalks line them; other open ground is grass, paved or bare soil by a smooth random field;
    tree crowns stand on grass and along streets (or where ``tree_mask`` says); one tile in eight
    or so has water reaching in from one edge up to the first buildings (10 m of bank).

    Args:
        building_height_m: ``(rows, cols)`` metres (0 = open ground).
        grid: the tile's grid (cell size).
        rng: random generator.
        tree_mask: tree canopy to use instead of drawing trees.

    Returns:
        ``(rows, cols)`` uint8.
    """
    res = grid.resolution
    building = np.asarray(building_height_m) > 0
    shape = building.shape
    cover = np.full(shape, OPEN, np.uint8)
    cover[building] = ROOF
    open_ = ~building
    if not open_.any():
        return cover

    road_half = rng.uniform(2.5, 5.5)  # metres
    sidewalk = rng.uniform(1.5, 3.5)
    d_build = (
        ndimage.distance_transform_edt(open_, sampling=res)
        if building.any()
        else np.full(shape, 1e3)
    )
    blocks, n_blocks = ndimage.label(building, structure=np.ones((3, 3)))
    street_axis = np.zeros(shape, bool)
    if n_blocks >= 2:
        _, (ri, ci) = ndimage.distance_transform_edt(open_, return_indices=True)
        nearest = blocks[ri, ci]
        edge = np.zeros(shape, bool)
        edge[:, :-1] |= nearest[:, :-1] != nearest[:, 1:]
        edge[:-1, :] |= nearest[:-1, :] != nearest[1:, :]
        street_axis = edge & (d_build >= road_half + 0.5 * sidewalk)
    if street_axis.sum() * res < 0.5 * max(shape) * res:
        # Few blocks: one or two straight roads across the tile, around the buildings.
        rows, cols = np.indices(shape)
        for _ in range(int(rng.integers(1, 3))):
            angle = rng.uniform(0, np.pi)
            r0, c0 = rng.uniform(0.2, 0.8) * shape[0], rng.uniform(0.2, 0.8) * shape[1]
            dist = np.abs((rows - r0) * np.cos(angle) - (cols - c0) * np.sin(angle)) * res
            street_axis |= (dist < 0.75 * res) & (d_build >= road_half + sidewalk)
    if street_axis.any():
        d_axis = ndimage.distance_transform_edt(~street_axis, sampling=res)
    else:
        d_axis = np.full(shape, 1e3)
    street = open_ & (d_axis <= road_half) & (d_build >= 0.5 * sidewalk)
    side = open_ & ~street & (d_axis <= road_half + sidewalk)
    cover[street] = STREET
    cover[side] = SIDEWALK

    # Yards, parks, plazas: grass / paved / soil from a smooth field; paths hug the buildings.
    rest = open_ & ~street & ~side
    greenness = rng.uniform(0.25, 0.85)
    field = smooth_field(rng, shape, sigma=rng.uniform(3.0, 8.0))
    threshold = np.quantile(field, 1.0 - greenness)
    cover[rest & (field >= threshold)] = GRASS
    soil = rest & (field < threshold) & (smooth_field(rng, shape, 4.0) > 1.3)
    cover[soil] = SOIL
    if rng.random() < 0.6:
        cover[rest & (d_build <= rng.uniform(1.0, 2.5))] = SIDEWALK

    # Water along one edge, away from the buildings.
    if rng.random() < 0.12:
        rows, cols = np.indices(shape)
        side_ = int(rng.integers(4))
        depth = (rows, shape[0] - 1 - rows, cols, shape[1] - 1 - cols)[side_].astype(float) * res
        shore = rng.uniform(0.15, 0.45) * max(shape) * res + 6.0 * smooth_field(rng, shape, 6.0)
        # Water stops at the first building met walking in from the edge (plus 10 m of bank).
        near = d_build < 10.0
        axis, flip = ((0, False), (0, True), (1, False), (1, True))[side_]
        seen = np.flip(near, axis) if flip else near
        seen = np.logical_or.accumulate(seen, axis=axis)
        seen = np.flip(seen, axis) if flip else seen
        water = open_ & (depth < shore) & ~seen
        parts, _ = ndimage.label(water)
        edge_cells = (parts[0], parts[-1], parts[:, 0], parts[:, -1])[side_]
        touching = np.unique(edge_cells[edge_cells > 0])
        cover[np.isin(parts, touching)] = WATER  # only water reaching the chosen edge

    # Trees.
    if tree_mask is not None:
        trees = np.asarray(tree_mask, bool) & open_
    else:
        cells = shape[0] * shape[1]
        density = rng.uniform(0.002, 0.02) * (res / 2.0) ** 2  # crowns per cell
        grass_cells = np.flatnonzero(cover == GRASS)
        n_park = int(rng.poisson(density * cells * 1.5 * greenness))
        centres = []
        if grass_cells.size and n_park:
            picks = rng.choice(grass_cells, size=min(n_park, grass_cells.size), replace=False)
            centres += [divmod(int(p), shape[1]) for p in picks]
        kerb = np.flatnonzero((cover == SIDEWALK) & (d_axis > road_half))
        if kerb.size and rng.random() < 0.5:
            n_street = int(rng.poisson(density * cells * 0.8))
            picks = rng.choice(kerb, size=min(n_street, kerb.size), replace=False)
            centres += [divmod(int(p), shape[1]) for p in picks]
        if centres:
            centres_arr = np.array(centres, float) + rng.uniform(-0.3, 0.3, (len(centres), 2))
            radii = rng.uniform(1.5, 5.0, len(centres)) / res
            trees = _disc_mask(shape, centres_arr, radii, rng) & open_ & (cover != WATER)
        else:
            trees = np.zeros(shape, bool)
    cover[trees] = TREE
    return cover
