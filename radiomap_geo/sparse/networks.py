"""Measurement-conditioned networks: input encoding, architectures and the method list.

Every network reads a stack of channels built by :func:`encode` from the measurements and the
scene, and predicts a map in units of :data:`SCALE_DB` around a per-map *level*, so one network
serves path gain, received power, RSRP and field strength alike (they differ by constants in dB):

* ``level`` = the mean measured value; values, the free-space gain and the geometry prediction
  enter as ``(value - level) / SCALE_DB``; the prediction is ``level + SCALE_DB * output``;
* residual networks (our variant) add their output to the geometry network's prediction
  corrected by the mean measured residual ``bias``: ``geometry + bias + SCALE_DB * output``, and
  see the measured residuals ``(value - geometry - bias) / SCALE_DB`` as their sparse channel.

Methods (:data:`NETWORKS`):

* ``interpolation-net``: paper 001's InterpolationNet, a U-Net on the sampled map alone;
* ``eme-net``: an EME-Net-like deterministic CNN (dilated context-aggregation layers) on the
  topology and the sampled map, L1 loss;
* ``emgan``: paper 003's EMGAN, a pix2pix U-Net generator (topology + sparse map + mask) trained
  with L1 + a conditional PatchGAN discriminator; transmitters unknown;
* ``emgan-sites``: EMGAN given the known site as the free-space gain and line of sight;
* ``emgan-geo``: our variant, EMGAN whose generator also reads the geometry network's own
  prediction and outputs a correction to it; besides the sparse residuals it sees the residual
  of the nearest measurement and the distance to it (a dense, cheap hint that a briefly trained
  network can refine);
* ``geo-residual``: the same inputs and base without the adversarial term, trained with a squared
  loss (the scores are RMSE; the GAN term and the L1 loss pulled ``emgan-geo`` away from its own
  base where the points are sparse). Its zero-initialised output starts at the base (geometry +
  measured bias + smoothed residuals) and training only keeps what lowers the error;
* ``geo-residual-wide``: the same with twice the channels, trained over several sessions by the
  background lane to learn whether capacity limits ``geo-residual`` between the points
  (``training/README.md``); not shipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from radiomap_geo.nets import build_network
from radiomap_geo.nets.common import CoverageNet, conv_block

if TYPE_CHECKING:
    from radiomap_geo.sparse.data import MapContext

#: dB per unit of the networks' inputs and outputs.
SCALE_DB = 20.0
#: Labels and predictions are clipped here (the dataset's floor, as in the geometry evaluation).
FLOOR_DB, CEIL_DB = -160.0, -40.0


@dataclass(frozen=True)
class NetSpec:
    """How a measurement network is built and trained."""

    name: str
    arch: str
    arch_kwargs: dict[str, Any]
    channels: tuple[str, ...]
    residual: bool = False
    #: Residual networks only: the base also adds the measured residuals spread by normalised
    #: Gaussian convolution (see :func:`smooth_residual`), so training starts near a
    #: regression-kriging-like estimate instead of the bias-corrected geometry.
    smooth_base: bool = False
    #: Widest smoothing kernel (cells): beyond the residuals' correlation length a far point
    #: only adds its noise (the first networks used 24; 5 fits the validation split best).
    smooth_max_cells: float = 24.0
    #: Pseudo-count that shrinks the measured mean residual ``bias`` towards 0: a few points,
    #: or a trajectory's correlated ones, say little about the whole map's bias.
    bias_pseudo_count: float = 0.0
    adversarial: bool = False
    #: Pixel loss: ``l1`` (papers 001 / 003) or ``mse`` (what the RMSE scores reward).
    loss: str = "l1"
    description: str = ""
    needs: tuple[str, ...] = field(default=())  # "site", "geometry"


TOPOLOGY = ("outdoor", "height")


#: Inputs of the networks that correct the geometry prediction.
GEO_CHANNELS = (
    *TOPOLOGY,
    "sparse",
    "mask",
    "nearest",
    "distance",
    "smooth",
    "geometry",
    "free_space",
    "los",
)


def _geometry_corrector(name: str, base: int = 8, **settings: Any) -> NetSpec:
    """A residual U-Net on :data:`GEO_CHANNELS` that corrects the geometry prediction."""
    return NetSpec(
        name,
        "unet",
        {"base": base, "depth": 4},
        GEO_CHANNELS,
        residual=True,
        smooth_base=True,
        needs=("site", "geometry"),
        **settings,
    )


NETWORKS: dict[str, NetSpec] = {
    spec.name: spec
    for spec in (
        NetSpec(
            "interpolation-net",
            "unet",
            {"base": 8, "depth": 4},
            ("sparse", "mask"),
            description="paper 001 InterpolationNet: U-Net on the sampled map alone (L1)",
        ),
        NetSpec(
            "eme-net",
            "context_cnn",
            {"width": 32, "dilations": [1, 2, 4, 8, 16, 1]},
            (*TOPOLOGY, "sparse", "mask"),
            description="EME-Net-like CNN: dilated convolutions on topology + sampled map (L1)",
        ),
        NetSpec(
            "emgan",
            "unet",
            {"base": 8, "depth": 4},
            (*TOPOLOGY, "sparse", "mask"),
            adversarial=True,
            description="paper 003 EMGAN: U-Net generator + PatchGAN, L1 + cGAN; sites unknown",
        ),
        NetSpec(
            "emgan-sites",
            "unet",
            {"base": 8, "depth": 4},
            (*TOPOLOGY, "sparse", "mask", "free_space", "los"),
            adversarial=True,
            description="EMGAN given the known site (free-space gain, line of sight)",
            needs=("site",),
        ),
        _geometry_corrector(
            "emgan-geo",
            adversarial=True,
            description="ours: EMGAN correcting the geometry network's prediction (residual)",
        ),
        _geometry_corrector(
            "geo-residual",
            smooth_max_cells=5.0,
            bias_pseudo_count=30.0,
            loss="mse",
            description="ours: U-Net correcting the geometry network's prediction from the "
            "measured residuals (squared loss, no GAN)",
        ),
        _geometry_corrector(
            "geo-residual-wide",
            base=16,
            smooth_max_cells=5.0,
            bias_pseudo_count=30.0,
            loss="mse",
            description="geo-residual with twice the channels (4x the parameters): whether "
            "capacity is what limits it between the points",
        ),
    )
}


class ContextCNN(CoverageNet):
    """Same-size dilated convolutions (context aggregation): wide view, no down-sampling."""

    arch = "context_cnn"

    def __init__(self, in_channels: int, width: int = 32, dilations: Sequence[int] = (1, 2, 4)):
        super().__init__()
        self._remember(in_channels, width=width, dilations=tuple(dilations))
        layers: list[nn.Module] = []
        channels = in_channels
        for d in dilations:
            layers.append(conv_block(channels, width, 3, dilation=int(d), norm=True))
            channels = width
        layers.append(nn.Conv2d(width, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, 1, H, W)``."""
        self.check_input(x)
        return self.body(x)


