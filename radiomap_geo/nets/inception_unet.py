"""Paper 000's best network: UNet + strided convolutions + inception modules, kernels (1, 5, 7).

Ozyegen et al. (Sec. 3.3, Table 2) replace the UNet's max pooling by learned stride-2
convolutions and each pair of convolutions by inception modules; kernel set (1, 5, 7) gave the
lowest MAE (2.20 dB). This is :class:`radiomap_geo.nets.unet.UNet` with those settings as defaults
(``strided=False`` gives their "UNET + Inception" row).
"""

from __future__ import annotations

from collections.abc import Sequence

from radiomap_geo.nets.unet import UNet


class InceptionUNet(UNet):
    """UNet with inception blocks and (by default) strided-convolution down-sampling."""

    arch = "inception_unet"

    def __init__(
        self,
        in_channels: int,
        base: int = 64,
        depth: int = 4,
        kernels: Sequence[int] = (1, 5, 7),
        strided: bool = True,
        batch_norm: bool = True,
    ):
        super().__init__(
            in_channels,
            base=base,
            depth=depth,
            down="strided" if strided else "maxpool",
            block="inception",
            inception_kernels=kernels,
            batch_norm=batch_norm,
        )
        self._remember(
            in_channels,
            base=base,
            depth=depth,
            kernels=tuple(kernels),
            strided=strided,
            batch_norm=batch_norm,
        )
