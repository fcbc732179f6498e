"""Training samples, geometry-consistent augmentation and batching for coverage networks.

A :class:`MapSample` is one ray-traced map in the form a model sees at prediction time: a
:class:`~radiomap_geo.models.base.SceneInputs` (building heights on a metric grid), one
:class:`~radiomap_geo.sites.Site`, the path gain in dB and a validity mask on the same grid. The
dataset reader only has to produce these; :class:`MapBatches` turns them into the
``(inputs, target_db, mask)`` tensors :func:`radiomap_geo.nets.train.train` consumes, computing the
input channels with :func:`radiomap_geo.rasterize.feature_stack`, exactly as
:class:`~radiomap_geo.nets.model.NetworkModel` does at prediction time.

Augmentation uses the eight symmetries of the square (rotations by multiples of 90 degrees, with
or without an east-west mirror). It transforms the *raw* scene and site, then computes the
channels: the rasters and labels are rotated/mirrored, the site is moved to the transformed
position and its boresight azimuth turned with the map (rotating the map 90 degrees
counter-clockwise turns a boresight ``az`` into ``az - 90``; the mirror turns it into ``-az``).
Distance, anchor, azimuth and antenna-gain channels are therefore consistent by construction. A
mirror also mirrors the antenna pattern, so mirrors are skipped for patterns that are not
left-right symmetric about boresight.

The dataset's tiles carry building heights only. Networks that read an orthophoto or an nDSM
(:data:`RENDERED_CHANNELS`) are trained on renderings of each tile (:class:`TileRenderer`, once
per tile and cached); :class:`MapBatches` adds a photometric augmentation of the orthophoto
(``ortho_augment``) on top of the dihedral one, which rotates and mirrors the orthophoto and the
nDSM with the rest of the scene.

The ray-walk channels (:data:`RAY_CHANNELS`: line of sight, building depth, knife-edge loss) cost
far more than the closed-form ones. :class:`RayChannelCache` computes them once per map (on the
whole, untransformed map, keyed by :attr:`MapSample.key`) and derives them for every crop and
symmetry of that map (:attr:`MapSample.window`, :attr:`MapSample.symmetry`): they are scalar
fields on the cells, so a crop's values are the window of the whole map's and a rotated map's are
the rotated raster. Two consequences (both harmless, documented in :class:`RayChannelCache`): a
ray whose samples fall exactly on cell boundaries may resolve them differently on the rotated
raster, so the derived channels agree with a fresh ray walk on the transformed map on all but a
small fraction of cells (about 1e-5 for ``los``, 1e-3 for the obstruction channels on the
dataset's maps), and rays that leave a crop see the whole map's buildings there.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from affine import Affine

from radiomap_geo.grid import Grid, to_crs
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.nets.symmetry import (
    IDENTITY,
    Symmetry,
    compose_symmetries,
    pattern_is_mirror_symmetric,
    transform_array,
    transform_scene,
    transform_site,
)
from radiomap_geo.rasterize import feature_stack
from radiomap_geo.sites import Site

#: A training batch: inputs ``(B, C, H, W)`` float32, target path gain in dB ``(B, 1, H, W)``
#: float32 (any finite value where the mask is False), mask ``(B, 1, H, W)`` bool.
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]

#: Stand-in for invalid target cells (never used by the masked losses and metrics).
INVALID_DB = -250.0

#: Orthophoto bands as input channels (red, green, blue, near infrared).
ORTHO_CHANNELS = ("ortho_r", "ortho_g", "ortho_b", "ortho_ir")
#: Channels the dataset's tiles lack: drawn from renderings of the tiles (:class:`TileRenderer`).
RENDERED_CHANNELS = (*ORTHO_CHANNELS, "ndsm")


#: Channels computed by walking rays over the building raster (cached per map, see
#: :class:`RayChannelCache`); the other channels are cheap closed forms.
RAY_CHANNELS = ("los", "building_depth", "knife_edge_db", "detour")


@dataclass(frozen=True)
class MapSample:
    """One training map: scene, site, labels (``path_gain_db``, ``valid``) and optional LOS.

    Attributes:
        scene: building heights (and rendered inputs) on the map's grid.
        site: the transmitter.
        path_gain_db: label (dB, NaN = no value) on the scene grid.
        valid: label validity on the scene grid.
        los: optional line-of-sight raster on the scene grid (not an input channel).
        key: identifies the whole map the sample was derived from (hashable, stable across
            epochs), or None; keyed samples get their ray-walk channels from a
            :class:`RayChannelCache`.
        window: ``(row_off, col_off, height, width)`` of this sample inside the whole map of
            ``key`` (None: the whole map); taken before ``symmetry``.
        symmetry: ``(k, flip)`` applied to the (windowed) whole map so far.
    """

    scene: SceneInputs
    site: Site
    path_gain_db: np.ndarray
    valid: np.ndarray
    los: np.ndarray | None = None
    key: Hashable | None = None
    window: tuple[int, int, int, int] | None = None
    symmetry: Symmetry = IDENTITY

    def __post_init__(self) -> None:
        shape = self.scene.grid.shape
        for name in ("path_gain_db", "valid", "los"):
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise ValueError(f"{name} has shape {value.shape}, the scene grid {shape}")
        if self.window is not None:
            height, width = self.window[2:]
            expected = (height, width) if self.symmetry[0] % 2 == 0 else (width, height)
            if expected != shape:
                raise ValueError(f"window {self.window} does not match the scene grid {shape}")

    @property
    def is_whole(self) -> bool:
        """Whether this is the whole map of its key as it is (no window, no symmetry)."""
        return self.window is None and self.symmetry == IDENTITY


#: Any metric CRS does for training maps: channels depend only on offsets from the site.
LOCAL_CRS = "EPSG:32633"


def map_sample_from_arrays(
    building_height: np.ndarray,
    path_gain_db: np.ndarray,
    valid: np.ndarray,
    *,
    metres_per_pixel: float,
    site_row: float,
    site_col: float,
    site_height_m: float,
    frequency_mhz: float = 3500.0,
    antenna: str = "iso",
    azimuth_deg: float = 0.0,
    tilt_deg: float = 0.0,
    rx_height_m: float = 1.5,
    los: np.ndarray | None = None,
    ndsm: np.ndarray | None = None,
    site_id: str = "tx",
) -> MapSample:
    """A :class:`MapSample` from the arrays of a dataset shard (what a reader needs to call).

    The map gets a local north-up grid (row 0 is the northern edge, column 0 the western one)
    in :data:`LOCAL_CRS`; absolute coordinates do not matter to any channel. The site sits at
    fractional pixel position ``(site_row, site_col)``, where ``(r + 0.5, c + 0.5)`` is the centre
    of cell ``(r, c)``; ``site_height_m`` is its antenna height above ground.
    """
    rows, cols = building_height.shape
    grid = Grid(
        to_crs(LOCAL_CRS),
        Affine(metres_per_pixel, 0.0, 0.0, 0.0, -metres_per_pixel, rows * metres_per_pixel),
        (rows, cols),
    )
    x, y = grid.transform @ (site_col, site_row)
    site = Site(
        site_id=site_id,
        x=float(x),
        y=float(y),
        height_m=float(site_height_m),
        frequency_mhz=float(frequency_mhz),
        antenna=antenna,
        azimuth_deg=float(azimuth_deg),
        tilt_deg=float(tilt_deg),
    )
    site.validate()
    scene = SceneInputs(
        grid=grid,
        building_height=np.asarray(building_height, dtype=np.float32),
        ndsm=None if ndsm is None else np.asarray(ndsm, dtype=np.float32),
        rx_height_m=rx_height_m,
    )
    return MapSample(
        scene, site, np.asarray(path_gain_db, dtype=np.float32), np.asarray(valid, bool), los
    )


def samples_from_dataset(
    dataset: Any, rx_height_m: float | None = None, renderer: TileRenderer | None = None
) -> Iterator[MapSample]:
    """:class:`MapSample` objects from a loaded dataset split (``radiomap_geo.dataset``).

    Duck-typed on what :class:`radiomap_geo.dataset.RadioMapDataset` offers: ``len()``,
    ``grid(tile)``, ``site(index)``, ``map_tile``, ``building_height_m``, ``gain_db`` (NaN = no
    value), ``mask`` and ``manifest["config"]["rx_height_m"]`` (used unless ``rx_height_m``);
    with ``renderer`` also ``tile_id`` (the scenes get rendered orthophoto/nDSM inputs).
    """
    if rx_height_m is None:
        rx_height_m = float(dataset.manifest["config"].get("rx_height_m", 1.5))
    scenes: dict[int, SceneInputs] = {}
    for index in range(len(dataset)):
        tile = int(dataset.map_tile[index])
        if tile not in scenes:
            scenes[tile] = tile_scene(dataset, tile, rx_height_m, renderer)
        yield MapSample(
            scenes[tile], dataset.site(index), dataset.gain_db[index], dataset.mask[index]
        )


def tile_scene(
    dataset: Any, tile: int, rx_height_m: float, renderer: TileRenderer | None = None
) -> SceneInputs:
    """The scene of tile number ``tile`` of a loaded split (rendered inputs with ``renderer``)."""
    scene = SceneInputs(
        grid=dataset.grid(tile),
        building_height=dataset.building_height_m[tile],
        rx_height_m=rx_height_m,
    )
    return scene if renderer is None else renderer(scene, int(dataset.tile_id[tile]))


# -- rendered orthophoto / nDSM inputs ----------------------------------------------------------
def needs_rendering(channels: Iterable[str]) -> bool:
    """Whether ``channels`` read an orthophoto or an nDSM (which dataset tiles lack)."""
    return any(c in RENDERED_CHANNELS for c in channels)


def reads_ortho(channels: Iterable[str]) -> bool:
    """Whether ``channels`` read an orthophoto band."""
    return any(c in ORTHO_CHANNELS for c in channels)


class TileRenderer:
    """Rendered orthophoto (and nDSM) inputs of dataset tiles, drawn once per tile and cached.

    A tile's rendering is :func:`radiomap_geo.dataset.ortho.with_rendered_inputs` with the seed
    :func:`~radiomap_geo.dataset.ortho.tile_seed` ``(tile_id, seed)``: 4 bands when the channels
    read ``ortho_ir`` (else RGB) and the rendered nDSM when they read ``ndsm``. It depends only on
    the tile id, the seed and the heights, so every call for a tile returns the same arrays
    (read-only: the same objects, shared by every map of the tile).

    Args:
        channels: the network's input channels.
        seed: the rendering seed (fixed: no per-epoch re-rendering).
        max_tiles: keep at most this many tiles' renderings (least recently used go first;
            default all).
    """

    def __init__(self, channels: Sequence[str], seed: int = 0, max_tiles: int | None = None):
        if max_tiles is not None and max_tiles < 1:
            raise ValueError(f"max_tiles must be >= 1, got {max_tiles}")
        self.bands = 4 if "ortho_ir" in channels else 3
        self.ndsm = "ndsm" in channels
        self.seed, self.max_tiles = int(seed), max_tiles
        self._rasters: OrderedDict[int, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()

    @classmethod
    def for_channels(
        cls, channels: Sequence[str], seed: int = 0, max_tiles: int | None = None
    ) -> TileRenderer | None:
        """A renderer when ``channels`` need rendered inputs, else None."""
        return cls(channels, seed, max_tiles) if needs_rendering(channels) else None

    def settings(self) -> dict[str, Any]:
        """What defines the renderings (for run settings and reports)."""
        return {"seed": self.seed, "bands": self.bands, "ndsm": self.ndsm}

    def __call__(self, scene: SceneInputs, tile_id: int) -> SceneInputs:
        """``scene`` (the heights of tile ``tile_id``) with its rendered ``ortho`` / ``ndsm``."""
        key = int(tile_id)
        if key not in self._rasters:
            self._rasters[key] = self._render(scene, key)
            if self.max_tiles is not None and len(self._rasters) > self.max_tiles:
                self._rasters.popitem(last=False)
        self._rasters.move_to_end(key)
        ortho, ndsm = self._rasters[key]
        return replace(scene, ortho=ortho, ndsm=ndsm if ndsm is not None else scene.ndsm)

    def _render(self, scene: SceneInputs, tile_id: int) -> tuple[np.ndarray, np.ndarray | None]:
        from radiomap_geo.dataset.ortho import tile_seed, with_rendered_inputs

        seed = tile_seed(tile_id, self.seed)
        rendered = with_rendered_inputs(scene, seed, bands=self.bands, ndsm=self.ndsm)
        for array in (rendered.ortho, rendered.ndsm):
            if array is not None and array is not scene.ndsm:
                array.flags.writeable = False  # shared by every map of the tile
        return rendered.ortho, rendered.ndsm


def augment_sample_ortho(sample: MapSample, rng: np.random.Generator, strength: float) -> MapSample:
    """The sample with its orthophoto photometrically augmented (geometry and labels untouched).

    See :func:`radiomap_geo.dataset.ortho.augment_ortho`; a sample without an orthophoto, or a
    strength of 0, is returned as it is.
    """
    if sample.scene.ortho is None or strength <= 0:
        return sample
    from radiomap_geo.dataset.ortho import augment_ortho

    ortho = augment_ortho(sample.scene.ortho, rng, strength=strength)
    return replace(sample, scene=replace(sample.scene, ortho=ortho))


def transform_sample(sample: MapSample, k: int, flip: bool) -> MapSample:
    """Apply one symmetry to a whole sample (scene, site and labels)."""
    if flip and not pattern_is_mirror_symmetric(sample.site.antenna):
        raise ValueError(f"antenna {sample.site.antenna!r} is not mirror-symmetric: no mirroring")
    return MapSample(
        scene=transform_scene(sample.scene, k, flip),
        site=transform_site(sample.site, sample.scene.grid, k, flip),
        path_gain_db=transform_array(sample.path_gain_db, k, flip),
        valid=transform_array(sample.valid, k, flip),
        los=None if sample.los is None else transform_array(sample.los, k, flip),
        key=sample.key,
        window=sample.window,
        symmetry=compose_symmetries(sample.symmetry, (k, flip)),
    )


def random_transform(sample: MapSample, rng: np.random.Generator) -> MapSample:
    """One of the eight symmetries at random (mirrors only for mirror-symmetric antennas).

    Rotations by 90/270 degrees are used only for square maps, so batches keep their shape.
    """
    square = sample.scene.grid.height == sample.scene.grid.width
    k = int(rng.integers(4)) if square else 2 * int(rng.integers(2))
    flip = bool(rng.integers(2)) and pattern_is_mirror_symmetric(sample.site.antenna)
    return transform_sample(sample, k, flip) if (k or flip) else sample


# -- cached ray-walk channels ---------------------------------------------------------------------
class RayChannelCache:
    """The ray-walk channels (:data:`RAY_CHANNELS`) of whole maps, computed once per map key.

    :meth:`remember` computes the channels of a keyed whole map (:attr:`MapSample.is_whole`) the
    first time it sees its key, with :func:`~radiomap_geo.rasterize.feature_stack` exactly as
    :class:`~radiomap_geo.nets.model.NetworkModel` does at prediction time, and keeps them
    compactly: ``los`` as bool (exact), ``building_depth`` and ``knife_edge_db`` as float16 (a
    relative error below 5e-4 of the normalised values: 0.02 dB at 40 dB of knife-edge loss).
    :meth:`channels` derives them for any sample of that map: the window
    (:attr:`MapSample.window`) of the whole map's rasters, then its symmetry
    (:func:`transform_array`). A 128 x 128 map holds 16 KiB of ``los`` and 32 KiB per
    obstruction channel (80 KiB with all three).

    The derived values are the whole map's channels moved with the map, not a fresh ray walk on
    the cropped/transformed sample; the two differ only where a fresh walk would differ from the
    map's own:

    * symmetries: ray samples that fall exactly on a cell boundary (axis-parallel and other
      lattice directions from a site at a cell centre) round to the other cell on the mirrored
      raster; on the dataset's maps that changes about 1e-5 of the ``los`` cells and 1e-3 of the
      obstruction cells. The cached values are exactly the symmetric image of what the network
      sees on the map as it is, consistent with the transformed labels.
    * crops: with the site inside the window every ray stays inside it (a window is convex), so
      crops agree with a fresh walk up to the same rounding; a ray that leaves the window (site
      outside it) would read the window's edge cells there in a fresh walk, the cache reads the
      whole map's buildings, which is what the labels were traced with.

    Args:
        channels: the network's input channels (only the ray-walk ones among them are kept).
        max_maps: keep at most this many maps (least recently used go first; default all).
    """

    def __init__(self, channels: Sequence[str], max_maps: int | None = None):
        if max_maps is not None and max_maps < 1:
            raise ValueError(f"max_maps must be >= 1, got {max_maps}")
        self.names = [name for name in RAY_CHANNELS if name in channels]
        self.max_maps = max_maps
        self.computed = 0  # whole maps computed so far (instrumentation)
        self._maps: OrderedDict[Hashable, dict[str, np.ndarray]] = OrderedDict()

    @classmethod
    def for_channels(
        cls, channels: Sequence[str], max_maps: int | None = None
    ) -> RayChannelCache | None:
        """A cache when ``channels`` include a ray-walk channel, else None."""
        return cls(channels, max_maps) if any(c in RAY_CHANNELS for c in channels) else None

    def __len__(self) -> int:
        return len(self._maps)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._maps

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached rasters."""
        return sum(a.nbytes for arrays in self._maps.values() for a in arrays.values())

    def remember(self, sample: MapSample) -> None:
        """Compute and keep the channels of a keyed whole map not seen yet (else do nothing)."""
        if not self.names or sample.key is None or not sample.is_whole:
            return
        if sample.key in self._maps:
            self._maps.move_to_end(sample.key)
            return
        self._maps[sample.key] = self._compute(sample)
        self.computed += 1
        if self.max_maps is not None and len(self._maps) > self.max_maps:
            self._maps.popitem(last=False)

    def _compute(self, sample: MapSample) -> dict[str, np.ndarray]:
        stack = feature_stack(sample.scene, sample.site, self.names)
        return {
            name: stack[i] > 0.5 if name == "los" else stack[i].astype(np.float16)
            for i, name in enumerate(self.names)
        }

    def channels(self, sample: MapSample) -> dict[str, np.ndarray] | None:
        """The cached channels (float32 rasters on the sample's grid), or None if not cached."""
        arrays = self._maps.get(sample.key) if sample.key is not None else None
        if arrays is None:
            return None
        rows, cols = next(iter(arrays.values())).shape
        r0, c0, h, w = sample.window or (0, 0, rows, cols)
        if r0 < 0 or c0 < 0 or r0 + h > rows or c0 + w > cols:
            raise ValueError(f"window {sample.window} outside the cached {rows} x {cols} map")
        k, flip = sample.symmetry
        return {
            name: transform_array(a[r0 : r0 + h, c0 : c0 + w], k, flip).astype(np.float32)
            for name, a in arrays.items()
        }


