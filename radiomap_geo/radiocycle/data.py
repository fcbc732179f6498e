"""RadioCycle's data: the ray-traced maps as (building map, radio map, site) triples, sampled
measurements, and the network input encodings.

Units. The radio map is the dataset's path gain (dB) normalised to ``[0, 1]`` over
``[FLOOR_DB, CEIL_DB]`` (paper 001 normalises its RSRP maps the same way, so its RMSE 0.069 is in
these units; ``* SPAN_DB`` gives dB). Received power or RSRP differ from path gain by constants
per site; :mod:`radiomap_geo.radiocycle.infer` converts measurements to path gain first.

Inputs (channels in this order):

* F: ``sparse`` (normalised value at measured cells, 0 elsewhere), ``mask`` (1 = measured),
  ``tx`` (1 at the transmitter cell), ``tx_distance`` (distance to the transmitter / 256 m);
* G: ``building`` (probability or 0/1), ``tx``, ``tx_distance``;
* InterpolationNet: the F channels.

Paper 001 marks the transmitter as one pixel. We add the distance channel: a single pixel is
invisible to a small network away from it, and in a crop that does not contain the transmitter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiomap_geo.sparse.sampling import Pattern

FLOOR_DB, CEIL_DB = -160.0, -40.0
SPAN_DB = CEIL_DB - FLOOR_DB
#: Distance scale of the ``tx_distance`` channel (m).
DISTANCE_SCALE_M = 256.0
#: Measurement-sampling cut: weaker cells are not measured (same threshold as issue #10).
MEASURABLE_DB = -130.0
F_CHANNELS = ("sparse", "mask", "tx", "tx_distance")
G_CHANNELS = ("building", "tx", "tx_distance")
#: Real city layouts (OSM / BGT); "procedural" is the other source.
REAL_SOURCES = ("radiomapseer", "helsinki", "delft")


def normalise_db(db: np.ndarray) -> np.ndarray:
    """Path gain (dB) -> ``[0, 1]`` (clipped)."""
    return ((np.clip(db, FLOOR_DB, CEIL_DB) - FLOOR_DB) / SPAN_DB).astype(np.float32)


def denormalise(value: np.ndarray) -> np.ndarray:
    """``[0, 1]`` -> path gain (dB)."""
    return (np.asarray(value, np.float32) * SPAN_DB + FLOOR_DB).astype(np.float32)


@dataclass
class MapSet:
    """Maps of one dataset split.

    Attributes:
        buildings: ``(N, H, W)`` bool, building cells.
        gain_db: ``(N, H, W)`` float32 path gain (NaN = no label).
        site_rc: ``(N, 2)`` float32 transmitter (row, col) in cells (fractional allowed).
        source: per map, the tile's source (``procedural``, ``radiomapseer``...).
        resolution: cell size (m).
    """

    buildings: np.ndarray
    gain_db: np.ndarray
    site_rc: np.ndarray
    source: np.ndarray
    resolution: float

    def __len__(self) -> int:
        return len(self.gain_db)

    def measurable(self, i: int) -> np.ndarray:
        """Cells of map ``i`` a drive test could measure (labelled, outdoors, above the floor)."""
        with np.errstate(invalid="ignore"):
            return np.isfinite(self.gain_db[i]) & (self.gain_db[i] >= MEASURABLE_DB)

    def subset(self, keep: np.ndarray) -> MapSet:
        """The maps selected by a boolean or index array."""
        return MapSet(
            self.buildings[keep],
            self.gain_db[keep],
            self.site_rc[keep],
            self.source[keep],
            self.resolution,
        )


def load_maps(dataset_dir: str, split: str, max_maps: int | None = None) -> MapSet:
    """The maps of ``split`` (evenly spread subset of ``max_maps`` if given)."""
    from radiomap_geo.dataset import load_dataset

    ds = load_dataset(dataset_dir, split)
    index = np.arange(len(ds))
    if max_maps is not None and max_maps < len(ds):
        index = np.unique(np.linspace(0, len(ds) - 1, max_maps).round().astype(int))
    tiles = np.asarray(ds.map_tile)[index]
    gain = ds.gain_db[index].astype(np.float32)
    gain[~ds.mask[index]] = np.nan
    sources = np.array([ds.tile_info(int(t))["source"] for t in tiles])
    rc = np.stack([ds.sites["site_row"][index], ds.sites["site_col"][index]], 1)
    return MapSet(
        buildings=ds.building_height_m[tiles] > 0,
        gain_db=gain,
        site_rc=rc.astype(np.float32),
        source=sources,
        resolution=float(ds.resolution),
    )


def transmitter_channels(
    shape: tuple[int, int], site_rc: tuple[float, float], resolution: float, origin=(0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """``(tx, tx_distance)`` for a window of ``shape`` whose top-left cell is ``origin`` of the
    full map (the site's (row, col) are in full-map cells).
    """
    rows = np.arange(shape[0])[:, None] + origin[0]
    cols = np.arange(shape[1])[None, :] + origin[1]
    dr, dc = rows - site_rc[0], cols - site_rc[1]
    distance = np.hypot(dr, dc) * resolution / DISTANCE_SCALE_M
    tx = ((np.abs(dr) < 0.5) & (np.abs(dc) < 0.5)).astype(np.float32)
    return tx, distance.astype(np.float32)


def encode_f(values_norm: np.ndarray, measured: np.ndarray, tx: np.ndarray, dist: np.ndarray):
    """F / InterpolationNet input ``(4, H, W)``: values outside ``measured`` are ignored."""
    sparse = np.where(measured, np.nan_to_num(values_norm), 0.0).astype(np.float32)
    return np.stack([sparse, measured.astype(np.float32), tx, dist])


def encode_g(building: np.ndarray, tx: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """G input ``(3, H, W)``."""
    return np.stack([building.astype(np.float32), tx, dist])


#: Training sampling (issue #13): rates uniform over 1-40 %, a share of street trajectories.
TRAIN_RATES = (0.01, 0.40)
TRAJECTORY_SHARE = 0.35


def draw_pattern(rng: np.random.Generator, fixed_rate: float | None = None) -> Pattern:
    """A training pattern: ``fixed_rate`` uniform (InterpolationNet: 20 %) or a rate drawn
    from :data:`TRAIN_RATES`, along trajectories with probability :data:`TRAJECTORY_SHARE`.
    """
    if fixed_rate is not None:
        return Pattern("uniform", fixed_rate)
    rate = float(rng.uniform(*TRAIN_RATES))
    kind = "trajectory" if rng.random() < TRAJECTORY_SHARE else "uniform"
    return Pattern(kind, rate)


def sample_measured(maps: MapSet, i: int, pattern: Pattern, rng: np.random.Generator) -> np.ndarray:
    """The measured cells of map ``i`` under ``pattern`` (walks may cross unlabelled streets)."""
    measurable = maps.measurable(i)
    if not measurable.any():
        return measurable
    return pattern.draw(measurable, rng, outdoor=~maps.buildings[i])


@dataclass
class Batch:
    """Network-ready arrays for a batch: F input, G input (true buildings), targets."""

    f_input: np.ndarray  # (B, 4, h, w)
    g_input: np.ndarray  # (B, 3, h, w), true building map
    buildings: np.ndarray  # (B, 1, h, w) float 0/1
    radio: np.ndarray  # (B, 1, h, w) normalised, 0 where unlabelled
    labelled: np.ndarray  # (B, 1, h, w) float 0/1
    measured: np.ndarray  # (B, 1, h, w) float 0/1


def make_batch(
    maps: MapSet,
    indices: np.ndarray,
    rng: np.random.Generator,
    crop: int | None = None,
    fixed_rate: float | None = None,
) -> Batch:
    """Sample measurements on whole maps, then cut one ``crop``-sized window per map (random
    position and a random one of the 8 square symmetries), or keep the whole map.
    """
    parts: dict[str, list[np.ndarray]] = {k: [] for k in Batch.__dataclass_fields__}
    for i in indices:
        measured = sample_measured(maps, int(i), draw_pattern(rng, fixed_rate), rng)
        h, w = maps.gain_db.shape[1:]
        size = crop or h
        r0 = int(rng.integers(0, h - size + 1)) if crop else 0
        c0 = int(rng.integers(0, w - size + 1)) if crop else 0
        win = (slice(r0, r0 + size), slice(c0, c0 + size))
        tx, dist = transmitter_channels(
            (size, size), tuple(maps.site_rc[i]), maps.resolution, (r0, c0)
        )
        gain = maps.gain_db[i][win]
        norm = normalise_db(np.nan_to_num(gain, nan=FLOOR_DB))
        labelled = np.isfinite(gain)
        building = maps.buildings[i][win]
        arrays = {
            "f_input": encode_f(norm, measured[win], tx, dist),
            "g_input": encode_g(building, tx, dist),
            "buildings": building[None].astype(np.float32),
            "radio": np.where(labelled, norm, 0.0)[None].astype(np.float32),
            "labelled": labelled[None].astype(np.float32),
            "measured": measured[win][None].astype(np.float32),
        }
        if crop:
            k, flip = int(rng.integers(4)), bool(rng.integers(2))
            for key, a in arrays.items():
                a = np.rot90(a, k, axes=(1, 2))
                arrays[key] = np.ascontiguousarray(a[:, :, ::-1] if flip else a)
        for key, a in arrays.items():
            parts[key].append(a)
    return Batch(**{k: np.stack(v) for k, v in parts.items()})
