"""Which maps of a dataset a run trains or scores on, and the samples read from them.

Maps are named by ``(tile, site)`` keys so that a run can record the exact maps it used and a
resumed run sees the same data while the dataset keeps growing; random crops keep the site inside.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.nets.augment import (
    IDENTITY,
    MapBatches,
    MapSample,
    TileRenderer,
    tile_scene,
)


def _dataset_frequency(dataset: Any) -> float:
    freqs = np.unique(np.round(np.asarray(dataset.sites["site_frequency_mhz"], np.float64), 3))
    if len(freqs) != 1:
        raise InputError(
            f"the dataset mixes carrier frequencies {freqs.tolist()} MHz; a network is trained "
            "for one frequency"
        )
    return float(freqs[0])


def _load_split(dataset_dir: str | os.PathLike, split: str, required: bool = True):
    from radiomap_geo.dataset import load_dataset

    try:
        return load_dataset(dataset_dir, split)
    except InputError:
        if required:
            raise
        return None


def _map_keys(dataset: Any) -> list[tuple[int, int]]:
    """``(tile_id, site number)`` of every map: stable across dataset growth."""
    tiles = np.asarray(dataset.tile_id)[np.asarray(dataset.map_tile)]
    return [(int(t), int(s)) for t, s in zip(tiles, np.asarray(dataset.sites["map_site"]))]


def _select(dataset: Any, keys: Sequence[Sequence[int]] | None) -> list[int]:
    """Indices of the maps with ``keys`` (all maps when None); missing keys raise."""
    all_keys = _map_keys(dataset)
    if keys is None:
        return list(range(len(all_keys)))
    where = {k: i for i, k in enumerate(all_keys)}
    wanted = [tuple(int(v) for v in k) for k in keys]
    missing = [k for k in wanted if k not in where]
    if missing:
        raise InputError(
            f"{len(missing)} map(s) this run was started with are no longer in the dataset "
            f"(first: tile {missing[0][0]} site {missing[0][1]}): start a new run"
        )
    return [where[k] for k in wanted]


def dataset_samples(
    dataset: Any,
    indices: Iterable[int],
    rx_height_m: float | None = None,
    renderer: TileRenderer | None = None,
) -> list[MapSample]:
    """:class:`MapSample` objects of the maps ``indices`` of a loaded split.

    The maps of a tile share one scene; with ``renderer`` it carries the tile's rendered
    orthophoto / nDSM (rendered once per tile, see :class:`TileRenderer`). Each sample's
    ``key`` is its map's ``(tile_id, site number)`` (stable across dataset growth), which lets
    :class:`MapBatches` cache its ray-walk channels.
    """
    if rx_height_m is None:
        rx_height_m = float(dataset.manifest["config"].get("rx_height_m", 1.5))
    keys = _map_keys(dataset)
    scenes: dict[int, SceneInputs] = {}
    out = []
    for index in indices:
        tile = int(dataset.map_tile[index])
        if tile not in scenes:
            scenes[tile] = tile_scene(dataset, tile, rx_height_m, renderer)
        site, gain, valid = dataset.site(index), dataset.gain_db[index], dataset.mask[index]
        out.append(MapSample(scenes[tile], site, gain, valid, key=keys[index]))
    return out


def crop_sample(sample: MapSample, size: int, rng: np.random.Generator) -> MapSample:
    """A random ``size`` x ``size`` window of a sample that keeps the site inside when it can.

    The crop keeps the sample's ``key`` and records where it lies in the keyed whole map
    (``window``), so cached channels can be cut to it; a crop of a transformed sample drops the
    key (its channels are then computed afresh).
    """
    grid = sample.scene.grid
    rows, cols = grid.shape
    if size >= rows and size >= cols:
        return sample
    h, w = min(size, rows), min(size, cols)
    row, col = (int(v) for v in grid.rowcol(sample.site.x, sample.site.y))

    def start(pos: int, n: int, k: int) -> int:
        lo, hi = max(0, pos - k + 1), min(n - k, pos)
        if lo > hi:  # the site is outside the map: any window
            lo, hi = 0, n - k
        return int(rng.integers(lo, hi + 1))

    r0, c0 = start(row, rows, h), start(col, cols, w)
    sl = (slice(r0, r0 + h), slice(c0, c0 + w))
    return MapSample(
        scene=sample.scene.crop(r0, c0, h, w),
        site=sample.site,
        path_gain_db=sample.path_gain_db[sl],
        valid=sample.valid[sl],
        los=None if sample.los is None else sample.los[sl],
        **_crop_provenance(sample, r0, c0, h, w),
    )


def _crop_provenance(sample: MapSample, r0: int, c0: int, h: int, w: int) -> dict[str, Any]:
    """``key`` and ``window`` of a crop at ``(r0, c0)`` of ``sample`` (no key if transformed)."""
    if sample.key is None or sample.symmetry != IDENTITY:
        return {}
    r_prev, c_prev = sample.window[:2] if sample.window is not None else (0, 0)
    return {"key": sample.key, "window": (r_prev + r0, c_prev + c0, h, w)}


class CroppedMapBatches(MapBatches):
    """:class:`MapBatches` whose samples are randomly cropped (see :func:`crop_sample`) first.

    The whole maps still go through the channel cache first, so cropped samples get their
    ray-walk channels cut from the whole map's (see
    :class:`~radiomap_geo.nets.augment.RayChannelCache`).
    """

    def __init__(self, *args: Any, crop: int | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)  # samples, channels, batch_size, ... as MapBatches
        self.crop = crop

    def _window(self, sample: MapSample) -> MapSample:
        return crop_sample(sample, self.crop, self.rng) if self.crop else sample
