"""The architecture registry: every coverage network by name, built from plain keyword arguments.

Names are stable: a weights file records the name and the keyword arguments it was built with
(see :mod:`radiomap_geo.nets.weights`), and :func:`build_network` rebuilds the same network.
"""

from __future__ import annotations

from typing import Any

from radiomap_geo.errors import InputError
from radiomap_geo.nets.cnn import BaselineCNN
from radiomap_geo.nets.common import CoverageNet
from radiomap_geo.nets.inception_unet import InceptionUNet
from radiomap_geo.nets.pmnet import PMNet
from radiomap_geo.nets.radiounet import RadioUNet
from radiomap_geo.nets.unet import UNet
from radiomap_geo.nets.unet_dcn import UNetDCN

#: A sensible input set after paper 002: building heights, transmitter (height-valued), grid
#: anchors, distance, azimuth relative to boresight and projected antenna gain.
DEFAULT_CHANNELS = (
    "building_height",
    "tx_height",
    "anchor_x",
    "anchor_y",
    "distance",
    "azimuth_cos",
    "azimuth_sin",
    "antenna_gain",
)

ARCHITECTURES: dict[str, tuple[type[CoverageNet], str]] = {
    "cnn": (BaselineCNN, "paper 000 baseline: 24 same-size 3x3 convolutions, 32 filters"),
    "unet": (UNet, "paper 000 UNet (Ronneberger), max pooling, transposed-conv decoder"),
    "inception_unet": (
        InceptionUNet,
        "paper 000 best: UNet + strided convolutions + inception modules (1, 5, 7)",
    ),
    "radiounet": (RadioUNet, "RadioUNet/RadioWNet (Levie et al.): two cascaded deep UNets"),
    "pmnet": (PMNet, "PMNet (Lee & Molisch): ResNet encoder, ASPP context, decoder"),
    "unet_dcn": (UNetDCN, "paper 002 UNetDCN: residual UNet with modulated deformable convs"),
}


def list_architectures() -> list[str]:
    """Registered architecture names."""
    return list(ARCHITECTURES)


def describe_architectures() -> dict[str, str]:
    """Architecture name to a one-line description."""
    return {name: description for name, (_, description) in ARCHITECTURES.items()}


def build_network(arch: str, in_channels: int, **kwargs: Any) -> CoverageNet:
    """Build architecture ``arch`` for ``in_channels`` input channels.

    Args:
        arch: a name from :func:`list_architectures` (case-insensitive).
        in_channels: number of input channels (``len(channels)`` of the feature stack).
        **kwargs: the architecture's own keyword arguments (widths, depths, kernels...).

    Returns:
        A freshly initialised network mapping ``(B, in_channels, H, W)`` to ``(B, 1, H, W)``;
        ``net.config`` holds the keyword arguments needed to rebuild it and ``net.size_multiple``
        the factor ``H`` and ``W`` must be multiples of.

    Raises:
        InputError: unknown architecture, bad channel count or keyword arguments.
    """
    key = str(arch).lower()
    if key not in ARCHITECTURES:
        raise InputError(
            f"unknown network architecture {arch!r}; available: {', '.join(ARCHITECTURES)}",
            parameter="arch",
        )
    if int(in_channels) < 1:
        raise InputError(f"a network needs at least one input channel, got {in_channels}")
    cls = ARCHITECTURES[key][0]
    try:
        return cls(int(in_channels), **kwargs)
    except (TypeError, ValueError) as exc:  # an unexpected keyword, a bad value
        raise InputError(
            f"bad arguments for architecture {key!r}: {exc}; see its parameters in "
            f"radiomap_geo/nets/{ARCHITECTURES[key][0].__module__.rsplit('.', 1)[-1]}.py",
            parameter="arch_kwargs",
        ) from exc
