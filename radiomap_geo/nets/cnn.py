"""The baseline CNN of Ozyegen et al. (paper 000, Sec. 3.2.1): a plain stack of same-size convs.

``depth`` convolutions of ``kernel_size`` with ``width`` filters, ReLU between them and "same"
padding, no pooling; the last convolution maps to one channel without activation. The defaults
(24 layers, 32 filters, 3x3) give 204.35 k parameters for two input channels, as in the paper's
Table 1 (566.33 k with 5x5 kernels). Its receptive field is only ``depth * (kernel_size - 1) + 1``
cells, which is why the paper finds it worse than the UNets.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from radiomap_geo.nets.common import CoverageNet, check_depth, check_odd, conv_block


@dataclass
class CNNParams:
    """Hyper-parameters of :class:`BaselineCNN` (see the module docstring)."""

    depth: int = 24
    width: int = 32
    kernel_size: int = 3
    batch_norm: bool = False

    def __post_init__(self) -> None:
        check_depth("the baseline CNN", self.depth, 2)
        check_odd("kernel_size", self.kernel_size)


class BaselineCNN(CoverageNet):
    """Fully convolutional stack without down-sampling (paper 000's "vanilla CNN")."""

    arch = "cnn"
    size_multiple = 1
    Params = CNNParams

    def build(self, in_channels: int, hp: CNNParams) -> None:
        """The stack of :attr:`CNNParams.depth` convolutions."""
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(hp.depth - 1):
            # Flattened into one Sequential: the shipped weights name these layers body.<i>.
            layers.extend(conv_block(channels, hp.width, hp.kernel_size, norm=hp.batch_norm))
            channels = hp.width
        layers.append(nn.Conv2d(channels, 1, hp.kernel_size, padding=hp.kernel_size // 2))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, 1, H, W)``."""
        self.check_input(x)
        return self.body(x)
