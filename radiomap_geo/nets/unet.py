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

import torch
from torch import Tensor, nn

from radiomap_geo.nets.common import CoverageNet, conv_block, encode


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


def _block(
    kind: str, in_ch: int, out_ch: int, kernel: int, kernels: Sequence[int], batch_norm: bool
) -> nn.Module:
    if kind == "double":
        return nn.Sequential(
            conv_block(in_ch, out_ch, kernel, norm=batch_norm),
            conv_block(out_ch, out_ch, kernel, norm=batch_norm),
        )
    if kind == "inception":
        return nn.Sequential(
            InceptionModule(in_ch, out_ch, kernels, batch_norm),
            InceptionModule(out_ch, out_ch, kernels, batch_norm),
        )
    raise ValueError(f"unknown UNet block {kind!r}: use 'double' or 'inception'")


def _down(kind: str, channels: int, batch_norm: bool) -> nn.Module:
    if kind == "maxpool":
        return nn.MaxPool2d(2)
    if kind == "strided":
        return conv_block(channels, channels, 3, stride=2, norm=batch_norm)
    raise ValueError(f"unknown down-sampling {kind!r}: use 'maxpool' or 'strided'")


class UNet(CoverageNet):
    """Encoder-decoder with skip connections (see the module docstring)."""

    arch = "unet"

    def __init__(
        self,
        in_channels: int,
        base: int = 64,
        depth: int = 4,
        kernel_size: int = 3,
        down: str = "maxpool",
        block: str = "double",
        inception_kernels: Sequence[int] = (1, 5, 7),
        batch_norm: bool = True,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError("a UNet needs depth >= 1")
        if kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd")
        self._remember(
            in_channels,
            base=base,
            depth=depth,
            kernel_size=kernel_size,
            down=down,
            block=block,
            inception_kernels=tuple(inception_kernels),
            batch_norm=batch_norm,
        )
        self.size_multiple = 2**depth
        widths = [base * 2**i for i in range(depth + 1)]
        kernels = tuple(inception_kernels)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        channels = in_channels
        for i, w in enumerate(widths):
            if i > 0:
                self.downs.append(_down(down, channels, batch_norm))
            self.encoders.append(_block(block, channels, w, kernel_size, kernels, batch_norm))
            channels = w
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in range(depth, 0, -1):
            self.ups.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2))
            self.decoders.append(
                _block(block, 2 * widths[i - 1], widths[i - 1], kernel_size, kernels, batch_norm)
            )
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, 1, H, W)``."""
        self.check_input(x)
        skips = encode(self.encoders, x, lambda level, h: self.downs[level - 1](h))
        h = skips[-1]
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips[:-1])):
            h = decoder(torch.cat([up(h), skip], dim=1))
        return self.head(h)
