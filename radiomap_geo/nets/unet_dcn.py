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
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from radiomap_geo.nets.common import SkipUNet, check_depth, conv_block
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


@dataclass
class UNetDCNParams:
    """Hyper-parameters of :class:`UNetDCN` (see the module docstring); ``dcn_levels=None``
    means the two deepest encoder levels and the bottleneck, and is recorded resolved.
    """

    base: int = 32
    depth: int = 4
    max_width: int = 256
    dcn_levels: Sequence[int] | None = None
    offset_groups: int = 1

    def __post_init__(self) -> None:
        check_depth("UNetDCN", self.depth)
        if self.dcn_levels is None:
            self.dcn_levels = range(max(0, self.depth - 2), self.depth + 1)
        self.dcn_levels = tuple(int(v) for v in self.dcn_levels)
        if any(not 0 <= v <= self.depth for v in self.dcn_levels):
            raise ValueError(f"dcn_levels must lie in 0..{self.depth}, got {self.dcn_levels}")


class UNetDCN(SkipUNet):
    """Residual UNet with deformable convolutions in its deepest levels."""

    arch = "unet_dcn"
    Params = UNetDCNParams

    def build(self, in_channels: int, hp: UNetDCNParams) -> None:
        """Residual encoder, decoder and head for :class:`UNetDCNParams` ``hp``."""
        levels = tuple(hp.dcn_levels or ())
        self.encoders, self.reduces, self.decoders = (nn.ModuleList() for _ in range(3))

        def encoder(level: int, in_ch: int, out_ch: int) -> nn.Module:
            return ResBlock(in_ch, out_ch, level in levels, hp.offset_groups)

        def decoder(width: int, skip_width: int) -> nn.Module:
            self.reduces.append(conv_block(width, skip_width, 1))
            return ResBlock(2 * skip_width, skip_width)

        widths = [min(hp.base * 2**i, hp.max_width) for i in range(hp.depth + 1)]
        self.add_levels(in_channels, widths, encoder, decoder)

    def down(self, level: int, h: Tensor) -> Tensor:
        """2x2 max pooling."""
        return F.max_pool2d(h, 2)

    def up(self, index: int, h: Tensor) -> Tensor:
        """Bilinear x2, then a 1x1 convolution to the skip's width."""
        h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        return self.reduces[index](h)
