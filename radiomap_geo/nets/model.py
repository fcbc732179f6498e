"""A trained coverage network as a :class:`~radiomap_geo.models.base.PathGainModel`.

For each site, :class:`NetworkModel` cuts a square window of the scene around the site's cell,
stacks the input channels the network was trained with (:func:`radiomap_geo.rasterize.feature_stack`),
runs the network (CUDA when available, else CPU; in bfloat16 where the processor has it, see
:mod:`radiomap_geo.nets.inference`) and turns the
normalised output back into dB. It adds nothing else: the network's output *is* the link gain
from the antenna input to an isotropic receiver **including the transmit antenna pattern**, as the
contract requires, because the ray-traced training targets include the pattern and the pattern is
an input channel (``antenna_gain``, ``azimuth_*``). Only weights recorded with
``antenna_pattern="add_direct_ray"`` (trained on isotropic targets) get the pattern along the
direct ray added, as the empirical baselines do.

Window: ``2 * ceil(reach_m / resolution) + 1`` cells centred on the site's cell, grown at the
bottom/right to a multiple of the network's down-sampling factor. The window depends only on the
site, so tiled runs agree wherever the tiles' scenes cover the window; scene rasters are read as
zero (open ground) where the window leaves the scene. Cells farther than ``reach_m`` from the site
(horizontal distance) and cells outside the window are NaN.

Refusals instead of silently wrong numbers:

* **resolution**: a grid whose cell size differs from the trained metres-per-pixel by more than
  ``resolution_tolerance`` (relative, default 1 %) raises :class:`InputError` unless
  ``resolution_mode="resample"``. Resampling rule: the network runs on its own grid at the trained
  cell size, centred on the site; scene rasters are sampled nearest-neighbour at its cell centres
  (building edges stay sharp, heights exact); site channels are computed exactly on it; the
  prediction is interpolated bilinearly (in dB) at the target cell centres. Allowed up to a
  factor ``max_resample_factor`` (default 2) between the two cell sizes.
* **frequency**: a site whose frequency differs from the trained one by more than
  ``frequency_tolerance`` (relative, default 1 %) gets the free-space correction
  ``20 * log10(f_train / f)`` dB (``frequency_mode="correct"``, the default; exact for free space,
  an approximation for diffraction/penetration, which depend more strongly on frequency) within a
  factor ``max_frequency_ratio`` (default 2); beyond that, or with ``frequency_mode="strict"``, it
  raises :class:`InputError`.
* **receiver height**: a scene whose receiver height differs from the trained one by more than
  ``rx_height_tolerance_m`` (default 0.5 m) raises :class:`InputError`.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from affine import Affine

from radiomap_geo.errors import InputError
from radiomap_geo.grid import Grid
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.nets.common import CoverageNet
from radiomap_geo.nets.inference import InferenceRunner
from radiomap_geo.nets.ray_correction import RayCountCorrection
from radiomap_geo.nets.scaling import OutputScaling
from radiomap_geo.nets.tta import (
    TTA_CHOICES,
    dihedral_inputs,
    inverse_transform,
    mean_power_db,
    symmetries,
)
from radiomap_geo.nets.weights import ANTENNA_PATTERN_MODES, load_weights, make_metadata
from radiomap_geo.rasterize import antenna_gain_map, feature_stack
from radiomap_geo.sites import Site

log = logging.getLogger(__name__)
#: The keywords of :meth:`NetworkModel.from_network` that describe the network (its metadata)
#: rather than how to run it; ``reach_m`` here is the trained reach.
_METADATA_KEYWORDS = frozenset(inspect.signature(make_metadata).parameters) - {
    "net",
    "channels",
    "extra",
}


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _crop_padded(array: np.ndarray, row_off: int, col_off: int, height: int, width: int):
    """``array[..., rows, cols]`` for a window that may leave the array; zeros outside."""
    out = np.zeros((*array.shape[:-2], height, width), dtype=np.float32)
    rows, cols = array.shape[-2:]
    r0, c0 = max(row_off, 0), max(col_off, 0)
    r1, c1 = min(row_off + height, rows), min(col_off + width, cols)
    if r1 > r0 and c1 > c0:
        out[..., r0 - row_off : r1 - row_off, c0 - col_off : c1 - col_off] = array[
            ..., r0:r1, c0:c1
        ]
    return out


def window_scene(scene: SceneInputs, row_off: int, col_off: int, height: int, width: int):
    """The scene on a window of its grid that may leave it; rasters are zero outside."""

    def crop(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else _crop_padded(a, row_off, col_off, height, width)

    return SceneInputs(
        grid=scene.grid.window(row_off, col_off, height, width),
        building_height=crop(scene.building_height),
        ndsm=crop(scene.ndsm),
        ortho=crop(scene.ortho),
        rx_height_m=scene.rx_height_m,
    )


def _resample_scene_nearest(scene: SceneInputs, grid: Grid) -> SceneInputs:
    """Sample the scene's rasters at ``grid``'s cell centres (nearest cell; zero outside)."""
    x, y = grid.cell_centers()
    rows, cols = scene.grid.rowcol(x, y)
    inside = (rows >= 0) & (rows < scene.grid.height) & (cols >= 0) & (cols < scene.grid.width)
    r, c = np.clip(rows, 0, scene.grid.height - 1), np.clip(cols, 0, scene.grid.width - 1)

    def sample(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        return np.where(inside, a[..., r, c], 0).astype(np.float32)

    return SceneInputs(
        grid=grid,
        building_height=sample(scene.building_height),
        ndsm=sample(scene.ndsm),
        ortho=sample(scene.ortho),
        rx_height_m=scene.rx_height_m,
    )


def _bilinear_at(values: np.ndarray, grid: Grid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a ``grid`` array at points; NaN outside the cell centres' hull
    extended by half a cell (where the nearest edge value is used).
    """
    from scipy.ndimage import map_coordinates

    t = grid.transform
    col = (x - t.c) / t.a - 0.5
    row = (y - t.f) / t.e - 0.5
    h, w = values.shape
    inside = (row >= -0.5) & (row <= h - 0.5) & (col >= -0.5) & (col <= w - 0.5)
    out = map_coordinates(
        values.astype(np.float64), [np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)], order=1
    )
    return np.where(inside, out, np.nan).astype(np.float32)


