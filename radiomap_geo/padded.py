"""Running a fully convolutional network on a map of any size.

U-Nets halve the map at every level, so they need sides that are multiples of
``net.size_multiple``: the input stack is zero-padded at the bottom and right edges and the output
cropped back, which leaves the cells of the map where they were.
"""

from __future__ import annotations

import numpy as np
import torch


def padded_shape(shape: tuple[int, int], multiple: int) -> tuple[int, int]:
    """``shape`` rounded up to multiples of ``multiple``."""
    return (-(-shape[0] // multiple) * multiple, -(-shape[1] // multiple) * multiple)


def run_padded(net: torch.nn.Module, channels: np.ndarray) -> np.ndarray:
    """The first output channel of ``net`` on a ``(C, H, W)`` stack, as an ``(H, W)`` array."""
    h, w = channels.shape[1:]
    hh, ww = padded_shape((h, w), int(getattr(net, "size_multiple", 1)))
    x = np.zeros((1, channels.shape[0], hh, ww), np.float32)
    x[0, :, :h, :w] = channels
    with torch.inference_mode():
        return net(torch.from_numpy(x))[0, 0, :h, :w].numpy()
