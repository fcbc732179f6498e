"""The baseline CNN of Ozyegen et al. (paper 000, Sec. 3.2.1): a plain stack of same-size convs.

``depth`` convolutions of ``kernel_size`` with ``width`` filters, ReLU between them and "same"
padding, no pooling; the last convolution maps to one channel without activation. The defaults
(24 layers, 32 filters, 3x3) give 204.35 k parameters for two input channels, as in the paper's
Table 1 (566.33 k with 5x5 kernels). Its receptive field is only ``depth * (kernel_size - 1) + 1``
cells, which is why the paper finds it worse than the UNets.
"""

from __future__ import annotations

from torch import Tensor, nn

from radiomap_geo.nets.common import CoverageNet


class BaselineCNN(CoverageNet):
    """Fully convolutional stack without down-sampling (paper 000's "vanilla CNN")."""

    arch = "cnn"
    size_multiple = 1

    def __init__(
        self,
        in_channels: int,
        depth: int = 24,
        width: int = 32,
        kernel_size: int = 3,
        batch_norm: bool = False,
    ):
        super().__init__()
        if depth < 2:
            raise ValueError("the baseline CNN needs at least two layers")
        if kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd for 'same' padding")
        self._remember(
            in_channels, depth=depth, width=width, kernel_size=kernel_size, batch_norm=batch_norm
        )
        pad = kernel_size // 2
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(depth - 1):
            layers.append(nn.Conv2d(channels, width, kernel_size, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            channels = width
        layers.append(nn.Conv2d(channels, 1, kernel_size, padding=pad))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, 1, H, W)``."""
        self.check_input(x)
        return self.body(x)