class NetworkModel:
    """A coverage network behind the :class:`PathGainModel` contract (see the module docstring).

    Build it with :meth:`from_weights` (a verified weights file) or :meth:`from_network` (a
    network in memory, e.g. during training).
    """

    def __init__(
        self,
        net: CoverageNet,
        metadata: dict[str, Any],
        *,
        name: str | None = None,
        reach_m: float | None = None,
        device: str | torch.device | None = None,
        resolution_mode: str = "strict",
        resolution_tolerance: float = 0.01,
        max_resample_factor: float = 2.0,
        frequency_mode: str = "correct",
        frequency_tolerance: float = 0.01,
        max_frequency_ratio: float = 2.0,
        rx_height_tolerance_m: float = 0.5,
        tta: int = 1,
        precision: str = "auto",
    ):
        if resolution_mode not in ("strict", "resample"):
            raise InputError("resolution_mode must be 'strict' or 'resample'")
        if frequency_mode not in ("strict", "correct"):
            raise InputError("frequency_mode must be 'strict' or 'correct'")
        if metadata.get("antenna_pattern") not in ANTENNA_PATTERN_MODES:
            raise InputError(f"antenna_pattern must be one of {ANTENNA_PATTERN_MODES}")
        trained_reach = float(metadata["reach_m"])
        if reach_m is not None and not 0 < reach_m <= trained_reach * 1.0001:
            raise InputError(
                f"reach {reach_m} m: this network was trained for up to {trained_reach:g} m from "
                "the site; give a positive reach no larger than that"
            )
        self.metadata = dict(metadata)
        self.channels: list[str] = list(metadata["channels"])
        self.metres_per_pixel = float(metadata["metres_per_pixel"])
        self.frequency_mhz = float(metadata["frequency_mhz"])
        self.rx_height_m = float(metadata["rx_height_m"])
        self.scaling = OutputScaling.from_dict(metadata["output_scaling"])
        self.reach_m = float(reach_m if reach_m is not None else trained_reach)
        self.name = name or str(metadata.get("name") or f"net:{metadata['arch']}")
        self.device = torch.device(device) if device is not None else default_device()
        self.net = net.to(self.device).eval()
        if self.device.type == "cpu":  # oneDNN convolutions run ~10-20 % faster in NHWC
            self.net = self.net.to(memory_format=torch.channels_last)
        self.resolution_mode, self.resolution_tolerance = resolution_mode, resolution_tolerance
        self.max_resample_factor = max_resample_factor
        self.frequency_mode, self.frequency_tolerance = frequency_mode, frequency_tolerance
        self.max_frequency_ratio = max_frequency_ratio
        self.rx_height_tolerance_m = rx_height_tolerance_m
        if tta not in TTA_CHOICES:
            raise InputError(
                f"test-time augmentation takes {', '.join(map(str, TTA_CHOICES))} symmetries, "
                f"not {tta}",
                parameter="tta",
            )
        #: Symmetries of the square averaged per prediction (see :mod:`radiomap_geo.nets.tta`).
        self.tta = tta
        #: Runs the network for prediction: bfloat16 where native, frozen graphs on CPU
        #: (:mod:`radiomap_geo.nets.inference`). The network must not change after this.
        self.runner = InferenceRunner(self.net, self.device, precision)
        #: Moves the output to the level of a trace with more rays than the training labels'
        #: (:mod:`radiomap_geo.nets.ray_correction`); None: the network's output as it is.
        self.output_correction = (
            RayCountCorrection.from_dict(metadata["output_correction"])
            if metadata.get("output_correction")
            else None
        )
        #: The verified file and its SHA-256 when built by :meth:`from_weights` (provenance logs).
        self.weights_path: Path | None = None
        self.weights_sha256: str | None = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_weights(
        cls, path: str | Path, expected_sha256: str | None = None, **options: Any
    ) -> NetworkModel:
        """Load a verified weights file (see :func:`radiomap_geo.nets.weights.load_weights`)."""
        loaded = load_weights(path, expected_sha256)
        name = options.pop("name", None) or (
            f"net:{loaded.metadata.get('name') or loaded.metadata['arch']}-{loaded.sha256[:12]}"
        )
        model = cls(loaded.build(), loaded.metadata, name=name, **options)
        model.weights_path, model.weights_sha256 = loaded.path, loaded.sha256
        return model

    @classmethod
    def from_network(
        cls, net: CoverageNet, channels: Sequence[str], **keywords: Any
    ) -> NetworkModel:
        """Wrap a network in memory. The keywords of :func:`make_metadata` (``metres_per_pixel``,
        ``frequency_mhz`` and ``reach_m`` are required; ``scaling``, ``rx_height_m``,
        ``antenna_pattern``...) build its metadata; the others are constructor options.
        """
        meta = {k: keywords.pop(k) for k in list(keywords) if k in _METADATA_KEYWORDS}
        return cls(net, make_metadata(net, channels, **meta), **keywords)

    # -- geometry ------------------------------------------------------------------------------
    @property
    def native_resolution_m(self) -> float:
        """The cell size the network was trained on (the engine computes scenes near it)."""
        return self.metres_per_pixel

    def window_cells(self, resolution: float | None = None) -> tuple[int, int]:
        """``(half, size)``: the site's cell sits at ``(half, half)`` of a ``size``-cell window."""
        res = self.metres_per_pixel if resolution is None else resolution
        half = math.ceil(self.reach_m / res - 1e-9)
        return half, _round_up(2 * half + 1, self.net.size_multiple)

    @property
    def context_m(self) -> float:
        """How far from the site (metres, worst case) the network reads the scene.

        A tiled engine reproduces single-run results exactly only if each tile's scene covers
        this far around every site it asks about.
        """
        half, size = self.window_cells()
        return math.hypot(size - half, size - half) * self.metres_per_pixel

    # -- checks --------------------------------------------------------------------------------
    def _check_rx_height(self, scene: SceneInputs) -> None:
        if abs(scene.rx_height_m - self.rx_height_m) > self.rx_height_tolerance_m:
            raise InputError(
                f"{self.name} was trained for receivers {self.rx_height_m:g} m above ground, "
                f"not {scene.rx_height_m:g} m: set the receiver height to {self.rx_height_m:g} m "
                "or use a model trained for that height"
            )

    def frequency_correction_db(self, frequency_mhz: float, site_id: str | None = None) -> float:
        """Decibels added for a site at ``frequency_mhz`` (see the module docstring); may raise."""
        ratio = self.frequency_mhz / frequency_mhz
        if abs(ratio - 1.0) <= self.frequency_tolerance:
            return 0.0
        if self.frequency_mode == "strict" or not (
            1.0 / self.max_frequency_ratio <= ratio <= self.max_frequency_ratio
        ):
            low = self.frequency_mhz / self.max_frequency_ratio
            high = self.frequency_mhz * self.max_frequency_ratio
            why = (
                "(frequency_mode='strict')"
                if self.frequency_mode == "strict"
                else f"(it corrects the free-space loss from {low:g} to {high:g} MHz)"
            )
            raise InputError(
                f"{'site ' + repr(site_id) + ': ' if site_id else ''}{self.name} was trained at "
                f"{self.frequency_mhz:g} MHz; a site at {frequency_mhz:g} MHz is outside what it "
                f"can predict {why}: check the site's frequency_mhz, or choose a physics "
                "baseline such as 3gpp-uma",
                parameter="sites",
            )
        return float(20.0 * math.log10(ratio))

    def _log_correction(self, frequency_mhz: float, correction_db: float) -> None:
        logged = self.__dict__.setdefault("_logged_frequencies", set())
        if frequency_mhz in logged:
            return
        logged.add(frequency_mhz)
        log.warning(
            "%s was trained at %g MHz; sites at %g MHz get the free-space correction %+.2f dB "
            "(exact for free space, approximate for diffraction and penetration)",
            self.name,
            self.frequency_mhz,
            frequency_mhz,
            correction_db,
        )

    def _needs_resampling(self, resolution: float) -> bool:
        ratio = resolution / self.metres_per_pixel
        if abs(ratio - 1.0) <= self.resolution_tolerance:
            return False
        factor = max(ratio, 1.0 / ratio)
        if self.resolution_mode == "strict" or factor > self.max_resample_factor:
            low = self.metres_per_pixel / self.max_resample_factor
            hint = (
                "use that resolution, or resolution_mode='resample'"
                if self.resolution_mode == "strict"
                else f"it resamples up to a factor {self.max_resample_factor:g}: choose cells "
                f"of at least {low:g} m (coarser ones are averaged from the network's own), or "
                "a physics baseline such as 3gpp-uma"
            )
            raise InputError(
                f"{self.name} was trained on {self.metres_per_pixel:g} m cells but the grid has "
                f"{resolution:g} m cells: {hint}",
                parameter="resolution",
            )
        return True

    # -- prediction ----------------------------------------------------------------------------
    def predict_window(self, scene: SceneInputs, site: Site) -> np.ndarray:
        """Run the network on ``scene`` (already at the trained resolution) -> dB, float32.

        ``scene.grid`` must have a shape the network accepts (multiples of its
        ``size_multiple``). No frequency correction, no reach mask.
        """
        chosen = symmetries(self.tta, site.antenna)
        if len(chosen) == 1:
            features = feature_stack(scene, site, self.channels)[None]
        else:
            features = dihedral_inputs(scene, site, self.channels, chosen)
        x = torch.from_numpy(features).to(self.device)
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        norm = self.runner(x)[:, 0].cpu().numpy()
        outputs = self.scaling.to_db(norm).astype(np.float32)
        if len(chosen) == 1:
            db = outputs[0]
        else:
            db = mean_power_db(
                np.stack([inverse_transform(out, sym) for out, sym in zip(outputs, chosen)])
            )
        if self.metadata["antenna_pattern"] == "add_direct_ray":
            db = db + antenna_gain_map(scene.grid, site, scene.rx_height_m)
        if self.output_correction is not None:
            if len(chosen) == 1 and "los" in self.channels:  # already computed as an input
                los = features[0, self.channels.index("los")]
            else:
                (los,) = feature_stack(scene, site, ["los"])
            db = self.output_correction.apply(db, los > 0.5)
        return db

    def path_gain_db(self, scene: SceneInputs, site: Site, target: Grid) -> np.ndarray:
        """Path gain (dB, incl. the antenna pattern) on ``target`` for ``site``; NaN beyond reach."""
        self._check_rx_height(scene)
        correction = self.frequency_correction_db(site.frequency_mhz, site.site_id)
        if correction:
            # The network sees the frequency it was trained at (its free-space and knife-edge
            # channels too); the free-space correction is then applied once, to the output.
            self._log_correction(site.frequency_mhz, correction)
            site = replace(site, frequency_mhz=self.frequency_mhz)
        if self._needs_resampling(scene.grid.resolution):
            out = self._predict_resampled(scene, site, target)
        else:
            out = self._predict_aligned(scene, site, target)
        x, y = target.cell_centers()
        out[np.hypot(x - site.x, y - site.y) > self.reach_m] = np.nan
        return (out + np.float32(correction)).astype(np.float32)

    def _predict_aligned(self, scene: SceneInputs, site: Site, target: Grid) -> np.ndarray:
        half, size = self.window_cells(scene.grid.resolution)
        row, col = scene.grid.rowcol(site.x, site.y)
        top, left = int(row) - half, int(col) - half
        out = np.full(target.shape, np.nan, np.float32)
        t_row, t_col = target.offset_in(scene.grid)
        # Overlap of the window and the target, in scene-grid cells.
        r0, c0 = max(top, t_row), max(left, t_col)
        r1 = min(top + size, t_row + target.height)
        c1 = min(left + size, t_col + target.width)
        if r1 > r0 and c1 > c0:  # else nothing to predict: skip the network
            db = self.predict_window(window_scene(scene, top, left, size, size), site)
            out[r0 - t_row : r1 - t_row, c0 - t_col : c1 - t_col] = db[
                r0 - top : r1 - top, c0 - left : c1 - left
            ]
        return out

    def _predict_resampled(self, scene: SceneInputs, site: Site, target: Grid) -> np.ndarray:
        res = self.metres_per_pixel
        half, size = self.window_cells(res)
        # The network's own grid: trained cell size, the site at the centre of cell (half, half).
        transform = Affine(
            res, 0.0, site.x - (half + 0.5) * res, 0.0, -res, site.y + (half + 0.5) * res
        )
        grid = Grid(scene.grid.crs, transform, (size, size))
        db = self.predict_window(_resample_scene_nearest(scene, grid), site)
        x, y = target.cell_centers()
        return _bilinear_at(db, grid, x, y)

    def __repr__(self) -> str:
        return (
            f"NetworkModel({self.name!r}, {self.metadata['arch']}, {self.metres_per_pixel:g} m, "
            f"{self.frequency_mhz:g} MHz, reach {self.reach_m:g} m, device={self.device})"
        )
