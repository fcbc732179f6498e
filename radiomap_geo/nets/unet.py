"""UNet (Ronneberger et al. 2015) as used for coverage by Ozyegen et al. (paper 000, Sec. 3.2.2).

Encoder: per level two ``kernel_size`` convolutions with ReLU, then 2x2 max pooling (or, with
``down="strided"``, a learned 3x3 stride-2 convolution, paper 000 Sec. 3.3.2); the number of
filters doubles per level. Decoder: 2x2 transposed convolutions halving the filters, concatenation
with the encoder features of the same level, two convolutions; a final 1x1 convolution gives one
channel. With ``base=64, depth=4, kernel_size=3`` and two input channels this is the paper's 23-layer
UNet (31.03 M parameters without batch norm; the strided variant adds the 3.13 M of its
down-sampling convolutions, 34.16 M in Table 2).

``block="inception"`` swaps each pair of convolutions for two inception modules (parallel
convolutions with the kernel sizes in ``inception_kernels`` whose outputs are concatenated, paper
000 Sec. 3.3.1); :mod:`radiomap_geo.nets.inception_unet` names the paper's best combination.

Deviation from the paper: batch normalisation after every convolution is on by default
(``batch_norm=True``); it makes training from scratch on our data far less sensitive to the
learning rate. Pass ``batch_norm=False`` for the original.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from radiomap_geo.nets.common import SkipUNet, check_depth, check_odd, conv_block


class InceptionModule(nn.Module):
    """Parallel convolutions of several kernel sizes, concatenated along channels.

    ``out_ch`` is split as evenly as possible between the branches (the first branches take the
    remainder), so the module's cost stays near that of one convolution of the mean kernel.
    """

    def __init__(self, in_ch: int, out_ch: int, kernels: Sequence[int], batch_norm: bool = True):
        super().__init__()
        if not kernels or any(k % 2 == 0 for k in kernels):
            raise ValueError(f"inception kernels must be odd sizes, got {tuple(kernels)}")
        n = len(kernels)
        widths = [out_ch // n + (1 if i < out_ch % n else 0) for i in range(n)]
        if min(widths) < 1:
            raise ValueError(f"{out_ch} channels cannot feed {n} inception branches")
        self.branches = nn.ModuleList(
            nn.Conv2d(in_ch, w, k, padding=k // 2, bias=not batch_norm)
            for w, k in zip(widths, kernels)
        )
        self.post = nn.Sequential(
            nn.BatchNorm2d(out_ch) if batch_norm else nn.Identity(), nn.ReLU(inplace=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Concatenate the branch outputs, then normalise and rectify."""
        return self.post(torch.cat([branch(x) for branch in self.branches], dim=1))


@dataclass
class UNetParams:
    """Hyper-parameters of :class:`UNet` (see the module docstring)."""

    base: int = 64
    depth: int = 4
    kernel_size: int = 3
    down: str = "maxpool"
    block: str = "double"
    inception_kernels: Sequence[int] = (1, 5, 7)
    batch_norm: bool = True

    def __post_init__(self) -> None:
        check_depth("a UNet", self.depth)
        check_odd("kernel_size", self.kernel_size)
        self.inception_kernels = tuple(self.inception_kernels)


def _block(hp: UNetParams, in_ch: int, out_ch: int) -> nn.Module:
    if hp.block == "double":
        return nn.Sequential(
            conv_block(in_ch, out_ch, hp.kernel_size, norm=hp.batch_norm),
            conv_block(out_ch, out_ch, hp.kernel_size, norm=hp.batch_norm),
        )
    if hp.block == "inception":
        return nn.Sequential(
            InceptionModule(in_ch, out_ch, hp.inception_kernels, hp.batch_norm),
            InceptionModule(out_ch, out_ch, hp.inception_kernels, hp.batch_norm),
        )
    raise ValueError(f"unknown UNet block {hp.block!r}: use 'double' or 'inception'")


def _down(hp: UNetParams, channels: int) -> nn.Module:
    if hp.down == "maxpool":
        return nn.MaxPool2d(2)
    if hp.down == "strided":
        return conv_block(channels, channels, 3, stride=2, norm=hp.batch_norm)
    raise ValueError(f"unknown down-sampling {hp.down!r}: use 'maxpool' or 'strided'")


class UNet(SkipUNet):
    """Encoder-decoder with skip connections (see the module docstring)."""

    arch = "unet"
    Params = UNetParams

    def build(self, in_channels: int, hp: UNetParams) -> None:
        """Encoder, decoder and head for :class:`UNetParams` ``hp``."""
        self.encoders, self.downs = nn.ModuleList(), nn.ModuleList()
        self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()

        def encoder(level: int, in_ch: int, out_ch: int) -> nn.Module:
            if level > 0:
                self.downs.append(_down(hp, in_ch))
            return _block(hp, in_ch, out_ch)

        def decoder(width: int, skip_width: int) -> nn.Module:
            self.ups.append(nn.ConvTranspose2d(width, skip_width, 2, stride=2))
            return _block(hp, 2 * skip_width, skip_width)

        widths = [hp.base * 2**i for i in range(hp.depth + 1)]
        self.add_levels(in_channels, widths, encoder, decoder)

    def down(self, level: int, h: Tensor) -> Tensor:
        """Max pooling or a strided convolution (``down``)."""
        return self.downs[level - 1](h)

    def up(self, index: int, h: Tensor) -> Tensor:
        """A 2x2 transposed convolution."""
        return self.ups[index](h)
