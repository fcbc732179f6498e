"""PMNet (Lee & Molisch 2024), the heavyweight baseline of paper 002.

A ResNet encoder of bottleneck blocks at output stride 8 (the last two stages dilated instead of
down-sampled, DeepLab style), atrous spatial pyramid pooling (ASPP: a 1x1 branch, 3x3 branches at
dilations ``atrous_rates`` and a global image-pooling branch) for long-range context, and a
decoder that climbs back through the encoder stages with skip concatenations, one stride-2
transposed convolution, a bilinear x4 up-sampling and a final concatenation with the raw input.

Defaults follow the reference implementation (``n_blocks=(3, 3, 27, 3)``, base width 64, rates
(6, 12, 18), multi-grid (1, 2, 4) in the last stage): about 35 M parameters. ``base`` and
``n_blocks`` shrink it. Note that the image-pooling branch averages over the whole input, so the
output depends (weakly) on the window size; ``image_pool=False`` removes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from radiomap_geo.nets.common import CoverageNet, conv_block

_EXPANSION = 4


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 reduce, 3x3 (dilated), 1x1 expand, plus a (projected) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dilation: int, project: bool):
        super().__init__()
        mid = max(1, out_ch // _EXPANSION)
        self.reduce = conv_block(in_ch, mid, 1, stride=stride)
        self.conv = conv_block(mid, mid, 3, dilation=dilation)
        self.expand = conv_block(mid, out_ch, 1, act=False)
        self.shortcut = conv_block(in_ch, out_ch, 1, stride=stride, act=False) if project else None

    def forward(self, x: Tensor) -> Tensor:
        """Residual bottleneck."""
        h = self.expand(self.conv(self.reduce(x)))
        return F.relu(h + (x if self.shortcut is None else self.shortcut(x)))


def _stage(
    n: int, in_ch: int, out_ch: int, stride: int, dilation: int, grids: Sequence[int] | None = None
) -> nn.Sequential:
    grids = grids or [1] * n
    if len(grids) != n:
        raise ValueError(f"multi_grids needs {n} entries, got {len(grids)}")
    return nn.Sequential(
        *(
            Bottleneck(
                in_ch if i == 0 else out_ch,
                out_ch,
                stride if i == 0 else 1,
                dilation * grids[i],
                project=i == 0,
            )
            for i in range(n)
        )
    )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: parallel dilated convolutions (+ global pooling)."""

    def __init__(self, in_ch: int, out_ch: int, rates: Sequence[int], image_pool: bool = True):
        super().__init__()
        self.branches = nn.ModuleList([conv_block(in_ch, out_ch, 1)])
        self.branches.extend(conv_block(in_ch, out_ch, 3, dilation=r) for r in rates)
        # No batch norm on the pooled branch: a 1x1 map per sample has no spatial statistics.
        self.pool = conv_block(in_ch, out_ch, 1, norm=False) if image_pool else None

    @property
    def out_channels_factor(self) -> int:
        """How many ``out_ch`` blocks the concatenated output has."""
        return len(self.branches) + (self.pool is not None)

    def forward(self, x: Tensor) -> Tensor:
        """Concatenated branch outputs."""
        outs = [branch(x) for branch in self.branches]
        if self.pool is not None:
            pooled = self.pool(F.adaptive_avg_pool2d(x, 1))
            outs.append(pooled.expand(-1, -1, x.shape[2], x.shape[3]))
        return torch.cat(outs, dim=1)


def _relu_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True))


@dataclass
class PMNetParams:
    """Hyper-parameters of :class:`PMNet` (see the module docstring)."""

    base: int = 64
    n_blocks: Sequence[int] = (3, 3, 27, 3)
    atrous_rates: Sequence[int] = (6, 12, 18)
    multi_grids: Sequence[int] = (1, 2, 4)
    image_pool: bool = True

    def __post_init__(self) -> None:
        if len(self.n_blocks) != 4:
            raise ValueError("n_blocks needs four stage depths")
        self.n_blocks = tuple(self.n_blocks)
        self.atrous_rates = tuple(self.atrous_rates)
        self.multi_grids = tuple(self.multi_grids)


class PMNet(CoverageNet):
    """PMNet at output stride 8 (see the module docstring)."""

    arch = "pmnet"
    size_multiple = 8
    Params = PMNetParams

    def build(self, in_channels: int, hp: PMNetParams) -> None:
        """Encoder, ASPP, decoder and head for :class:`PMNetParams` ``hp``."""
        ch = [hp.base * 2**p for p in range(5)]  # 64, 128, 256, 512, 1024
        aspp_ch = ch[2]
        # Encoder: /2 stem conv, /2 max pool, then stages at /4, /8, /8 (dilated), /8 (dilated).
        self.stem = nn.Sequential(
            conv_block(in_channels, ch[0], 7, stride=2), nn.MaxPool2d(3, stride=2, padding=1)
        )
        self.layer2 = _stage(hp.n_blocks[0], ch[0], ch[2], 1, 1)
        self.reduce = conv_block(ch[2], ch[2], 1)
        self.layer3 = _stage(hp.n_blocks[1], ch[2], ch[3], 2, 1)
        self.layer4 = _stage(hp.n_blocks[2], ch[3], ch[3], 1, 2)
        # Multi-grid dilations apply when they match the last stage's depth (else plain 4).
        grids = list(hp.multi_grids) if len(hp.multi_grids) == hp.n_blocks[3] else None
        self.layer5 = _stage(hp.n_blocks[3], ch[3], ch[4], 1, 4, grids)
        self.aspp = ASPP(ch[4], aspp_ch, hp.atrous_rates, hp.image_pool)
        self.fc1 = conv_block(aspp_ch * self.aspp.out_channels_factor, ch[3], 1)
        # Decoder.
        self.up5 = _relu_conv(ch[3], ch[3])
        self.up4 = _relu_conv(2 * ch[3], ch[3])
        self.up3 = nn.Sequential(
            nn.ConvTranspose2d(2 * ch[3], ch[2], 4, stride=2, padding=1), nn.ReLU(inplace=True)
        )
        self.up2 = _relu_conv(2 * ch[2], ch[2])
        self.up1 = _relu_conv(2 * ch[2], ch[2])
        self.up0 = _relu_conv(ch[2] + ch[0], ch[1])
        self.head = nn.Sequential(
            conv_block(ch[1] + in_channels, ch[0], 3),
            conv_block(ch[0], ch[0], 3),
            nn.Conv2d(ch[0], 1, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, 1, H, W)``."""
        self.check_input(x)
        x1 = self.stem(x)  # /4
        x2 = self.layer2(x1)  # /4
        x3 = self.reduce(x2)  # /4
        x4 = self.layer3(x3)  # /8
        x5 = self.layer4(x4)  # /8
        x6 = self.layer5(x5)  # /8
        h = self.fc1(self.aspp(x6))
        h = torch.cat([self.up5(h), x5], dim=1)
        h = torch.cat([self.up4(h), x4], dim=1)
        h = torch.cat([self.up3(h), x3], dim=1)  # /4
        h = torch.cat([self.up2(h), x2], dim=1)
        h = torch.cat([self.up1(h), x1], dim=1)
        h = self.up0(h)
        h = F.interpolate(h, size=x.shape[2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([h, x], dim=1))
