"""Modulated deformable convolution (DCNv2, Zhu et al. 2019) in plain PyTorch.

torchvision's ``deform_conv2d`` is not importable beside the CPU build of torch this project uses,
so the operator is written here with :func:`torch.nn.functional.grid_sample`: every kernel tap of
every output position samples the input bilinearly at its regular position plus a learned offset,
the samples are scaled by a learned modulation mask and contracted with the kernel weights.

Conventions follow ``torchvision.ops.deform_conv2d`` so weights and offsets are interchangeable:

* ``offset`` is ``(B, 2 * offset_groups * kh * kw, H_out, W_out)``, ordered per offset group,
  then per kernel tap (row-major over ``kh, kw``), then ``(dy, dx)``;
* ``mask`` is ``(B, offset_groups * kh * kw, H_out, W_out)`` in the same order;
* sampling outside the input reads zeros (bilinear weights of outside pixels are dropped).

With zero offsets and a mask of ones the result equals :func:`torch.nn.functional.conv2d`.
Memory grows with ``B * C_in * kh * kw * H_out * W_out`` (an explicit im2col buffer).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair


def _out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    mask: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """Modulated deformable 2-D convolution (see the module docstring for tensor layouts).

    Args:
        input: ``(B, C_in, H, W)``.
        offset: ``(B, 2 * G * kh * kw, H_out, W_out)`` sampling offsets in pixels, ``G`` offset
            groups dividing ``C_in``.
        weight: ``(C_out, C_in / groups, kh, kw)``; ``groups = C_in / weight.shape[1]``.
        bias: ``(C_out,)`` or None.
        mask: ``(B, G * kh * kw, H_out, W_out)`` modulation scalars, or None for ones (DCNv1).
        stride, padding, dilation: as for :func:`torch.nn.functional.conv2d`.

    Returns:
        ``(B, C_out, H_out, W_out)``.
    """
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    batch, c_in, height, width = input.shape
    c_out, c_per_group, kh, kw = weight.shape
    taps = kh * kw
    if c_in % c_per_group:
        raise ValueError(f"weight expects {c_per_group} channels per group, input has {c_in}")
    groups = c_in // c_per_group
    h_out = _out_size(height, kh, sh, ph, dh)
    w_out = _out_size(width, kw, sw, pw, dw)
    if (
        offset.shape[0] != batch
        or offset.shape[2:] != (h_out, w_out)
        or offset.shape[1] % (2 * taps)
    ):
        raise ValueError(
            f"offset must be (B, 2*G*{taps}, {h_out}, {w_out}), got {tuple(offset.shape)}"
        )
    off_groups = offset.shape[1] // (2 * taps)
    if c_in % off_groups:
        raise ValueError(f"{off_groups} offset groups do not divide {c_in} input channels")
    if mask is not None and mask.shape != (batch, off_groups * taps, h_out, w_out):
        raise ValueError(
            f"mask must be {(batch, off_groups * taps, h_out, w_out)}, got {tuple(mask.shape)}"
        )

    # Sampling positions need more precision than float16/bfloat16 give (a 512-pixel map would
    # be addressed in quarter pixels), so half-precision inputs are sampled in float32.
    out_dtype = input.dtype
    dtype = torch.float32 if input.dtype in (torch.float16, torch.bfloat16) else input.dtype
    input = input.to(dtype)
    # Regular sampling positions (in pixels of the unpadded input) of every tap and output.
    ky = torch.arange(kh, device=input.device, dtype=dtype) * dh
    kx = torch.arange(kw, device=input.device, dtype=dtype) * dw
    oy = torch.arange(h_out, device=input.device, dtype=dtype) * sh - ph
    ox = torch.arange(w_out, device=input.device, dtype=dtype) * sw - pw
    base_y = (ky[:, None, None, None] + oy[None, None, :, None]).expand(kh, kw, h_out, w_out)
    base_x = (kx[None, :, None, None] + ox[None, None, None, :]).expand(kh, kw, h_out, w_out)
    base_y = base_y.reshape(1, 1, taps, h_out, w_out)
    base_x = base_x.reshape(1, 1, taps, h_out, w_out)

    off = offset.reshape(batch, off_groups, taps, 2, h_out, w_out)
    # One pixel of zero padding makes every out-of-range tap sample zeros exactly as DCN does,
    # and keeps the normalisation well defined for 1-pixel-wide inputs.
    y = base_y + off[:, :, :, 0].to(dtype) + 1.0
    x = base_x + off[:, :, :, 1].to(dtype) + 1.0
    padded = F.pad(input, (1, 1, 1, 1))
    hp, wp = height + 2, width + 2
    grid = torch.stack((x * (2.0 / (wp - 1)) - 1.0, y * (2.0 / (hp - 1)) - 1.0), dim=-1)
    grid = grid.reshape(batch * off_groups, taps * h_out, w_out, 2)
    per_group = padded.reshape(batch * off_groups, c_in // off_groups, hp, wp)
    sampled = F.grid_sample(
        per_group,
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )  # (B*G, C/G, taps*H_out, W_out)
    sampled = sampled.reshape(batch, off_groups, c_in // off_groups, taps, h_out, w_out)
    if mask is not None:
        sampled = sampled * mask.reshape(batch, off_groups, 1, taps, h_out, w_out).to(sampled.dtype)
    # Columns ordered (channel, tap) to match weight.view(C_out, C_in/groups * kh * kw).
    columns = sampled.reshape(batch, groups, c_per_group * taps, h_out * w_out)
    w = weight.reshape(groups, c_out // groups, c_per_group * taps)
    out = torch.einsum("gok,bgkn->bgon", w.to(columns.dtype), columns)
    out = out.reshape(batch, c_out, h_out, w_out)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1).to(out.dtype)
    return out.to(out_dtype)


class DeformConv2d(nn.Module):
    """A modulated deformable convolution with its own offset/mask predictor (DCNv2).

    The offsets and the mask are predicted from the layer's input by a plain convolution of the
    same geometry, initialised to zero, so a fresh layer starts as an ordinary convolution:
    offsets ``0`` and mask ``2 * sigmoid(0) = 1``. ``offset_scale`` bounds nothing but scales the
    predicted offsets (a gentler start for deep stacks); ``modulated=False`` gives DCNv1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        offset_groups: int = 1,
        bias: bool = True,
        modulated: bool = True,
        offset_scale: float = 1.0,
    ):
        super().__init__()
        kh, kw = _pair(kernel_size)
        dh, dw = _pair(dilation)
        if padding is None:
            padding = (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
        if in_channels % groups or out_channels % groups or in_channels % offset_groups:
            raise ValueError("groups and offset_groups must divide the channel counts")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = (kh, kw), _pair(stride)
        self.padding, self.dilation = _pair(padding), (dh, dw)
        self.groups, self.offset_groups = groups, offset_groups
        self.modulated, self.offset_scale = modulated, float(offset_scale)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        taps = offset_groups * kh * kw
        self.offset_conv = nn.Conv2d(
            in_channels,
            taps * (3 if modulated else 2),
            (kh, kw),
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform kernel (as ``nn.Conv2d``); zero offset/mask predictor."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)
        nn.init.zeros_(self.offset_conv.weight)
        nn.init.zeros_(self.offset_conv.bias)

    def offsets_and_mask(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """The offsets (pixels) and modulation mask the layer would use for ``x``."""
        raw = self.offset_conv(x)
        taps = self.offset_groups * self.kernel_size[0] * self.kernel_size[1]
        offset = raw[:, : 2 * taps] * self.offset_scale
        mask = 2.0 * torch.sigmoid(raw[:, 2 * taps :]) if self.modulated else None
        return offset, mask

    def forward(self, x: Tensor) -> Tensor:
        """Deformable convolution of ``x`` with offsets and mask predicted from ``x``."""
        offset, mask = self.offsets_and_mask(x)
        return deform_conv2d(
            x, offset, self.weight, self.bias, mask, self.stride, self.padding, self.dilation
        )

    def extra_repr(self) -> str:
        """Layer geometry for ``repr``."""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"groups={self.groups}, offset_groups={self.offset_groups}, modulated={self.modulated}"
        )