# -- samples to tensors ---------------------------------------------------------------------------
def input_stack(
    sample: MapSample, channels: Sequence[str], cache: RayChannelCache | None = None
) -> np.ndarray:
    """The ``(C, H, W)`` float32 inputs of a sample: ray-walk channels from ``cache`` when it
    holds the sample's map, the others (or all) computed by :func:`feature_stack`.
    """
    cached = cache.channels(sample) if cache is not None else None
    if not cached:
        return feature_stack(sample.scene, sample.site, channels)
    rest = [name for name in channels if name not in cached]
    fresh = feature_stack(sample.scene, sample.site, rest) if rest else []
    computed = dict(zip(rest, fresh))
    return np.stack([cached[n] if n in cached else computed[n] for n in channels])


def sample_tensors(
    sample: MapSample,
    channels: Sequence[str],
    no_ray_label_db: float | None = None,
    cache: RayChannelCache | None = None,
) -> Batch:
    """``(inputs (C,H,W), target_db (1,H,W), mask (1,H,W))`` for one sample.

    With ``no_ray_label_db``, outdoor cells without a label (no ray reached them: the ray tracer
    found them weak) become valid cells with that label, e.g. the scaling's floor, instead of
    being ignored; the loss then treats them as weak cells (``weak_weight``). Without it the
    network is never told anything about them. With ``cache``, the ray-walk channels of a keyed
    sample come from it (see :func:`input_stack`).
    """
    inputs = torch.from_numpy(input_stack(sample, channels, cache))
    target = np.asarray(sample.path_gain_db, dtype=np.float32)
    mask = np.asarray(sample.valid, dtype=bool) & np.isfinite(target)
    if no_ray_label_db is not None:
        no_ray = ~mask & ~sample.scene.building_mask
        target = np.where(no_ray, np.float32(no_ray_label_db), target)
        mask = mask | no_ray
    target = np.where(mask, target, np.float32(INVALID_DB)).astype(np.float32)
    return inputs, torch.from_numpy(target)[None], torch.from_numpy(mask)[None]


