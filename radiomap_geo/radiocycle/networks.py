"""Paper 001's generators: F (ResUNet, sparse RSRP -> building map) and G (U-Net, building map +
transmitter -> radio map), and its InterpolationNet baseline (U-Net, sparse RSRP -> radio map).

All three are small fully convolutional nets (``base`` channels at full resolution, ``depth``
down-sampling steps of 2): height and width must be multiples of ``2 ** depth``. Outputs are
logits for F (building probability after a sigmoid) and a normalised radio map in [0, 1]-ish
units for G and InterpolationNet (see :mod:`radiomap_geo.radiocycle.data`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def _conv(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class DoubleConv(nn.Module):
    """Two 3x3 conv-BN-ReLU layers (the U-Net block)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(in_ch, out_ch), _conv(out_ch, out_ch))

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102 (nn.Module.forward)
        return self.body(x)


class ResidualBlock(nn.Module):
    """ResUNet block: two conv-BN-ReLU layers plus a 1x1 projected identity shortcut, which
    carries the few measured values through the mostly-empty input (why F uses ResUNet).
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(in_ch, out_ch),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102 (nn.Module.forward)
        return self.act(self.body(x) + self.shortcut(x))


class UNetLike(nn.Module):
    """An encoder-decoder with skip connections built from ``block`` (U-Net or ResUNet)."""

    kind = "unet"

    def __init__(self, in_channels: int, base: int = 16, depth: int = 3) -> None:
        super().__init__()
        block = ResidualBlock if self.kind == "resunet" else DoubleConv
        self.config: dict[str, Any] = {"in_channels": in_channels, "base": base, "depth": depth}
        self.size_multiple = 2**depth
        widths = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        ch = in_channels
        for w in widths:
            self.down.append(block(ch, w))
            ch = w
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(ch, w, 2, stride=2))
            self.merge.append(block(2 * w, w))
            ch = w
        self.head = nn.Conv2d(ch, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, 1, H, W)``."""
        if x.shape[-1] % self.size_multiple or x.shape[-2] % self.size_multiple:
            raise ValueError(
                f"{self.kind} needs H and W multiples of {self.size_multiple}, got "
                f"{tuple(x.shape[-2:])}"
            )
        skips = []
        for i, layer in enumerate(self.down):
            x = layer(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], 1))
        return self.head(x)


class ResUNet(UNetLike):
    """Generator F (paper 001 section 3.2.1): residual blocks in encoder and decoder."""

    kind = "resunet"


class UNet(UNetLike):
    """Generator G and InterpolationNet: the plain U-Net."""

    kind = "unet"


ARCHS: dict[str, type[UNetLike]] = {"resunet": ResUNet, "unet": UNet}


def build(kind: str, **config: Any) -> UNetLike:
    """A network from its ``kind`` and ``config`` (as stored in a weights file)."""
    if kind not in ARCHS:
        raise ValueError(f"unknown radiocycle network {kind!r}; known: {sorted(ARCHS)}")
    return ARCHS[kind](**config)
