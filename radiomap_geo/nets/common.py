"""Pieces every coverage network shares: the base class and small convolution blocks.

A coverage network maps a ``(B, C, H, W)`` stack of input channels (see
:data:`radiomap_geo.rasterize.CHANNELS`) to a ``(B, 1, H, W)`` map of *normalised* path gain (see
:class:`radiomap_geo.nets.scaling.OutputScaling`). ``H`` and ``W`` must be multiples of the
network's :attr:`CoverageNet.size_multiple` (its total down-sampling factor); callers pad
(:class:`radiomap_geo.nets.model.NetworkModel` does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, ClassVar

import torch
from torch import Tensor, nn


class CoverageNet(nn.Module):
    """Base class: remembers how it was built so that a weights file can rebuild it.

    Subclasses set :attr:`arch` (the registry name) and :attr:`Params`, create their layers in
    :meth:`build` and implement :meth:`forward`; the constructor validates the keyword arguments
    through :attr:`Params` and records them. (A subclass without :attr:`Params` calls
    :meth:`_remember` with its constructor arguments itself.)
    """

    arch: str = ""
    #: Height and width must be multiples of this (the product of all down-sampling strides).
    size_multiple: int = 1
    #: The dataclass of the architecture's hyper-parameters: its fields are the keyword
    #: arguments of the constructor, of :func:`~radiomap_geo.nets.registry.build_network` and
    #: of a weights file's ``arch_kwargs``, written once; ``__post_init__`` validates them.
    Params: ClassVar[type | None] = None

    def __init__(self, in_channels: int | None = None, **params: Any) -> None:
        super().__init__()
        if self.Params is None:
            return
        if in_channels is None:
            raise TypeError(f"{type(self).__name__} needs in_channels")
        hp = self.Params(**params)
        self._remember(in_channels, **{f.name: getattr(hp, f.name) for f in fields(hp)})
        self.build(int(in_channels), hp)

    def build(self, in_channels: int, hp: Any) -> None:
        """Create the layers for ``in_channels`` inputs and the validated :attr:`Params` ``hp``."""
        raise NotImplementedError(f"{type(self).__name__} has Params but no build()")

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


def check_depth(what: str, depth: int, minimum: int = 1) -> None:
    """Refuse fewer than ``minimum`` levels (or layers) before any layer is built."""
    if depth < minimum:
        raise ValueError(f"{what} needs depth >= {minimum}, got {depth}")


def check_odd(name: str, kernel: int) -> None:
    """Refuse an even kernel size: only odd kernels have a symmetric 'same' padding."""
    if kernel % 2 == 0:
        raise ValueError(f"{name} must be odd for 'same' padding, got {kernel}")


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


class SkipUNet(CoverageNet):
    """The skeleton :class:`~radiomap_geo.nets.unet.UNet` and
    :class:`~radiomap_geo.nets.unet_dcn.UNetDCN` share.

    ``len(widths)`` encoder levels: level 0 reads the input, each deeper level the down-sampled
    (:meth:`down`) output of the level above; then one decoder level per skip, deepest first,
    each up-sampling (:meth:`up`) to the next shallower level, concatenating that level's encoder
    output and mixing the two; a 1x1 convolution to one channel.
    """

    encoders: nn.ModuleList
    decoders: nn.ModuleList
    head: nn.Conv2d

    def add_levels(
        self,
        in_channels: int,
        widths: Sequence[int],
        encoder: Callable[[int, int, int], nn.Module],
        decoder: Callable[[int, int], nn.Module],
    ) -> None:
        """Fill :attr:`encoders` with ``encoder(level, in_ch, width)`` and :attr:`decoders` with
        ``decoder(width, skip_width)``, then add the head.

        The subclass creates the (empty) module lists first, in the order its weights files
        name them; the factories may append the modules that move between levels to lists of
        their own, so that every module is created in the order of the original layout (the
        random initialisation of a given seed depends on it).
        """
        self.size_multiple = 2 ** (len(widths) - 1)
        channels = in_channels
        for level, width in enumerate(widths):
            self.encoders.append(encoder(level, channels, width))
            channels = width
        for level in range(len(widths) - 1, 0, -1):
            self.decoders.append(decoder(widths[level], widths[level - 1]))
        self.head = nn.Conv2d(widths[0], 1, 1)

    def down(self, level: int, h: Tensor) -> Tensor:
        """Down-sample the output of level ``level - 1`` for level ``level``."""
        raise NotImplementedError(f"{type(self).__name__} does not say how to down-sample")

    def up(self, index: int, h: Tensor) -> Tensor:
        """Up-sample ``h`` for decoder ``index`` (0: the deepest), to its skip's width."""
        raise NotImplementedError(f"{type(self).__name__} does not say how to up-sample")

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, 1, H, W)``."""
        self.check_input(x)
        skips = []
        h = x
        for level, encoder in enumerate(self.encoders):
            h = encoder(self.down(level, h) if level > 0 else h)
            skips.append(h)
        for index, (decoder, skip) in enumerate(zip(self.decoders, reversed(skips[:-1]))):
            h = decoder(torch.cat([self.up(index, h), skip], dim=1))
        return self.head(h)
