"""Paper 000's best network: UNet + strided convolutions + inception modules, kernels (1, 5, 7).

Ozyegen et al. (Sec. 3.3, Table 2) replace the UNet's max pooling by learned stride-2
convolutions and each pair of convolutions by inception modules; kernel set (1, 5, 7) gave the
lowest MAE (2.20 dB). This is :class:`radiomap_geo.nets.unet.UNet` with those settings as defaults
(``strided=False`` gives their "UNET + Inception" row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from radiomap_geo.nets.unet import UNet, UNetParams


@dataclass
class InceptionUNetParams:
    """Hyper-parameters of :class:`InceptionUNet`: the paper's names for a :class:`UNetParams`."""

    base: int = 64
    depth: int = 4
    kernels: Sequence[int] = (1, 5, 7)
    strided: bool = True
    batch_norm: bool = True

    def __post_init__(self) -> None:
        self.kernels = tuple(self.kernels)

    def unet(self) -> UNetParams:
        """The same network in :class:`UNet`'s terms."""
        return UNetParams(
            base=self.base,
            depth=self.depth,
            down="strided" if self.strided else "maxpool",
            block="inception",
            inception_kernels=self.kernels,
            batch_norm=self.batch_norm,
        )


class InceptionUNet(UNet):
    """UNet with inception blocks and (by default) strided-convolution down-sampling."""

    arch = "inception_unet"
    # Weights files record these keywords, not the UNet's they translate to.
    Params = InceptionUNetParams

    def build(self, in_channels: int, hp: InceptionUNetParams) -> None:
        """The :class:`UNet` of ``hp``."""
        super().build(in_channels, hp.unet())
