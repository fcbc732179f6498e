"""UNetDCN (Jaensch et al., paper 002): a residual UNet with deformable convolutions.

The paper replaces some standard convolutions of a UNet by (modulated) deformable convolutions
(DCN, :mod:`radiomap_geo.nets.deform_conv`), whose learned sampling offsets let information travel
far along arbitrary directions (reflections, street canyons) at little cost, and adds batch
normalisation and residual connections. The exact layer table is only in the authors' code, so
this is our reading of the paper's description (Sec. II-C1, Fig. 4):

* encoder: ``depth + 1`` levels of residual blocks (``conv3x3-BN-ReLU-conv3x3-BN`` plus a 1x1
  projected shortcut, then ReLU) separated by 2x2 max pooling; widths ``base * 2**level`` capped at
  ``max_width``;
* in the levels listed in ``dcn_levels`` (default: the two deepest encoder levels and the
  bottleneck, where feature maps are small so the sampling is cheap), the second convolution of
  each block is deformable;
* decoder: bilinear x2 up-sampling, 1x1 convolution to the skip's width, concatenation, residual
  block with plain convolutions; a 1x1 convolution to one channel.

The defaults (``base=32, depth=4, max_width=256``) give about 5.2 M parameters for 8 input
channels (the paper's model has 4.5 M). Deformable layers start as plain convolutions (zero offsets, unit mask).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from radiomap_geo.nets.common import CoverageNet, conv_block, encode
from radiomap_geo.nets.deform_conv import DeformConv2d


class ResBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection; optionally deformable."""

    def __init__(self, in_ch: int, out_ch: int, deformable: bool = False, offset_groups: int = 1):
        super().__init__()
        self.conv1 = conv_block(in_ch, out_ch, 3)
        if deformable:
            self.conv2: nn.Module = DeformConv2d(
                out_ch, out_ch, 3, bias=False, offset_groups=offset_groups
            )
        else:
            self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = conv_block(in_ch, out_ch, 1, act=False) if in_ch != out_ch else None

    def forward(self, x: Tensor) -> Tensor:
        """Two convolutions plus the shortcut."""
        h = self.bn2(self.conv2(self.conv1(x)))
        return F.relu(h + (x if self.shortcut is None else self.shortcut(x)))


class UNetDCN(CoverageNet):
    """Residual UNet with deformable convolutions in its deepest levels."""

    arch = "unet_dcn"

    def __init__(
        self,
        in_channels: int,
        base: int = 32,
        depth: int = 4,
        max_width: int = 256,
        dcn_levels: Sequence[int] | None = None,
        offset_groups: int = 1,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError("UNetDCN needs depth >= 1")
        levels = tuple(range(max(0, depth - 2), depth + 1)) if dcn_levels is None else dcn_levels
        levels = tuple(int(v) for v in levels)
        if any(not 0 <= v <= depth for v in levels):
            raise ValueError(f"dcn_levels must lie in 0..{depth}, got {levels}")
        self._remember(
            in_channels,
            base=base,
            depth=depth,
            max_width=max_width,
            dcn_levels=levels,
            offset_groups=offset_groups,
        )
        self.size_multiple = 2**depth
        widths = [min(base * 2**i, max_width) for i in range(depth + 1)]
        self.encoders = nn.ModuleList()
        channels = in_channels
        for level, width in enumerate(widths):
            self.encoders.append(ResBlock(channels, width, level in levels, offset_groups))
            channels = width
        self.reduces = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in range(depth, 0, -1):
            self.reduces.append(conv_block(widths[level], widths[level - 1], 1))
            self.decoders.append(ResBlock(2 * widths[level - 1], widths[level - 1]))
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, 1, H, W)``."""
        self.check_input(x)
        skips = encode(self.encoders, x, lambda _, h: F.max_pool2d(h, 2))
        h = skips[-1]
        for reduce, decoder, skip in zip(self.reduces, self.decoders, reversed(skips[:-1])):
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = decoder(torch.cat([reduce(h), skip], dim=1))
        return self.head(h)
