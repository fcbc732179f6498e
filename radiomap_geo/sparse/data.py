"""Maps for measurement-conditioned models: labels, scene and the geometry network's prediction.

A :class:`MapContext` is one ray-traced map of the dataset (``radiomap_geo.dataset``) with what
every method may read besides the measurements: building heights, the site (for the methods that
know it), line of sight, and the prediction of the geometry-only network (``unet-obs`` by
default), which the regression-kriging baseline and our EMGAN variant correct.

The geometry predictions cost a network run per map, so :func:`load_contexts` keeps them in a
cache folder (one ``.npz`` per chunk of maps, written atomically: an interrupted run resumes).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import atomic_open
from radiomap_geo.progress import CancelFn, ProgressFn, as_monitor

logger = logging.getLogger(__name__)

#: The geometry-only network whose prediction the measurements correct (the default of predict).
DEFAULT_GEOMETRY_MODEL = "unet-obs"
#: Maps per cache chunk (about a minute of network runs on two CPU cores).
CHUNK_MAPS = 128
#: Cells weaker than this are not measured: a phone's RSRP floor (about -125 dBm) with the
#: dataset's 43 dBm sites and the 27.9 dB RSRP offset of a 20 MHz NR carrier is about -140 dB of
#: path gain, and the ray tracer's labels below -130 dB are mostly noise (data/README.md); the
#: scores use the same -130 dB threshold.
MEASURABLE_DB = -130.0
#: Speed of light (m/s), for free-space loss.
C0 = 299_792_458.0


@dataclass
class MapContext:
    """One map: label and what a method may read besides the measurements.

    Attributes:
        index: map number in its split.
        tile: tile number in its split (maps of one tile share buildings: a spatial block).
        heights: building height (m, 0 outdoors), ``(H, W)``.
        gain_db: ray-traced path gain (dB, NaN = no label), ``(H, W)``.
        valid: labelled cells.
        los: line of sight to the site.
        geometry_db: the geometry network's path gain (dB) without measurements.
        free_space_db: free-space path gain from the site (dB; 3-D distance).
        resolution: cell size (m).
    """

    index: int
    tile: int
    heights: np.ndarray
    gain_db: np.ndarray
    valid: np.ndarray
    los: np.ndarray
    geometry_db: np.ndarray
    free_space_db: np.ndarray
    resolution: float

    @property
    def outdoor(self) -> np.ndarray:
        """Cells outside buildings."""
        return self.heights <= 0

    @property
    def measurable(self) -> np.ndarray:
        """Labelled cells strong enough to be measured (see :data:`MEASURABLE_DB`)."""
        with np.errstate(invalid="ignore"):
            return self.valid & (self.gain_db >= MEASURABLE_DB)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        return self.heights.shape  # type: ignore[return-value]


def free_space_gain_db(
    x: np.ndarray, y: np.ndarray, site_xyz: tuple[float, float, float], frequency_mhz: float
) -> np.ndarray:
    """Free-space path gain (dB) of an isotropic link, 3-D distance (at least one wavelength)."""
    wavelength = C0 / (frequency_mhz * 1e6)
    d = np.sqrt((x - site_xyz[0]) ** 2 + (y - site_xyz[1]) ** 2 + site_xyz[2] ** 2)
    d = np.maximum(d, wavelength)
    return (20.0 * np.log10(wavelength / (4.0 * math.pi * d))).astype(np.float32)


def select_maps(n_total: int, max_maps: int | None) -> np.ndarray:
    """Map numbers spread evenly over a split (every tile region represented)."""
    if max_maps is None or max_maps >= n_total:
        return np.arange(n_total)
    if max_maps < 1:
        raise InputError(f"max_maps must be at least 1, got {max_maps}", parameter="max_maps")
    return np.unique(np.linspace(0, n_total - 1, int(max_maps)).round().astype(int))


def check_split(dataset_dir: str | os.PathLike, split: str) -> None:
    """Refuse a split the dataset has no tile of (read from its manifest: no map is loaded).

    Raises:
        InputError: no dataset there, or no tile of ``split`` in it.
    """
    from radiomap_geo.dataset import read_manifest

    splits = sorted({str(t["split"]) for t in read_manifest(dataset_dir)["tiles"].values()})
    if split not in splits:
        raise InputError(
            f"split {split!r}: {dataset_dir} has no tile of it; use one of "
            f"{', '.join(splits) or 'none (the dataset has no finished tile)'}",
            parameter="split",
        )


def _geometry_network(name: str):
    """The :class:`~radiomap_geo.nets.NetworkModel` behind a model name (shipped or net:PATH)."""
    from radiomap_geo.models.registry import get_model
    from radiomap_geo.nets import NetworkModel

    model = get_model(name)
    net = model if isinstance(model, NetworkModel) else getattr(model, "net", None)
    if not isinstance(net, NetworkModel):
        raise InputError(
            f"geometry model {name!r} is not a network; give a shipped network such as "
            f"{DEFAULT_GEOMETRY_MODEL}",
            parameter="geometry_model",
        )
    return net


def geometry_version(name: str) -> str:
    """``<name>-<sha12 of its weights>`` (:func:`~radiomap_geo.models.registry.model_version`):
    the cache and the evaluation records name the weights, not just the model name, so a new
    default network never meets predictions of the old one.
    """
    from radiomap_geo.models.registry import model_version

    _geometry_network(name)  # refuses a model that is not a network
    return model_version(name)


def _identity(dataset, indices: Sequence[int]) -> np.ndarray:
    """``(tile id, site number)`` of each map: a cache made for another dataset state is
    recognised (a growing dataset can shift map numbers).
    """
    tiles = np.asarray(dataset.tile_id)[np.asarray(dataset.map_tile)[np.asarray(indices)]]
    return np.stack([tiles, np.asarray(dataset.sites["map_site"])[np.asarray(indices)]], 1)


def _fingerprints(dataset, indices: Sequence[int], rx: float) -> np.ndarray:
    """A 64-bit hash of what the geometry prediction and line of sight of each map are computed
    from: building heights, tile placement and size, site, receiver height.

    Two datasets with the same tile ids (another seed, another tile size) differ in it, so their
    cache entries never mix; a re-trace of the same scenes (more rays, other labels) shares it,
    and with it the cached predictions, which do not depend on the labels.
    """
    out = np.empty(len(indices), np.int64)
    for k, index in enumerate(indices):
        tile = int(dataset.map_tile[index])
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(dataset.building_height_m[tile], np.float32).tobytes())
        digest.update(np.asarray(dataset.tile_transform[tile], np.float64).tobytes())
        digest.update(repr((dataset.gain_db.shape[1:], rx, dataset.site(int(index)))).encode())
        out[k] = np.frombuffer(digest.digest()[:8], np.int64)[0]
    return out


def _line_of_sight(dataset, index: int, rx: float) -> np.ndarray:
    from radiomap_geo.los import line_of_sight

    tile = int(dataset.map_tile[index])
    grid = dataset.grid(tile)
    site = dataset.site(int(index))
    return line_of_sight(
        dataset.building_height_m[tile], grid, grid, (site.x, site.y), site.height_m, rx
    )


def _compute_chunk(
    dataset, indices: Sequence[int], fingerprints: np.ndarray, net, rx: float
) -> dict[str, np.ndarray]:
    from radiomap_geo.models.base import SceneInputs
    from radiomap_geo.nets.scoring import predict_tile  # the network as it was trained and scored

    geometry, los = [], []
    for index in indices:
        tile = int(dataset.map_tile[index])
        scene = SceneInputs(dataset.grid(tile), dataset.building_height_m[tile], rx_height_m=rx)
        geometry.append(predict_tile(net, scene, dataset.site(int(index))).astype(np.float16))
        los.append(_line_of_sight(dataset, int(index), rx))
    return {
        "index": np.asarray(indices, np.int32),
        "identity": _identity(dataset, indices),
        "fingerprint": np.asarray(fingerprints, np.int64),
        "geometry_db": np.stack(geometry),
        "los": np.packbits(np.stack(los)),
    }


#: Where a cached map lies: ``(file, row in file)``.
Row = tuple[Path, int]


def _read_cache(
    cache: Path, tag: str, dataset
) -> tuple[dict[tuple[int, int, int], Row], dict[tuple[int, int], list[Row]]]:
    """Cached maps of a split: ``({(tile id, site number, fingerprint): row}, {(tile id, site
    number): [rows of files without fingerprints]})``.

    Files written before fingerprints were stored may belong to another dataset with the same
    tile ids: :func:`load_contexts` uses their rows only once their shape and line of sight match
    the dataset's. Files written before identities were stored hold map numbers only; the dataset
    only ever appends tiles, so those numbers still name the same maps.
    """
    found: dict[tuple[int, int, int], Row] = {}
    legacy: dict[tuple[int, int], list[Row]] = {}
    for path in sorted(cache.glob(f"{tag}-*.npz")):
        with np.load(path) as data:
            fingerprint = data["fingerprint"] if "fingerprint" in data else None
            if "identity" in data:
                identity = data["identity"]
            elif int(data["index"].max()) < len(dataset):
                identity = _identity(dataset, data["index"])
            else:
                continue
        for row, (tile, site) in enumerate(identity):
            if fingerprint is None:
                legacy.setdefault((int(tile), int(site)), []).append((path, row))
            else:
                found.setdefault((int(tile), int(site), int(fingerprint[row])), (path, row))
    return found, legacy


class _CacheFiles:
    """The arrays of cache files, each read once: ``(geometry (n, H, W), los (n, H, W))``."""

    def __init__(self) -> None:
        self._files: dict[Path, tuple[np.ndarray, np.ndarray]] = {}

    def __getitem__(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        if path not in self._files:
            with np.load(path) as data:
                geometry = data["geometry_db"]
                n, h, w = geometry.shape  # the file's own map size, not the dataset's
                los = np.unpackbits(data["los"])[: n * h * w].reshape(n, h, w).astype(bool)
            self._files[path] = (geometry, los)
        return self._files[path]

    def matches(self, row: Row, dataset, index: int, rx: float) -> bool:
        """Whether a row of a file without fingerprints is map ``index`` of ``dataset``: the
        same size and the same line of sight (a few ms against a network run).
        """
        geometry, los = self[row[0]]
        if geometry.shape[1:] != dataset.gain_db.shape[1:]:
            return False
        return bool(np.array_equal(los[row[1]], _line_of_sight(dataset, index, rx)))


def measurable_contexts(contexts: Sequence[MapContext], purpose: str) -> list[MapContext]:
    """The maps a measurement set can be drawn from.

    A map wholly below the measurable level has nothing to sample (and no unmeasured cell to
    score): left in, it would stop training, calibration or evaluation at the first draw.
    """
    kept = [ctx for ctx in contexts if ctx.measurable.any()]
    if len(kept) < len(contexts):
        logger.warning(
            "skipped %d of %d %s maps with no measurable cell",
            len(contexts) - len(kept),
            len(contexts),
            purpose,
        )
    if not kept:
        raise InputError(f"no {purpose} map has a measurable cell")
    return kept


def load_contexts(
    dataset_dir: str | os.PathLike,
    split: str,
    *,
    max_maps: int | None = None,
    geometry_model: str = DEFAULT_GEOMETRY_MODEL,
    cache_dir: str | os.PathLike | None = None,
    second_traces: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> list[MapContext]:
    """The :class:`MapContext` of ``max_maps`` maps spread over ``split``.

    With ``second_traces`` (a second ray-traced run of some tiles, see
    :mod:`radiomap_geo.dataset.traces`) only the maps traced twice are chosen, with the two runs'
    power mean as their labels, for measurements and targets less noisy than one run's.

    Geometry predictions and line of sight are cached in ``cache_dir`` (default
    ``runs/sparse-cache``) per map identity (tile id, site number), fingerprint of the map's
    inputs (:func:`_fingerprints`: another dataset with the same tile ids never reads them) and
    geometry weights (:func:`geometry_version`), chunk by chunk, so a killed run resumes and a
    dataset that grows meanwhile keeps its cached maps. Which maps are chosen depends on the
    split alone, never on the cache.
    """
    from radiomap_geo.dataset import load_dataset

    dataset = load_dataset(dataset_dir, split)
    pool = np.arange(len(dataset))
    if second_traces is not None:
        from radiomap_geo.dataset.traces import with_second_traces

        dataset, pool = with_second_traces(dataset, second_traces, split)
        if not len(pool):
            raise InputError(
                f"{second_traces} holds no second trace of the {split} split's maps",
                parameter="second_traces",
            )
    cache = Path(cache_dir) if cache_dir else Path("runs") / "sparse-cache"
    tag = f"{split}-{geometry_version(geometry_model)}"
    monitor = as_monitor(progress, is_cancelled)
    rx = float(dataset.manifest["config"].get("rx_height_m", 1.5))
    # The maps depend on the split alone, never on what happens to be cached: the same command
    # on the same dataset scores the same maps.
    chosen = [int(i) for i in pool[select_maps(len(pool), max_maps)]]
    identity = _identity(dataset, chosen)
    fingerprints = _fingerprints(dataset, chosen, rx)
    keys = {i: (int(t), int(s), int(f)) for i, (t, s), f in zip(chosen, identity, fingerprints)}
    cached, legacy = _read_cache(cache, tag, dataset)
    files = _CacheFiles()
    rows: dict[int, Row] = {}
    for index in chosen:
        if keys[index] in cached:
            rows[index] = cached[keys[index]]
            continue
        for row in legacy.get(keys[index][:2], []):
            if files.matches(row, dataset, index, rx):
                rows[index] = row
                break
    missing = [i for i in chosen if i not in rows]
    chunks = [missing[i : i + CHUNK_MAPS] for i in range(0, len(missing), CHUNK_MAPS)]
    net = _geometry_network(geometry_model) if chunks else None
    for k, chunk in enumerate(chunks):
        arrays = _compute_chunk(dataset, chunk, [keys[i][2] for i in chunk], net, rx)
        named = np.concatenate([arrays["identity"], arrays["fingerprint"][:, None]], 1)
        key = hashlib.sha256(named.tobytes()).hexdigest()[:12]
        path = cache / f"{tag}-{key}.npz"
        with atomic_open(path, "wb") as stream:  # a file object: numpy adds no .npz suffix
            np.savez_compressed(stream, **arrays)
        rows.update((index, (path, row)) for row, index in enumerate(chunk))
        monitor.step(k + 1, len(chunks), f"geometry predictions {k + 1}/{len(chunks)}")
    out = []
    for index in chosen:
        path, row = rows[index]
        geometry, los = files[path]
        tile = int(dataset.map_tile[index])
        grid = dataset.grid(tile)
        site = dataset.site(index)
        x, y = grid.cell_centers()
        out.append(
            MapContext(
                index=index,
                tile=tile,
                heights=dataset.building_height_m[tile],
                gain_db=dataset.gain_db[index],
                valid=dataset.mask[index] & np.isfinite(dataset.gain_db[index]),
                los=los[row],
                geometry_db=geometry[row].astype(np.float32),
                free_space_db=free_space_gain_db(
                    x, y, (site.x, site.y, site.height_m - rx), site.frequency_mhz
                ),
                resolution=dataset.resolution,
            )
        )
    return out
