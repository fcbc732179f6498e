"""Dihedral test-time augmentation: the network on the 8 symmetries of the square, averaged.

The networks were trained with the eight rotations / east-west mirrors of each map
(:mod:`radiomap_geo.nets.augment`), so each symmetry of a scene is an equally valid input. Running
the network on several of them and averaging the (back-transformed) outputs cancels part of its
orientation-dependent error at the cost of one network pass per symmetry (batched).

The scene and the site are transformed exactly as in training (:func:`transform_scene`,
:func:`transform_site`: the site moves with the map and its boresight turns with it), so the
direction-dependent channels (anchor, azimuth, antenna gain) are recomputed for each symmetry; the
ray-walk channels (line of sight, building depth, knife-edge loss) are scalar fields on the cells,
so they are computed once and transformed as rasters, as the training cache does. Mirrors are used
only for antenna patterns that are left-right symmetric about boresight.

Outputs are averaged in linear power (mean of milliwatts, back to dB), the physical mean of the
received power, which is also how the engine aggregates sub-cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radiomap_geo.models.base import SceneInputs
from radiomap_geo.nets.augment import (
    IDENTITY,
    RAY_CHANNELS,
    Symmetry,
    pattern_is_mirror_symmetric,
    transform_array,
    transform_scene,
    transform_site,
)
from radiomap_geo.rasterize import feature_stack
from radiomap_geo.sites import Site

#: Allowed numbers of symmetries: none, the four rotations, all eight.
TTA_CHOICES = (1, 4, 8)


def symmetries(count: int, antenna: str) -> list[Symmetry]:
    """The first ``count`` symmetries (identity first); mirrors only for symmetric patterns.

    With a pattern that is not mirror-symmetric, 8 falls back to the 4 rotations.
    """
    if count not in TTA_CHOICES:
        raise ValueError(f"test-time augmentation takes {TTA_CHOICES} symmetries, not {count}")
    rotations = [(k, False) for k in range(4)]
    if count == 1:
        return [IDENTITY]
    if count == 4 or not pattern_is_mirror_symmetric(antenna):
        return rotations
    return rotations + [(k, True) for k in range(4)]


def inverse_transform(array: np.ndarray, symmetry: Symmetry) -> np.ndarray:
    """Undo :func:`transform_array` (mirror, then ``k`` quarter turns): turn back, then mirror."""
    k, flip = symmetry
    back = np.rot90(array, -(k % 4), axes=(-2, -1))
    if flip:
        back = back[..., :, ::-1]
    return np.ascontiguousarray(back)


def dihedral_inputs(
    scene: SceneInputs, site: Site, channels: Sequence[str], chosen: Sequence[Symmetry]
) -> np.ndarray:
    """``(S, C, H', W')`` float32 inputs, one per symmetry, as :func:`feature_stack` would give
    on the transformed scene and site (ray-walk channels computed once and transformed).
    """
    ray_names = [name for name in channels if name in RAY_CHANNELS]
    rays = dict(zip(ray_names, feature_stack(scene, site, ray_names))) if ray_names else {}
    rest = [name for name in channels if name not in rays]
    stacks = []
    for k, flip in chosen:
        t_scene = transform_scene(scene, k, flip)
        t_site = transform_site(site, scene.grid, k, flip)
        fresh = dict(zip(rest, feature_stack(t_scene, t_site, rest))) if rest else {}
        stacks.append(
            np.stack(
                [
                    fresh[name] if name in fresh else transform_array(rays[name], k, flip)
                    for name in channels
                ]
            ).astype(np.float32)
        )
    return np.stack(stacks)


def mean_power_db(maps_db: np.ndarray) -> np.ndarray:
    """Mean over the first axis in linear power, in dB (float32)."""
    peak = np.max(maps_db, axis=0)  # factor out the largest value: no overflow, no underflow
    mean = np.mean(10.0 ** ((maps_db - peak) / 10.0), axis=0)
    return (peak + 10.0 * np.log10(mean)).astype(np.float32)
