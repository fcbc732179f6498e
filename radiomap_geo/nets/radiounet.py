"""RadioUNet / RadioWNet (Levie et al. 2021), the lightweight baseline of paper 002.

Levie et al. cascade two UNets ("RadioWNet"): the first maps the inputs to a radio map; the
second sees that map together with the inputs and refines it. Paper 002 uses the first UNet
alone; ``cascade=False`` gives that. Both UNets are deeper than Ronneberger's (six 2x
down-samplings, so inputs must be multiples of 64) and use 5x5 kernels in most layers, which
widens the receptive field; every layer is ``conv -> ReLU`` (pooling in the encoder, stride-2
transposed convolutions in the decoder) and the input is concatenated again just before the
output. Channel widths follow the reference implementation: first UNet 40-50-60-100-100-150-300-500,
second UNet 20-30-40-50-60-70-90-110-150.

Deviation: the outputs are linear (the original ends in a ReLU because its targets are
non-negative grey levels; a ReLU output can get stuck at zero).

Training: Levie et al. train the first UNet, freeze it, then train the second. ``phase`` selects
what ``forward`` returns and trains: ``"joint"`` (default; both UNets, gradient through both),
``"first"`` (the first UNet's map only) or ``"second"`` (the first UNet runs without gradient).
:meth:`RadioUNet.forward_stages` returns both maps, e.g. for an auxiliary loss on the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from radiomap_geo.nets.common import CoverageNet

#: (kernel, pooling) of the nine encoder layers.
_ENCODER = ((3, 1), (5, 2), (5, 2), (5, 1), (5, 2), (3, 1), (5, 2), (5, 2), (5, 2))
#: Decoder layers before the output: (kind, kernel, padding, encoder index of the skip).
_DECODER = (
    ("up", 4, 1, 7),
    ("up", 4, 1, 6),
    ("up", 4, 1, 5),
    ("conv", 3, 1, 4),
    ("up", 6, 2, 3),
    ("conv", 5, 2, 2),
    ("up", 6, 2, 1),
)
FIRST_WIDTHS = (40, 50, 60, 100, 100, 150, 300, 500)
SECOND_WIDTHS = (20, 30, 40, 50, 60, 70, 90, 110, 150)
FINAL_WIDTH = 20


def _conv(in_ch: int, out_ch: int, kernel: int, pool: int = 1) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)]
    layers.append(nn.ReLU(inplace=True))
    if pool > 1:
        layers.append(nn.MaxPool2d(pool))
    return nn.Sequential(*layers)


def _up(in_ch: int, out_ch: int, kernel: int, padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(in_ch, out_ch, kernel, stride=2, padding=padding), nn.ReLU(inplace=True)
    )


class _RadioU(nn.Module):
    """One UNet of the cascade; ``widths`` are the nine encoder widths."""

    def __init__(self, in_ch: int, widths: tuple[int, ...], final: int):
        super().__init__()
        self.encoder = nn.ModuleList()
        channels = in_ch
        for width, (kernel, pool) in zip(widths, _ENCODER):
            self.encoder.append(_conv(channels, width, kernel, pool))
            channels = width
        self.decoder = nn.ModuleList()
        skip_channels = 0
        for kind, kernel, padding, skip in _DECODER:
            out = widths[skip]
            source = channels + skip_channels
            if kind == "up":
                self.decoder.append(_up(source, out, kernel, padding))
            else:
                self.decoder.append(_conv(source, out, kernel))
            channels, skip_channels = out, widths[skip]
        self.up0 = _up(channels + skip_channels, final, 6, 2)
        self.conv00 = _conv(final + widths[0] + in_ch, final, 5)
        self.out = nn.Conv2d(final + in_ch, 1, 5, padding=2)

    def forward(self, x: Tensor) -> Tensor:
        feats = []
        h = x
        for layer in self.encoder:
            h = layer(h)
            feats.append(h)
        h = feats[-1]
        for layer, (_, _, _, skip) in zip(self.decoder, _DECODER):
            h = torch.cat([layer(h), feats[skip]], dim=1)
        h = torch.cat([self.up0(h), feats[0], x], dim=1)
        h = torch.cat([self.conv00(h), x], dim=1)
        return self.out(h)


def _scaled(widths: tuple[int, ...], scale: float) -> tuple[int, ...]:
    return tuple(max(2, round(w * scale)) for w in widths)


@dataclass
class RadioUNetParams:
    """Hyper-parameters of :class:`RadioUNet`: ``cascade`` adds the second UNet and
    ``width_scale`` multiplies every layer's width (at least 2 channels each).
    """

    cascade: bool = True
    width_scale: float = 1.0


class RadioUNet(CoverageNet):
    """RadioWNet of Levie et al.: two cascaded UNets (or one, ``cascade=False``)."""

    arch = "radiounet"
    size_multiple = 64
    Params = RadioUNetParams

    def __init__(self, in_channels: int, *, phase: str = "joint", **params: Any):
        """``params``: the fields of :class:`RadioUNetParams`; ``phase``: see :attr:`phase` (how
        the network is trained, not what it is, so weights files do not record it).
        """
        super().__init__(in_channels, **params)
        self.phase = phase

    def build(self, in_channels: int, hp: RadioUNetParams) -> None:
        """The first UNet and, with ``cascade``, the second."""
        first_in = 6 if in_channels <= 3 else 10
        first = _scaled((first_in, *FIRST_WIDTHS), hp.width_scale)
        second = _scaled(SECOND_WIDTHS, hp.width_scale)
        final = max(2, round(FINAL_WIDTH * hp.width_scale))
        self.first = _RadioU(in_channels, first, final)
        self.second = _RadioU(in_channels + 1, second, final) if hp.cascade else None

    @property
    def phase(self) -> str:
        """What :meth:`forward` returns and trains: ``joint``, ``first`` or ``second``."""
        return self._phase

    @phase.setter
    def phase(self, value: str) -> None:
        if value not in ("joint", "first", "second"):
            raise ValueError(f"phase must be 'joint', 'first' or 'second', got {value!r}")
        if value == "second" and self.second is None:
            raise ValueError("phase 'second' needs cascade=True")
        self._phase = value
        for p in self.first.parameters():
            p.requires_grad_(value != "second")

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """The first UNet's map and, with the cascade, the second's (each ``(B, 1, H, W)``)."""
        self.check_input(x)
        if self._phase == "second":
            with torch.no_grad():
                first = self.first(x)
        else:
            first = self.first(x)
        if self.second is None or self._phase == "first":
            return [first]
        return [first, self.second(torch.cat([first, x], dim=1))]

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, 1, H, W)``: the last map of :meth:`forward_stages`."""
        return self.forward_stages(x)[-1]
