"""The pure-torch modulated deformable convolution against plain and naive references."""

import math

import pytest
import torch
import torch.nn.functional as F

from radiomap_geo.nets.deform_conv import DeformConv2d, deform_conv2d


def _zero_offsets(x, weight, stride, padding, dilation, offset_groups=1):
    groups = x.shape[1] // weight.shape[1]
    ref = F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
    taps = weight.shape[2] * weight.shape[3]
    b, _, h, w = ref.shape
    offset = torch.zeros(b, 2 * offset_groups * taps, h, w, dtype=x.dtype)
    mask = torch.ones(b, offset_groups * taps, h, w, dtype=x.dtype)
    return offset, mask


@pytest.mark.parametrize(
    "kernel,stride,padding,dilation,groups,offset_groups",
    [
        (3, 1, 1, 1, 1, 1),
        (3, 2, 1, 1, 1, 2),
        (3, 1, 2, 2, 2, 1),
        (5, 1, 2, 1, 1, 4),
        ((3, 1), 2, (1, 0), 1, 4, 2),
    ],
)
def test_equals_conv2d_with_zero_offsets_and_unit_mask(
    kernel, stride, padding, dilation, groups, offset_groups
):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = torch.randn(2, 8, 11, 9, dtype=torch.float64)
    weight = torch.randn(4, 8 // groups, kh, kw, dtype=torch.float64)
    bias = torch.randn(4, dtype=torch.float64)
    ref = F.conv2d(
        x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups
    )
    offset, mask = _zero_offsets(x, weight, stride, padding, dilation, offset_groups)
    out = deform_conv2d(x, offset, weight, bias, mask, stride, padding, dilation)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)


def test_fresh_layer_is_a_plain_convolution():
    layer = DeformConv2d(6, 5, 3, dilation=2)
    x = torch.randn(1, 6, 10, 10)
    ref = F.conv2d(x, layer.weight, layer.bias, padding=2, dilation=2)
    torch.testing.assert_close(layer(x), ref, rtol=1e-5, atol=1e-5)


def _naive(x, offset, weight, mask, padding):
    """Loop reference: bilinear sampling with zeros outside (stride 1, no dilation, 1 group)."""
    b, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    h_out, w_out = offset.shape[2:]
    out = torch.zeros(b, o, h_out, w_out, dtype=x.dtype)

    def pixel(n, ch, yy, xx):
        if 0 <= yy < h and 0 <= xx < w:
            return x[n, ch, yy, xx]
        return torch.zeros((), dtype=x.dtype)

    for n in range(b):
        for i in range(h_out):
            for j in range(w_out):
                for t in range(kh * kw):
                    ki, kj = divmod(t, kw)
                    py = i - padding + ki + offset[n, 2 * t, i, j]
                    px = j - padding + kj + offset[n, 2 * t + 1, i, j]
                    y0, x0 = math.floor(py), math.floor(px)
                    ly, lx = py - y0, px - x0
                    for ch in range(c):
                        v = (
                            (1 - ly) * (1 - lx) * pixel(n, ch, y0, x0)
                            + (1 - ly) * lx * pixel(n, ch, y0, x0 + 1)
                            + ly * (1 - lx) * pixel(n, ch, y0 + 1, x0)
                            + ly * lx * pixel(n, ch, y0 + 1, x0 + 1)
                        )
                        out[n, :, i, j] += weight[:, ch, ki, kj] * v * mask[n, t, i, j]
    return out


def test_matches_naive_bilinear_reference_with_random_offsets():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 5, 6, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64)
    offset = 2.5 * torch.randn(1, 18, 5, 6, generator=g, dtype=torch.float64)  # some leave the map
    mask = torch.rand(1, 9, 5, 6, generator=g, dtype=torch.float64)
    out = deform_conv2d(x, offset, weight, None, mask, 1, 1, 1)
    torch.testing.assert_close(out, _naive(x, offset, weight, mask, 1), rtol=1e-9, atol=1e-9)


def test_gradient_reaches_offsets_mask_and_offset_predictor():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 2, 4, 4, generator=g, dtype=torch.float64)
    weight = torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64)
    # Fractional offsets keep bilinear sampling away from its kinks, so gradcheck is exact.
    offset = (
        0.3 + 0.4 * torch.rand(1, 18, 4, 4, generator=g, dtype=torch.float64)
    ).requires_grad_()
    mask = torch.rand(1, 9, 4, 4, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda o, m: deform_conv2d(x, o, weight, None, m, 1, 1, 1), (offset, mask)
    )

    layer = DeformConv2d(3, 4, 3)
    out = layer(torch.randn(2, 3, 8, 8))
    out.square().sum().backward()
    assert layer.offset_conv.weight.grad is not None
    assert layer.offset_conv.weight.grad.abs().sum() > 0


def test_zero_mask_leaves_only_the_bias():
    x = torch.randn(1, 3, 6, 6)
    weight, bias = torch.randn(2, 3, 3, 3), torch.tensor([0.5, -1.0])
    offset = torch.randn(1, 18, 6, 6)
    out = deform_conv2d(x, offset, weight, bias, torch.zeros(1, 9, 6, 6), 1, 1, 1)
    torch.testing.assert_close(out, bias.view(1, 2, 1, 1).expand(1, 2, 6, 6))


def test_bad_offset_shape_is_refused():
    with pytest.raises(ValueError, match="offset must be"):
        deform_conv2d(
            torch.zeros(1, 2, 5, 5), torch.zeros(1, 9, 5, 5), torch.zeros(2, 2, 3, 3), padding=1
        )


def test_half_precision_inputs_sample_in_float32():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 40, 300, generator=g)
    weight = torch.randn(2, 2, 3, 3, generator=g)
    offset = torch.zeros(1, 18, 40, 300)
    offset[:, 1::2] = 0.37  # a fractional shift along x, far from the origin
    ref = deform_conv2d(x, offset, weight, None, None, 1, 1, 1)
    half = deform_conv2d(x.bfloat16(), offset.bfloat16(), weight.bfloat16(), None, None, 1, 1, 1)
    assert half.dtype == torch.bfloat16
    # bfloat16 keeps ~3 significant digits: the error stays at that level, far from a
    # misplaced tap (which would be O(1) for random inputs).
    assert (half.float() - ref).abs().max() < 0.1 * ref.abs().max()