def collate(items: Sequence[Batch]) -> Batch:
    """Stack per-sample tensors into a batch (all maps must have the same shape)."""
    shapes = {tuple(item[0].shape) for item in items}
    if len(shapes) != 1:
        raise ValueError(f"maps in one batch must share a shape, got {sorted(shapes)}")
    return tuple(torch.stack([item[i] for item in items]) for i in range(3))  # type: ignore[return-value]


class MapBatches:
    """A re-iterable stream of training batches built from :class:`MapSample` objects.

    Args:
        samples: a sequence of samples, or a callable returning a fresh iterable per epoch
            (e.g. a shard reader that shuffles).
        channels: input channel names (as recorded in the weights metadata).
        batch_size: maps per batch.
        augment: apply :func:`random_transform` to every sample (training only).
        shuffle: shuffle a sequence of samples each epoch.
        drop_last: drop a final short batch.
        seed: seed of the augmentation/shuffle generator (each epoch continues the stream).
        no_ray_label_db: label for outdoor cells without a value (see :func:`sample_tensors`).
        ortho_augment: strength of the photometric augmentation of each sample's orthophoto
            (:func:`augment_sample_ortho`, after the symmetry; training only; 0 = none). It
            draws from its own stream (seeded from ``seed``), so the shuffles and symmetries do
            not depend on it.
        cache: take the ray-walk channels of keyed samples (:attr:`MapSample.key`) from a
            :class:`RayChannelCache`, filled as whole maps come from ``samples`` (True: a cache
            of all maps when ``channels`` need one; False: compute every channel every time; or
            a cache to use). Samples without a key are computed as they are.
    """

    def __init__(
        self,
        samples: Sequence[MapSample] | Callable[[], Iterable[MapSample]],
        channels: Sequence[str],
        batch_size: int,
        *,
        augment: bool = False,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        no_ray_label_db: float | None = None,
        ortho_augment: float = 0.0,
        cache: bool | RayChannelCache = True,
    ):
        self.samples, self.channels = samples, list(channels)
        self.batch_size, self.augment, self.shuffle = int(batch_size), augment, shuffle
        self.drop_last, self.no_ray_label_db = drop_last, no_ray_label_db
        self.rng = np.random.default_rng(seed)
        self.ortho_augment = float(ortho_augment)
        self.ortho_rng = np.random.default_rng([seed, 1])
        if isinstance(cache, RayChannelCache):
            self.cache: RayChannelCache | None = cache
        else:
            self.cache = RayChannelCache.for_channels(self.channels) if cache else None

    def __len__(self) -> int:
        if callable(self.samples):
            raise TypeError("the number of batches of a streamed source is unknown")
        n = len(self.samples)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _source(self) -> Iterable[MapSample]:
        if callable(self.samples):
            return self.samples()
        if self.shuffle:
            return [self.samples[i] for i in self.rng.permutation(len(self.samples))]
        return self.samples

    def _window(self, sample: MapSample) -> MapSample:
        """The part of a source sample to train on (the whole map here; subclasses crop)."""
        return sample

    def _prepare(self, sample: MapSample) -> MapSample:
        """A source sample as the network sees it this time: windowed and augmented."""
        sample = self._window(sample)
        if self.augment:
            sample = random_transform(sample, self.rng)
        if self.ortho_augment > 0:
            sample = augment_sample_ortho(sample, self.ortho_rng, self.ortho_augment)
        return sample

    def __iter__(self) -> Iterator[Batch]:
        pending: list[Batch] = []
        for sample in self._source():
            if self.cache is not None:
                self.cache.remember(sample)
            sample = self._prepare(sample)
            pending.append(sample_tensors(sample, self.channels, self.no_ray_label_db, self.cache))
            if len(pending) == self.batch_size:
                yield collate(pending)
                pending = []
        if pending and not self.drop_last:
            yield collate(pending)
