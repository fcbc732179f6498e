"""The path-gain maps of every site as a function of their orientation and power.

:class:`NetworkSurrogate` runs a trained network with frozen weights on the optimisation area
("tile mode", as the networks were trained and tested: the whole area in one window, padded to
the network's size multiple). Only the input channels that depend on the orientation are
recomputed per evaluation, in torch so that gradients reach the angles:

* ``azimuth_cos`` / ``azimuth_sin``: the horizontal angle of each cell from the boresight;
* ``antenna_gain``: the pattern along the direct ray (:mod:`radiomap_geo.optimize.gain`);
* weights trained on isotropic targets (``antenna_pattern="add_direct_ray"``) get the same
  differentiable gain added to their output.

Every other channel (buildings, distances, line of sight, knife-edge...) is computed once with
:func:`radiomap_geo.rasterize.feature_stack`. :class:`ModelSurrogate` wraps any other model
(the physics baselines): exact values, no gradient, usable by random search only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from radiomap_geo.antenna import get_pattern
from radiomap_geo.errors import InputError
from radiomap_geo.models.base import SceneInputs
from radiomap_geo.optimize.gain import TorchPattern, bearing_and_depression, relative_angles
from radiomap_geo.rasterize import feature_stack, site_offsets
from radiomap_geo.sites import Site

ORIENTATION_CHANNELS = ("azimuth_cos", "azimuth_sin", "antenna_gain")
#: Input channels read from rasters, which ``optimize`` does not take (it rasterises footprints).
RASTER_CHANNELS = {
    "ndsm": "an nDSM",
    "ortho_r": "an orthophoto",
    "ortho_g": "an orthophoto",
    "ortho_b": "an orthophoto",
    "ortho_ir": "an orthophoto",
}
#: Sites per network batch (bounds the memory of the backward pass).
BATCH = 12


def network_of(model: object) -> object | None:
    """The :class:`~radiomap_geo.nets.model.NetworkModel` inside ``model`` (itself or a blend's)."""
    from radiomap_geo.nets.model import NetworkModel

    if isinstance(model, NetworkModel):
        return model
    inner = getattr(model, "net", None)
    return inner if isinstance(inner, NetworkModel) else None


def reads_orientation(net_model: object) -> bool:
    """True when a network's output depends on the antenna orientation through its inputs."""
    return _orientation_read(net_model.channels, net_model.metadata)


def _orientation_read(channels: Sequence[str], metadata: dict) -> bool:
    return bool(set(channels) & set(ORIENTATION_CHANNELS)) or (
        metadata.get("antenna_pattern") == "add_direct_ray"
    )


def raster_inputs(channels: Sequence[str]) -> list[str]:
    """What of :data:`RASTER_CHANNELS` ``channels`` read (``["an nDSM", "an orthophoto"]``)."""
    return list(dict.fromkeys(RASTER_CHANNELS[c] for c in channels if c in RASTER_CHANNELS))


def check_inputs(model: object) -> None:
    """Refuse a model that reads rasters (an nDSM, an orthophoto): the optimisation has none.

    Raises:
        InputError: naming the models the optimisation can use instead (from the registry).
    """
    net_model = network_of(model)
    needs = raster_inputs(net_model.channels) if net_model is not None else []
    if not needs:
        return
    networks, others = usable_models()
    raise InputError(
        f"model {net_model.name!r} reads {' and '.join(needs)}, and the optimisation takes no "
        "rasters (networks that read an nDSM or an orthophoto are refused for now): use one of "
        f"the networks {', '.join(networks) or '(none installed)'}, or with method random one "
        f"of {', '.join(others)}",
        parameter="model",
    )


def usable_models() -> tuple[list[str], list[str]]:
    """``(networks, others)``: the registry's models the optimisation can use, ``networks``
    with gradients (they read the orientation), ``others`` for random search only (the physics
    baselines and networks that read no orientation). Networks whose weights cannot be read are
    left out.
    """
    from radiomap_geo.errors import WeightsError
    from radiomap_geo.models.registry import list_models, shipped_models
    from radiomap_geo.nets.weights import load_weights

    shipped = shipped_models()
    networks, others = [], []
    for name in list_models():
        if name not in shipped:
            others.append(name)
            continue
        try:
            metadata = load_weights(shipped[name]["path"], shipped[name]["sha256"]).metadata
        except WeightsError:
            continue
        if not raster_inputs(metadata["channels"]):
            usable = _orientation_read(metadata["channels"], metadata)
            (networks if usable else others).append(name)
    return networks, others


class NetworkSurrogate:
    """Differentiable path gain (dB) of ``sites`` on ``scene.grid`` (see the module docstring)."""

    differentiable = True

    def __init__(self, net_model, scene: SceneInputs, sites: Sequence[Site]):
        from radiomap_geo.nets.model import window_scene

        self.name = net_model.name
        self.sites = list(sites)
        self.shape = scene.grid.shape
        self.device = net_model.device
        self.net = net_model.net
        self.net.requires_grad_(False)
        self.scaling = net_model.scaling
        self.add_pattern = net_model.metadata.get("antenna_pattern") == "add_direct_ray"
        self.evaluations = 0
        _check_scene(net_model, scene)
        multiple = self.net.size_multiple
        rows, cols = (-(-n // multiple) * multiple for n in self.shape)
        padded = window_scene(scene, 0, 0, rows, cols)
        channels = list(net_model.channels)
        self.slots = {
            name: channels.index(name) for name in ORIENTATION_CHANNELS if name in channels
        }
        stacks, geometry = [], []
        for site in self.sites:
            stacks.append(feature_stack(padded, site, channels))
            geometry.append(
                bearing_and_depression(*site_offsets(padded.grid, site, scene.rx_height_m))
            )
        self.static = torch.as_tensor(np.stack(stacks)).to(self.device)
        self.bearing = torch.stack([g[0] for g in geometry]).to(self.device)
        self.depression = torch.stack([g[1] for g in geometry]).to(self.device)
        self.below = torch.stack([g[2] for g in geometry]).to(self.device)
        self.patterns = [TorchPattern(get_pattern(s.antenna), self.device) for s in self.sites]
        self.correction_db = torch.tensor(
            [net_model.frequency_correction_db(s.frequency_mhz) for s in self.sites],
            dtype=torch.float32,
            device=self.device,
        )
        self.ray_correction = _RayCorrection.of(net_model, padded, self.sites, stacks, self.device)

    def gain_db(self, azimuth_deg: torch.Tensor, tilt_deg: torch.Tensor) -> torch.Tensor:
        """Path gain (dB, pattern included) per site, ``(n_sites, rows, cols)``."""
        az = azimuth_deg.to(self.device, torch.float32)[:, None, None]
        tilt = tilt_deg.to(self.device, torch.float32)[:, None, None]
        horizontal, vertical = relative_angles(self.bearing, self.depression, self.below, az, tilt)
        pattern = torch.stack(
            [p.gain_dbi(horizontal[i], vertical[i]) for i, p in enumerate(self.patterns)]
        )
        x = self._inputs(horizontal, pattern)
        norm = torch.cat([self.net(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])[:, 0]
        self.evaluations += len(self.sites)
        db = self.scaling.to_db(norm)
        if self.add_pattern:
            db = db + pattern
        if self.ray_correction is not None:
            db = self.ray_correction(db)
        db = torch.clamp(db, min=self.scaling.floor_db) + self.correction_db[:, None, None]
        return db[:, : self.shape[0], : self.shape[1]]

    def _inputs(self, horizontal: torch.Tensor, pattern: torch.Tensor) -> torch.Tensor:
        replaced = {
            "azimuth_cos": torch.cos(torch.deg2rad(horizontal)),
            "azimuth_sin": torch.sin(torch.deg2rad(horizontal)),
            "antenna_gain": pattern / 10.0,
        }
        parts = list(torch.unbind(self.static, dim=1))
        for name, slot in self.slots.items():
            parts[slot] = replaced[name]
        x = torch.stack(parts, dim=1)
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        return x


class _RayCorrection:
    """The network's ray-count correction (:mod:`radiomap_geo.nets.ray_correction`) in torch:
    a shift per bin of the output, constant within a bin, so gradients pass unchanged.
    """

    def __init__(self, correction, los: torch.Tensor, device: torch.device):
        self.edges = torch.tensor(correction.edges_db, dtype=torch.float32, device=device)
        self.nlos = torch.tensor(correction.nlos_db, dtype=torch.float32, device=device)
        self.los_shift = torch.tensor(correction.los_db, dtype=torch.float32, device=device)
        self.los = los

    @classmethod
    def of(
        cls, net_model, scene: SceneInputs, sites: Sequence[Site], stacks: list, device
    ) -> _RayCorrection | None:
        """The correction of ``net_model`` with the sites' line of sight (from their input
        ``stacks`` when the network reads it), or None.
        """
        correction = getattr(net_model, "output_correction", None)
        if correction is None:
            return None
        if "los" in net_model.channels:
            slot = list(net_model.channels).index("los")
            sight = [stack[slot] for stack in stacks]
        else:
            sight = [feature_stack(scene, site, ["los"])[0] for site in sites]
        return cls(correction, torch.as_tensor(np.stack(sight) > 0.5, device=device), device)

    def __call__(self, db: torch.Tensor) -> torch.Tensor:
        bins = torch.bucketize(db.detach(), self.edges, right=True)  # as numpy.digitize
        return db + torch.where(self.los, self.los_shift[bins], self.nlos[bins])


class ModelSurrogate:
    """Any :class:`PathGainModel` (physics baselines): exact, but without gradients."""

    differentiable = False

    def __init__(self, model, scene: SceneInputs, sites: Sequence[Site]):
        self.name = getattr(model, "name", str(model))
        self.model, self.scene, self.sites = model, scene, list(sites)
        self.shape = scene.grid.shape
        self.evaluations = 0

    def gain_db(self, azimuth_deg: torch.Tensor, tilt_deg: torch.Tensor) -> torch.Tensor:
        """Path gain (dB) per site; cells the model leaves NaN (beyond reach) become -inf."""
        maps = []
        for site, az, tilt in zip(self.sites, azimuth_deg.tolist(), tilt_deg.tolist()):
            turned = replace(site, azimuth_deg=float(az), tilt_deg=float(tilt))
            maps.append(self.model.path_gain_db(self.scene, turned, self.scene.grid))
        self.evaluations += len(self.sites)
        gains = np.nan_to_num(np.stack(maps), nan=-np.inf)
        return torch.as_tensor(gains, dtype=torch.float32)


def make_surrogate(model, scene: SceneInputs, sites: Sequence[Site]):
    """The network surrogate for a network that reads the orientation, else the exact model."""
    net_model = network_of(model)
    if net_model is not None and reads_orientation(net_model):
        return NetworkSurrogate(net_model, scene, sites)
    return ModelSurrogate(model, scene, sites)


def _check_scene(net_model, scene: SceneInputs) -> None:
    ratio = scene.grid.resolution / net_model.metres_per_pixel
    if abs(ratio - 1.0) > 0.01:
        raise InputError(
            f"{net_model.name} was trained on {net_model.metres_per_pixel:g} m cells; optimising "
            f"on {scene.grid.resolution:g} m cells would feed it inputs it never saw: use "
            f"resolution {net_model.metres_per_pixel:g}",
            parameter="resolution",
        )
    if abs(scene.rx_height_m - net_model.rx_height_m) > 0.5:
        raise InputError(
            f"{net_model.name} was trained for receivers {net_model.rx_height_m:g} m above "
            f"ground, not {scene.rx_height_m:g} m",
            parameter="rx_height_m",
        )
    if math.prod(scene.grid.shape) > 512 * 512:
        raise InputError(
            f"the optimisation area has {scene.grid.height} x {scene.grid.width} cells; the "
            "network runs on it in one window, so keep it within 512 x 512 cells (1 km at 2 m)",
            parameter="bbox",
        )
