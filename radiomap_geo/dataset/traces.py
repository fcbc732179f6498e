"""Cleaner training labels: a split's maps averaged with a second ray-traced run of them.

Sionna RT's coverage map is a Monte-Carlo estimate: at the dataset's 3e6 rays per transmitter two
runs with different ray seeds differ by 4.4 dB RMS over all cells and 5.6 dB in NLOS
(``weights/unet-obs.md``). The mean of two independent runs halves that variance. This module
combines a loaded split with a second trace of (some of) its tiles, as written by
``scripts/retrace_split.py --split train --samples 3e6 --seed S --out FOLDER``, map by map:

* both runs reached the cell: the power mean, ``10 log10((10^(a/10) + 10^(b/10)) / 2)``;
* one run reached it, the other did not: that run's value;
* neither reached it: still no label.

Counting a miss as zero power (half the one power, 3 dB down) would be the two-run estimate
that is unbiased in *linear* power. It is not the rule: networks train and are scored in dB, on
the cells a run labels, against labels with more rays (1e7 rays on the validation and test
splits), and there the power mean of the runs that reached the cell is nearer. On 172 maps of
deep-shadow training tiles also traced at 1e7 rays, on the cells >= -130 dB at 1e7, labels
minus the 1e7 label: one run -0.98 dB (RMS 6.06), a miss as zero -0.73 (5.20), the runs that
reached it -0.56 (5.10), nearer in every 10 dB bin below -90 dB and equal above
(``benchmarks/bench_ray_count.py --second``, ``benchmarks/results/two_run_rules.md``).

A trace with *more* rays per transmitter (``scripts/retrace_split.py --split train --samples 1e7
--seed 13 --out FOLDER``) is not a second sample of the same estimate but a better one:
:func:`with_more_rays` replaces the label of every map it holds by its own.

Maps are matched by ``(tile id, site number)``; a second trace whose tile grid, buildings or site
differ from the split's is refused, because it would average two different maps. The averaging is
done on the decoded labels (0.5 dB codes), in memory; the dataset's files are not changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from radiomap_geo.dataset.store import RadioMapDataset, load_dataset, read_manifest
from radiomap_geo.errors import InputError

#: Site members that must agree between the two runs of a map.
_SITE_CHECKS = ("site_x", "site_y", "site_height_m", "site_azimuth_deg", "site_tilt_deg")


def power_mean_db(first_db: np.ndarray, second_db: np.ndarray) -> np.ndarray:
    """The two-run label of path gain (dB) per cell: the power mean of the runs that reached
    it (NaN in an input = that run's rays missed the cell; NaN out = both missed).
    """
    hit_first, hit_second = np.isfinite(first_db), np.isfinite(second_db)
    first = np.where(hit_first, np.power(10.0, np.nan_to_num(first_db) / 10.0), 0.0)
    second = np.where(hit_second, np.power(10.0, np.nan_to_num(second_db) / 10.0), 0.0)
    runs = hit_first.astype(np.int8) + hit_second
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_db = 10.0 * np.log10((first + second) / np.maximum(runs, 1))
    return np.where(runs > 0, mean_db, np.nan).astype(np.float32)


def map_index(dataset: RadioMapDataset) -> dict[tuple[int, int], int]:
    """``{(tile id, site number): map number}``: a map's stable key, which survives growth and
    re-tracing, to its position in this loaded split.
    """
    tiles = np.asarray(dataset.tile_id)[np.asarray(dataset.map_tile)]
    sites = np.asarray(dataset.sites["map_site"])
    return {(int(t), int(s)): i for i, (t, s) in enumerate(zip(tiles, sites))}


def maps_also_in(dataset: RadioMapDataset, folder: str | os.PathLike, split: str) -> list[int]:
    """The numbers of ``dataset``'s maps that the dataset ``folder`` also holds in ``split``.

    Raises:
        InputError: ``folder`` holds none of them.
    """
    where = map_index(dataset)
    try:
        other = load_dataset(folder, split)
    except InputError:
        other = None
    pool = [] if other is None else sorted(where[k] for k in map_index(other) if k in where)
    if not pool:
        raise InputError(f"{folder} holds none of the {split} maps: nothing to train on")
    return pool


def _check_same_map(dataset: RadioMapDataset, i: int, other: RadioMapDataset, j: int) -> None:
    tile, other_tile = int(dataset.map_tile[i]), int(other.map_tile[j])
    same = np.allclose(dataset.tile_transform[tile], other.tile_transform[other_tile]) and (
        np.array_equal(dataset.building_height_m[tile], other.building_height_m[other_tile])
    )
    same = same and all(
        np.isclose(float(dataset.sites[k][i]), float(other.sites[k][j])) for k in _SITE_CHECKS
    )
    if not same:
        raise InputError(
            f"the second trace of tile {int(dataset.tile_id[tile])} site "
            f"{int(dataset.sites['map_site'][i])} is not the same map (grid, buildings or site "
            "differ): re-trace it from this dataset with scripts/retrace_split.py"
        )


def with_second_traces(
    dataset: RadioMapDataset, folder: str | os.PathLike, split: str
) -> tuple[RadioMapDataset, np.ndarray]:
    """``(dataset with every map also traced in folder averaged, the averaged map numbers)``.

    Maps without a second trace keep their label. The mask becomes "a label after averaging, and
    outdoors": a cell one run missed gains a label (the other run's).

    Raises:
        InputError: ``folder`` is no dataset, traces another dataset's maps, or uses another
            number of rays (its labels would not be a second sample of the same estimate).
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    rays = manifest["config"].get("samples_per_tx")
    ours = dataset.manifest["config"].get("samples_per_tx")
    if rays != ours:
        raise InputError(
            f"{folder} was traced with {rays} rays per transmitter, the dataset with {ours}: "
            "average runs of the same ray count (retrace_split.py --samples)"
        )
    try:
        other = load_dataset(folder, split)
    except InputError:
        return dataset, np.zeros(0, int)  # nothing traced twice yet in this split
    return _relabelled(dataset, other, lambda ours, theirs: power_mean_db(ours, theirs))


def with_more_rays(
    dataset: RadioMapDataset, folder: str | os.PathLike, split: str
) -> tuple[RadioMapDataset, np.ndarray]:
    """``(dataset with the label of every map also traced in folder replaced by that trace,
    the replaced map numbers)``.

    Use it after :func:`with_second_traces`: the more-ray label wins over the average of two
    fewer-ray runs. The mask becomes "the more-ray run reached it, and outdoors".

    Raises:
        InputError: ``folder`` is no dataset, traces another dataset's maps, or does not use
            more rays per transmitter than the dataset.
    """
    folder = Path(folder)
    rays = read_manifest(folder)["config"].get("samples_per_tx")
    ours = dataset.manifest["config"].get("samples_per_tx")
    if rays is None or ours is None or float(rays) <= float(ours):
        raise InputError(
            f"{folder} was traced with {rays} rays per transmitter, the dataset with {ours}: "
            "a label replacement needs more rays (retrace_split.py --samples 1e7)"
        )
    try:
        other = load_dataset(folder, split)
    except InputError:
        return dataset, np.zeros(0, int)  # nothing of this split traced with more rays yet
    return _relabelled(dataset, other, lambda ours, theirs: theirs)


def _relabelled(
    dataset: RadioMapDataset,
    other: RadioMapDataset,
    combine: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> tuple[RadioMapDataset, np.ndarray]:
    """Every map of ``dataset`` that ``other`` also holds relabelled ``combine(ours, theirs)``
    (dB, NaN = no ray) with the mask "labelled, and outdoors"; and those map numbers.
    """
    where = map_index(dataset)
    gain, mask = dataset.gain_db.copy(), dataset.mask.copy()
    changed = []
    for key, j in map_index(other).items():
        i = where.get(key)
        if i is None:
            continue  # a tile of the folder the loaded split no longer lists
        _check_same_map(dataset, i, other, j)
        outside = dataset.building_height_m[int(dataset.map_tile[i])] <= 0
        theirs = np.where(other.mask[j], other.gain_db[j], np.nan)
        gain[i] = combine(dataset.gain_db[i], theirs)
        mask[i] = np.isfinite(gain[i]) & outside
        changed.append(i)
    return replace(dataset, gain_db=gain, mask=mask), np.array(sorted(changed), int)