class PatchDiscriminator(nn.Module):
    """pix2pix PatchGAN (Isola et al.; paper 003): each output judges one input patch.

    Three 4x4 stride-2 convolutions and a stride-1 pair; with ``base=32`` each output value sees
    a 70 x 70 patch, as in paper 003 (reduced widths).
    """

    def __init__(self, in_channels: int, base: int = 32):
        super().__init__()
        widths = [base, base * 2, base * 4, base * 8]
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for a, b, stride in ((widths[0], widths[1], 2), (widths[1], widths[2], 2)):
            layers += [
                nn.Conv2d(a, b, 4, stride, 1, bias=False),
                nn.BatchNorm2d(b),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        layers += [
            nn.Conv2d(widths[2], widths[3], 4, 1, 1, bias=False),
            nn.BatchNorm2d(widths[3]),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(widths[3], 1, 4, 1, 1),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, condition: Tensor, image: Tensor) -> Tensor:
        """Logits per patch for ``image`` given ``condition``."""
        return self.body(torch.cat([condition, image], dim=1))


def build_generator(arch: str, in_channels: int, **kwargs: Any) -> CoverageNet:
    """A network of this package (``context_cnn``) or of the coverage registry (``unet``...)."""
    if arch == ContextCNN.arch:
        return ContextCNN(in_channels, **kwargs)
    return build_network(arch, in_channels, **kwargs)


@dataclass(frozen=True)
class Encoded:
    """Network inputs of one map and how to turn the output back into dB."""

    inputs: np.ndarray  # (C, H, W) float32
    base_db: np.ndarray  # (H, W): prediction = base_db + SCALE_DB * output


def encode(spec: NetSpec, ctx: MapContext, measured: np.ndarray, values: np.ndarray) -> Encoded:
    """The input stack of ``spec``'s network for one map: the measured ``values`` and what
    ``ctx`` knows besides them (see the module docstring for the level and residuals).

    Training and prediction both call this, so a network always sees the same encoding.
    """
    if not measured.any():
        raise ValueError("no measured cell")
    heights, geometry_db = ctx.heights, ctx.geometry_db
    level = float(np.mean(values[measured]))
    base = np.full(heights.shape, level, np.float32)
    sparse_values = values
    smooth = np.zeros(heights.shape, np.float32)
    if spec.residual:
        residual = (values - geometry_db)[measured]
        bias = float(np.sum(residual) / (residual.size + spec.bias_pseudo_count))
        if spec.smooth_base:
            smooth = smooth_residual(
                measured, values - geometry_db - bias, heights <= 0, spec.smooth_max_cells
            )
        base = (geometry_db + bias + smooth).astype(np.float32)
        sparse_values = values - base + level  # residual, re-centred on the level below
    nearest, distance = _nearest(measured, sparse_values)
    planes = {
        "smooth": lambda: smooth / SCALE_DB,
        "nearest": lambda: (nearest - level) / SCALE_DB,
        "distance": lambda: np.log1p(distance) / 5.0,
        "outdoor": lambda: (heights <= 0).astype(np.float32),
        "height": lambda: np.clip(heights / SCALE_DB, 0.0, 3.0),
        "sparse": lambda: np.where(measured, (sparse_values - level) / SCALE_DB, 0.0),
        "mask": lambda: measured.astype(np.float32),
        "geometry": lambda: (base - level) / SCALE_DB,
        "free_space": lambda: np.clip((ctx.free_space_db - level) / SCALE_DB, -4.0, 4.0),
        "los": lambda: ctx.los.astype(np.float32),
    }
    stack = np.stack([planes[name]() for name in spec.channels]).astype(np.float32)
    return Encoded(stack, base)


def smooth_residual(
    measured: np.ndarray, residual: np.ndarray, outdoor: np.ndarray, max_cells: float = 24.0
) -> np.ndarray:
    """Measured residuals spread by normalised Gaussian convolution, shrunk to 0 far from data.

    ``sum_k G(x - x_k) r_k / (sum_k G(x - x_k) + c)``: the kernel width is half the mean spacing
    of the points over the outdoor cells (2 to ``max_cells`` cells), and ``c``, half the kernel's
    peak, is a zero-mean prior worth half a measurement, so the correction fades where no point
    is near.
    """
    from scipy.ndimage import gaussian_filter

    n = max(int(measured.sum()), 1)
    spacing = np.sqrt(max(int(outdoor.sum()), 1) / n)
    sigma = float(np.clip(0.5 * spacing, 2.0, max(max_cells, 2.0)))
    weights = measured.astype(np.float64)
    numerator = gaussian_filter(np.where(measured, residual, 0.0), sigma, mode="constant")
    denominator = gaussian_filter(weights, sigma, mode="constant")
    prior = 0.5 / (2.0 * np.pi * sigma**2)
    return (numerator / (denominator + prior)).astype(np.float32)


def _nearest(measured: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The value of the nearest measured cell and the distance to it (cells), everywhere."""
    from scipy.ndimage import distance_transform_edt

    distance, (rows, cols) = distance_transform_edt(~measured, return_indices=True)
    return values[rows, cols], distance


def decode(encoded_base: np.ndarray | Tensor, output: np.ndarray | Tensor):
    """Decibels from a network output (``base_db + SCALE_DB * output``)."""
    return encoded_base + SCALE_DB * output
