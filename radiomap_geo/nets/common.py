"""Pieces every coverage network shares: the base class and small convolution blocks.

A coverage network maps a ``(B, C, H, W)`` stack of input channels (see
:data:`radiomap_geo.rasterize.CHANNELS`) to a ``(B, 1, H, W)`` map of *normalised* path gain (see
:class:`radiomap_geo.nets.scaling.OutputScaling`). ``H`` and ``W`` must be multiples of the
network's :attr:`CoverageNet.size_multiple` (its total down-sampling factor); callers pad
(:class:`radiomap_geo.nets.model.NetworkModel` does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn


class CoverageNet(nn.Module):
    """Base class: remembers how it was built so that a weights file can rebuild it.

    Subclasses set :attr:`arch` (the registry name), call :meth:`_remember` with their
    constructor arguments and implement :meth:`forward`.
    """

    arch: str = ""
    #: Height and width must be multiples of this (the product of all down-sampling strides).
    size_multiple: int = 1

    def _remember(self, in_channels: int, **config: Any) -> None:
        self.in_channels = int(in_channels)
        self.config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()}

    def output_conv(self) -> nn.Conv2d:
        """The convolution producing the output map (its bias sets the initial output level)."""
        convs = [m for m in self.modules() if isinstance(m, nn.Conv2d)]
        if not convs or convs[-1].out_channels != 1:
            raise TypeError(f"{type(self).__name__} has no final one-channel convolution")
        return convs[-1]

    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` for a wrongly shaped input (fail loudly, not with a shape error
        deep inside the decoder).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.arch} expects (B, {self.in_channels}, H, W) inputs, got {tuple(x.shape)}"
            )
        m = self.size_multiple
        if x.shape[2] % m or x.shape[3] % m:
            raise ValueError(
                f"{self.arch} needs H and W to be multiples of {m}, got {tuple(x.shape[2:])}: "
                "pad the input (NetworkModel does this)"
            )


def conv_block(
    in_ch: int,
    out_ch: int,
    kernel: int = 3,
    *,
    stride: int = 1,
    dilation: int = 1,
    norm: bool = True,
    act: bool = True,
) -> nn.Sequential:
    """Conv (``same`` padding for stride 1) -> optional BatchNorm -> optional ReLU."""
    pad = dilation * (kernel - 1) // 2
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_ch, out_ch, kernel, stride=stride, padding=pad, dilation=dilation, bias=not norm
        )
    ]
    if norm:
        layers.append(nn.BatchNorm2d(out_ch))
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def encode(
    encoders: Sequence[nn.Module], x: Tensor, down: Callable[[int, Tensor], Tensor]
) -> list[Tensor]:
    """Run a UNet encoder: every level's output, shallowest first (the skips; the last one is
    the bottleneck). Level 0 reads ``x``; deeper levels read ``down(level, previous output)``.
    """
    skips = []
    h = x
    for level, encoder in enumerate(encoders):
        if level > 0:
            h = down(level, h)
        h = encoder(h)
        skips.append(h)
    return skips
