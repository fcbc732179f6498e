"""Orthophoto-like renderings of dataset tiles, for training image-driven networks.

**These are renderings, not real imagery.** The ray-traced tiles carry building heights only, and
real aerial images co-registered with our radio maps are scarce, so an image-driven network (paper
002 of ``../shared/papers``: RGB + near-infrared aerial image, optionally with an unclassified
nDSM) is trained on images *drawn* from each tile's height raster:

* a land-cover map invented from the building layout (:func:`landcover_map`): streets along the
  medial lines between building blocks where the gap is wide enough, sidewalks beside them, grass,
  paved yards and bare soil from a smooth random field, tree crowns on grass and along streets,
  sometimes a water body along one edge;
* colours per class (:data:`PALETTE`, values in the gamma-encoded 0..1 range of orthophoto files,
  set against SWISSIMAGE statistics of urban Zurich, ``zurich/big_img_1091-322_00.tif``), one roof
  colour per building (terracotta, brown, grey, light membrane, dark slate, metal, green roof),
  pitched roofs lit on the sun-facing slope, flat roofs with parapets and roof-top units, cars on
  streets, textures from random fields;
* cast shadows of buildings *and* trees from a random sun (:func:`cast_shadows`, a ray march over
  the surface heights), darker in red and near infrared than in blue (sky light);
* sensor/processing effects: blur, noise, exposure, per-band gain, gamma, haze.

Near infrared (band 4): vegetation bright (0.55-0.8), roofs, asphalt, shadows and water dark.
Trees stand in the nDSM the rendering returns (:func:`render_ndsm`), buildings + tree crowns,
like the unclassified nDSM of paper 002. The ray-traced labels know nothing of trees (Sionna saw
buildings on bare ground), so a network learns that trees do not block, which is what the labels
say, not what real foliage does.

:func:`augment_ortho` adds random photometric changes on top (brightness, contrast, gamma, colour
balance, saturation, haze, blur, noise, JPEG-like blocks, 8-bit steps), to narrow the gap to real
images from other cameras and flights. The renderings stay far simpler than real images (no
facades or relief displacement, no road markings, simple tree crowns, no seasonal change); compare
them with real images with :func:`ortho_stats` (see ``tests/dataset/test_dataset_ortho.py``).

Everything is deterministic given the seed; the building raster fixes the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from radiomap_geo.dataset.landcover import (
    GRASS,
    OPEN,
    SIDEWALK,
    SOIL,
    STREET,
    TREE,
    WATER,
    building_labels,
    landcover_map,
    random_streams,
    smooth_field,
)
from radiomap_geo.grid import Grid

if TYPE_CHECKING:
    from radiomap_geo.models.base import SceneInputs


#: Base colours (R, G, B, NIR), gamma-encoded 0..1, before per-tile jitter.
PALETTE = {
    OPEN: (0.56, 0.56, 0.52, 0.42),
    STREET: (0.50, 0.51, 0.50, 0.32),
    SIDEWALK: (0.63, 0.62, 0.58, 0.44),
    GRASS: (0.42, 0.52, 0.33, 0.72),
    TREE: (0.28, 0.35, 0.25, 0.68),
    WATER: (0.14, 0.26, 0.27, 0.06),
    SOIL: (0.52, 0.47, 0.39, 0.46),
}

#: Roof materials: (R, G, B, NIR), weight, share that is pitched.
ROOFS = (
    ((0.58, 0.36, 0.29, 0.45), 0.26, 0.9),  # terracotta tiles
    ((0.44, 0.34, 0.30, 0.36), 0.18, 0.85),  # brown tiles
    ((0.60, 0.60, 0.57, 0.44), 0.20, 0.15),  # grey concrete / gravel
    ((0.77, 0.77, 0.75, 0.58), 0.12, 0.05),  # light membrane
    ((0.32, 0.33, 0.35, 0.24), 0.12, 0.5),  # dark slate / bitumen
    ((0.52, 0.55, 0.58, 0.40), 0.07, 0.4),  # metal
    ((0.44, 0.50, 0.36, 0.62), 0.05, 0.0),  # green roof
)

#: Shadowed cells keep this share of their brightness per band (sky light is blue).
SHADOW_KEEP = (0.38, 0.42, 0.46, 0.32)

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class OrthoRendering:
    """One rendered tile.

    ``image`` is ``(bands, rows, cols)`` float32 in 0..1 (R, G, B[, NIR]); ``ndsm`` metres above
    ground (buildings and tree crowns); ``landcover`` uint8 codes (:data:`LANDCOVER_NAMES`);
    ``shadow`` 0..1 (1 = full cast shadow); the sun that cast it.
    """

    image: np.ndarray
    ndsm: np.ndarray
    landcover: np.ndarray
    shadow: np.ndarray
    sun_azimuth_deg: float
    sun_elevation_deg: float


def cast_shadows(
    surface_m: np.ndarray,
    resolution_m: float,
    sun_azimuth_deg: float,
    sun_elevation_deg: float,
    *,
    step_cells: float = 0.7,
) -> np.ndarray:
    """Cells in the cast shadow of a height raster (bool), by marching towards the sun.

    A cell is shadowed when, walking from it towards the sun, some surface rises above the sun
    ray through the cell's own surface. Shadows therefore fall on the side of tall objects away
    from the sun (the anti-solar azimuth). Outside the raster the surface is taken as 0.

    Args:
        surface_m: ``(rows, cols)`` heights above ground (nDSM or building heights), metres.
        resolution_m: cell size.
        sun_azimuth_deg: sun direction, degrees clockwise from north.
        sun_elevation_deg: sun elevation above the horizon, degrees (> 0).
        step_cells: march step in cells.

    Returns:
        ``(rows, cols)`` bool.
    """
    surface = np.asarray(surface_m, np.float32)
    top = float(surface.max()) if surface.size else 0.0
    shadow = np.zeros(surface.shape, bool)
    if top <= 0 or sun_elevation_deg >= 90:
        return shadow
    tan_el = np.tan(np.radians(max(sun_elevation_deg, 1.0)))
    az = np.radians(sun_azimuth_deg)
    d_row, d_col = -np.cos(az), np.sin(az)  # rows run southwards, columns eastwards
    rows, cols = np.indices(surface.shape, dtype=np.float32)
    steps = int(np.ceil(top / (tan_el * resolution_m) / step_cells)) + 1
    for k in range(1, steps + 1):
        s = k * step_cells
        sample = ndimage.map_coordinates(
            surface, (rows + s * d_row, cols + s * d_col), order=0, mode="constant", cval=0.0
        )
        shadow |= sample - s * resolution_m * tan_el > surface + 0.1
    return shadow


def render_ndsm(
    building_height_m: np.ndarray,
    vegetation_mask: np.ndarray,
    rng: np.random.Generator,
    *,
    resolution_m: float = 2.0,
    tree_height_m: tuple[float, float] = (5.0, 20.0),
) -> np.ndarray:
    """An nDSM of buildings and tree crowns: ``max(building height, crown height)``.

    Each connected patch of ``vegetation_mask`` (tree canopy; grass is not in an nDSM) gets one
    height from ``tree_height_m``, shaped as a dome: its edge cells at about 55 % of the top.

    Args:
        building_height_m: ``(rows, cols)`` metres.
        vegetation_mask: ``(rows, cols)`` bool, tree canopy.
        rng: random generator (tree heights).
        resolution_m: cell size, for the crown shapes.
        tree_height_m: range of tree heights.

    Returns:
        ``(rows, cols)`` float32 metres.
    """
    heights = np.asarray(building_height_m, np.float32)
    canopy = np.asarray(vegetation_mask, bool) & (heights <= 0)
    labels, n = ndimage.label(canopy)
    if n == 0:
        return heights.copy()
    lo, hi = tree_height_m
    top = rng.uniform(lo, hi, n + 1).astype(np.float32)
    inner = ndimage.distance_transform_edt(canopy, sampling=resolution_m).astype(np.float32)
    radius = ndimage.maximum(inner, labels, np.arange(n + 1)).astype(np.float32)
    radius[0] = 1.0
    shape = 0.55 + 0.45 * np.sqrt(np.clip(inner / np.maximum(radius[labels], 1e-3), 0.0, 1.0))
    crowns = np.where(canopy, top[labels] * shape, 0.0).astype(np.float32)
    return np.maximum(heights, crowns)


def _jitter(rng: np.random.Generator, colour: tuple[float, ...], amount: float) -> np.ndarray:
    """A colour varied in brightness, warmth (red against blue) and a little green, not in
    arbitrary per-band directions (which paints grey surfaces magenta).
    """
    base = np.asarray(colour, np.float32)
    warm = rng.normal(0.0, 0.2 * amount)
    tint = np.array([warm, rng.normal(0.0, 0.1 * amount), -warm, rng.normal(0.0, 0.3 * amount)])
    out = base * np.float32(rng.normal(1.0, amount)) + tint[: base.size] * base.mean()
    return np.clip(out, 0.02, 0.98).astype(np.float32)


def _paint_roofs(
    image: np.ndarray,
    building_height_m: np.ndarray,
    labels: np.ndarray,
    sun_azimuth_deg: float,
    sun_elevation_deg: float,
    rng: np.random.Generator,
) -> None:
    """Roof colours per building, sun-lit slopes of pitched roofs, parapets and roof-top units."""
    n = int(labels.max())
    if n == 0:
        return
    index = np.arange(1, n + 1)
    weights = np.array([w for _, w, _ in ROOFS])
    kinds = rng.choice(len(ROOFS), size=n + 1, p=weights / weights.sum())
    counts = ndimage.sum_labels(np.ones(labels.shape), labels, index)
    mean_height = ndimage.mean(building_height_m, labels, index)
    sun = np.array([np.sin(np.radians(sun_azimuth_deg)), np.cos(np.radians(sun_azimuth_deg))])
    slope_gain = 0.12 + 0.25 * np.cos(np.radians(sun_elevation_deg))
    edges = labels != ndimage.grey_erosion(labels, size=3)
    texture = (
        1.0 + 0.05 * smooth_field(rng, labels.shape, 1.0) + 0.04 * rng.standard_normal(labels.shape)
    )
    slices = ndimage.find_objects(labels)
    for label, sl in zip(index, slices):
        if sl is None:
            continue
        cells = labels[sl] == label
        kind = int(kinds[label])
        colour, _, pitched_share = ROOFS[kind]
        big = counts[label - 1] > 150 or mean_height[label - 1] > 18
        pitched = rng.random() < (pitched_share * (0.3 if big else 1.0))
        col = _jitter(rng, colour, 0.08)
        bands = col.size
        shade = np.ones(cells.shape, np.float32)
        if pitched and cells.sum() >= 4:
            rr, cc = np.nonzero(cells)
            y, x = -(rr - rr.mean()), cc - cc.mean()
            cov = np.cov(np.stack([x, y])) if rr.size > 2 else np.eye(2)
            _, vecs = np.linalg.eigh(cov)
            across = vecs[:, 0]  # normal to the ridge (short axis)
            grid_r, grid_c = np.indices(cells.shape)
            side = np.sign((grid_c - cc.mean()) * across[0] - (grid_r - rr.mean()) * across[1])
            facing = float(across @ sun)
            shade = 1.0 + slope_gain * facing * side
        else:
            units = cells & (rng.random(cells.shape) < 0.025)
            shade = np.where(units, rng.uniform(0.7, 1.3), shade)
            shade = np.where(edges[sl] & cells, shade * 1.08, shade)
        block = image[:bands, sl[0], sl[1]]
        paint = col[:, None, None] * (shade * texture[sl])[None]
        block[:, cells] = paint[:, cells]


def render_tile(
    building_height_m: np.ndarray,
    grid: Grid,
    seed: int | np.random.SeedSequence,
    *,
    ndsm: np.ndarray | None = None,
    bands: int = 4,
    labels: np.ndarray | None = None,
    sun_azimuth_deg: float | None = None,
    sun_elevation_deg: float | None = None,
) -> OrthoRendering:
    """Render a tile's orthophoto-like image, its land cover and its nDSM (see module notes).

    Args:
        building_height_m: ``(rows, cols)`` building heights above ground, metres (0 = open).
        grid: the tile's grid (cell size sets shadow lengths and crown sizes).
        seed: the rendering seed; the same seed and heights give the same result.
        ndsm: a given nDSM: tree canopy is where it stands > 2 m above the buildings, and shadows
            are cast from it; by default trees are drawn and the nDSM rendered.
        bands: 3 (RGB) or 4 (RGB + near infrared).
        labels: building identity per cell (0 = none); default :func:`building_labels`.
        sun_azimuth_deg: sun azimuth, clockwise from north (default: drawn, 0-360).
        sun_elevation_deg: sun elevation (default: drawn, 30-65).

    Returns:
        An :class:`OrthoRendering`.
    """
    if bands not in (3, 4):
        raise ValueError(f"bands must be 3 or 4, got {bands}")
    heights = np.asarray(building_height_m, np.float32)
    if heights.shape != grid.shape:
        raise ValueError(f"heights {heights.shape} do not match the grid {grid.shape}")
    r_cover, r_ndsm, r_sun, r_roof, r_paint, r_noise = random_streams(seed, 6)
    az = float(r_sun.uniform(0.0, 360.0)) if sun_azimuth_deg is None else float(sun_azimuth_deg)
    el = float(r_sun.uniform(30.0, 65.0)) if sun_elevation_deg is None else float(sun_elevation_deg)
    res = grid.resolution

    given_trees = None
    if ndsm is not None:
        ndsm = np.asarray(ndsm, np.float32)
        given_trees = (ndsm - heights > 2.0) & (heights <= 0)
    cover = landcover_map(heights, grid, r_cover, tree_mask=given_trees)
    trees = cover == TREE
    if ndsm is None:
        ndsm = render_ndsm(heights, trees, r_ndsm, resolution_m=res)
    shadow = cast_shadows(ndsm, res, az, el).astype(np.float32)
    shadow = np.clip(ndimage.gaussian_filter(shadow, 0.5) * 1.15, 0.0, 1.0)

    # Ground classes: per-tile colours, textures.
    image = np.zeros((4, *heights.shape), np.float32)
    grain = smooth_field(r_paint, heights.shape, 0.7)
    mottle = smooth_field(r_paint, heights.shape, 3.0)
    white = r_paint.standard_normal(heights.shape).astype(np.float32)
    texture_amount = {
        OPEN: 0.07,
        STREET: 0.05,
        SIDEWALK: 0.05,
        GRASS: 0.09,
        TREE: 0.16,
        WATER: 0.03,
        SOIL: 0.08,
    }
    for code, colour in PALETTE.items():
        where = cover == code
        if not where.any():
            continue
        col = _jitter(r_paint, colour, 0.10 if code in (STREET, OPEN, SIDEWALK) else 0.07)
        amount = texture_amount[code]
        tex = 1.0 + amount * (0.6 * mottle + 0.8 * grain + 0.6 * white)
        image[:, where] = col[:, None] * tex[where][None]
    if (cover == WATER).any():
        # Shallows lighter and greener near the shore.
        land = cover != WATER
        d_shore = ndimage.distance_transform_edt(~land, sampling=res)
        shallow = np.exp(-d_shore / r_paint.uniform(8.0, 30.0))
        lift = np.array([0.10, 0.12, 0.08, 0.0], np.float32)[:, None]
        image[:, cover == WATER] += lift * shallow[cover == WATER][None]

    # Tree crowns: sun-lit side brighter, self-shaded side darker.
    if trees.any():
        inside = ndimage.distance_transform_edt(trees)
        az_r = np.radians(az)
        d_row, d_col = -np.cos(az_r), np.sin(az_r)
        toward = ndimage.shift(inside, (-d_row * 1.5, -d_col * 1.5), order=1, mode="constant")
        lit = np.clip((inside - toward) * 0.5, -1.0, 1.0)
        image[:, trees] *= (1.0 + 0.18 * lit[trees])[None]

    _paint_roofs(image, heights, labels if labels is not None else building_labels(heights), az, el,
                 r_roof)  # fmt: skip

    # Bushes and flower beds on grass, clutter on yards and sidewalks (no height).
    bushes = (cover == GRASS) & (r_paint.random(heights.shape) < 0.06)
    image[:, bushes] *= np.array([0.7, 0.75, 0.7, 0.95], np.float32)[:, None]
    clutter = ((cover == OPEN) | (cover == SIDEWALK)) & (r_paint.random(heights.shape) < 0.05)
    image[:, clutter] *= r_paint.uniform(0.6, 1.35, int(clutter.sum())).astype(np.float32)[None]

    # Cars on streets and yards.
    cars = ((cover == STREET) | (cover == OPEN)) & (r_paint.random(heights.shape) < 0.03)
    if cars.any():
        car_col = r_paint.choice([0.12, 0.25, 0.55, 0.85], size=int(cars.sum()))
        tint = r_paint.normal(1.0, 0.12, (4, int(cars.sum()))).astype(np.float32)
        image[:, cars] = 0.5 * image[:, cars] + 0.5 * car_col[None] * tint
        image[3, cars] = np.minimum(image[3, cars], 0.4)

    # Cast shadows.
    keep = np.array(SHADOW_KEEP, np.float32) * np.float32(r_noise.normal(1.0, 0.1))
    image *= 1.0 - shadow[None] * (1.0 - keep[:, None, None])

    # Optics and sensor.
    image = ndimage.gaussian_filter(image, (0, r_noise.uniform(0.2, 0.55), 0), mode="nearest")
    image = ndimage.gaussian_filter(image, (0, 0, r_noise.uniform(0.2, 0.55)), mode="nearest")
    exposure = np.float32(r_noise.normal(1.0, 0.06))
    gains = r_noise.normal(1.0, 0.03, 4).astype(np.float32)
    haze = np.array([0.02, 0.025, 0.04, 0.0], np.float32) * np.float32(r_noise.uniform(0, 1))
    image = image * exposure * gains[:, None, None] + haze[:, None, None]
    image += r_noise.normal(0.0, r_noise.uniform(0.01, 0.025), image.shape).astype(np.float32)
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    return OrthoRendering(image[:bands], ndsm.astype(np.float32), cover, shadow, az, el)


def render_ortho(
    building_height_m: np.ndarray, grid: Grid, seed: int | np.random.SeedSequence, **options: Any
) -> np.ndarray:
    """An orthophoto-like rendering of a tile: ``(bands, rows, cols)`` float32 in 0..1.

    The image of :func:`render_tile` with the same arguments (``options``: ``ndsm``, ``bands``,
    the sun...), which also returns the matching nDSM. A rendering, not real imagery: see the
    module notes.
    """
    return render_tile(building_height_m, grid, seed, **options).image


def augment_ortho(
    image: np.ndarray, rng: np.random.Generator, *, strength: float = 1.0
) -> np.ndarray:
    """Random photometric augmentation of an orthophoto (rendered or real), 0..1 in and out.

    Per image: exposure, contrast, gamma, per-band gain (colour balance), saturation, haze; then,
    each with some probability, Gaussian blur, sensor noise, JPEG-like block smoothing and 8-bit
    quantisation. Geometry is untouched (the dihedral augmentation of ``nets.augment`` rotates
    and mirrors images with the rest of the scene).

    Args:
        image: ``(bands, rows, cols)`` in 0..1; band 4, if present, is near infrared.
        rng: random generator.
        strength: scales every random change (0 = none).

    Returns:
        A new float32 array of the same shape.
    """
    out = np.asarray(image, np.float32).copy()
    if strength <= 0:
        return out
    s = float(strength)
    bands = out.shape[0]
    out *= np.float32(np.exp(rng.normal(0.0, 0.15 * s)))
    mean = out.mean(axis=(1, 2), keepdims=True)
    out = (out - mean) * np.float32(np.exp(rng.normal(0.0, 0.15 * s))) + mean
    out = np.clip(out, 0.0, 1.0) ** np.float32(np.exp(rng.normal(0.0, 0.15 * s)))
    out *= (1.0 + rng.normal(0.0, 0.06 * s, bands)).astype(np.float32)[:, None, None]
    if bands >= 3:
        grey = np.tensordot(_LUMA, out[:3], axes=1)
        sat = np.float32(np.exp(rng.normal(0.0, 0.2 * s)))
        out[:3] = grey[None] + (out[:3] - grey[None]) * sat
        haze = np.float32(max(rng.normal(0.0, 0.04 * s), 0.0))
        out[:3] = (
            out[:3] * (1 - haze) + haze * np.array([0.8, 0.85, 1.0], np.float32)[:, None, None]
        )
    if rng.random() < 0.5 * min(s, 1.0):
        out = ndimage.gaussian_filter(out, (0, *(2 * [rng.uniform(0.3, 1.0 * s)])), mode="nearest")
    if rng.random() < 0.7 * min(s, 1.0):
        out += rng.normal(0.0, rng.uniform(0.0, 0.025 * s), out.shape).astype(np.float32)
    if rng.random() < 0.3 * min(s, 1.0):
        block = int(rng.choice([2, 4]))
        rows, cols = out.shape[1:]
        pr, pc = -rows % block, -cols % block
        padded = np.pad(out, ((0, 0), (0, pr), (0, pc)), mode="edge")
        b, r, c = padded.shape
        blocks = padded.reshape(b, r // block, block, c // block, block)
        means = blocks.mean(axis=(2, 4), keepdims=True)
        keep = np.float32(rng.uniform(0.4, 0.9))
        padded = (means + (blocks - means) * keep).reshape(b, r, c)
        out = padded[:, :rows, :cols]
    out = np.clip(out, 0.0, 1.0)
    if rng.random() < 0.5:
        out = np.round(out * 255.0) / 255.0
    return out.astype(np.float32)


def ortho_stats(image: np.ndarray, mask: np.ndarray | None = None) -> dict[str, object]:
    """Per-band mean and standard deviation, luminance percentiles and dark-pixel shares.

    ``dark_frac`` is the share of cells with luminance below 0.25 (cast shadows in SWISSIMAGE-like
    imagery sit near 0.2), ``rel_dark_frac`` those below half the median luminance, ``detail`` the
    mean absolute difference between the luminance and its blur (sigma 1 cell): fine texture.

    Args:
        image: ``(bands, rows, cols)`` in 0..1 (at least RGB).
        mask: cells to count (default all).

    Returns:
        A dict of plain Python values.
    """
    image = np.asarray(image, np.float32)
    grey = np.tensordot(_LUMA, image[:3], axes=1)
    detail = np.abs(grey - ndimage.gaussian_filter(grey, 1.0))
    values = image.reshape(image.shape[0], -1)
    if mask is not None:
        detail = detail[np.asarray(mask, bool)]
        values = values[:, np.asarray(mask, bool).ravel()]
    lum = _LUMA @ values[:3]
    median = float(np.median(lum))
    return {
        "mean": [round(float(v), 3) for v in values.mean(axis=1)],
        "std": [round(float(v), 3) for v in values.std(axis=1)],
        "lum_p5_p50_p95": [round(float(v), 3) for v in np.percentile(lum, [5, 50, 95])],
        "dark_frac": round(float((lum < 0.25).mean()), 3),
        "rel_dark_frac": round(float((lum < 0.5 * median).mean()), 3),
        "detail": round(float(detail.mean()), 4),
    }


def tile_seed(tile_id: int, seed: int = 0, epoch: int | None = None) -> np.random.SeedSequence:
    """The rendering seed of a dataset tile: fixed per tile, or new each epoch with ``epoch``."""
    key = [int(seed), int(tile_id)] + ([] if epoch is None else [int(epoch)])
    return np.random.SeedSequence(key)


def with_rendered_inputs(
    scene: SceneInputs,
    seed: int | np.random.SeedSequence,
    *,
    bands: int = 4,
    ndsm: bool = True,
) -> SceneInputs:
    """``scene`` with a rendered ``ortho`` (and, with ``ndsm``, the matching rendered nDSM).

    An existing ``scene.ndsm`` is rendered against (its trees) and kept.
    """
    rendering = render_tile(scene.building_height, scene.grid, seed, ndsm=scene.ndsm, bands=bands)
    new_ndsm = scene.ndsm if scene.ndsm is not None else (rendering.ndsm if ndsm else None)
    return replace(scene, ortho=rendering.image, ndsm=new_ndsm)
