"""The fast inference path: folded batch norm, frozen graphs, bfloat16 with a float32 head."""

from __future__ import annotations

import copy

import pytest
import torch

from radiomap_geo.errors import InputError
from radiomap_geo.nets import build_network
from radiomap_geo.nets.inference import (
    InferenceRunner,
    fold_batch_norm,
    native_bfloat16,
    resolve_precision,
)
from radiomap_geo.options import RunOptions

CPU = torch.device("cpu")


def trained_looking_unet() -> torch.nn.Module:
    """A small UNet whose batch-norm layers hold non-trivial running statistics."""
    torch.manual_seed(0)
    net = build_network("unet", 3, base=4, depth=3)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return net.eval()


def test_folding_batch_norm_keeps_the_values_and_removes_the_layers():
    net = trained_looking_unet()
    x = torch.randn(2, 3, 32, 32)
    folded = fold_batch_norm(copy.deepcopy(net))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # a copy was folded
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), rtol=0, atol=1e-5)


def test_the_runner_leaves_the_network_alone_and_matches_it_in_float32():
    net = trained_looking_unet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    runner = InferenceRunner(net, CPU, "float32")
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(runner(x), net(x), rtol=0, atol=1e-5)
    torch.testing.assert_close(runner(x), runner(x), rtol=0, atol=0)  # now the frozen graph
    assert runner.frozen_graphs == 1
    runner(torch.randn(4, 3, 32, 32))  # another shape: its own graph
    assert runner.frozen_graphs == 2
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_bfloat16_keeps_the_output_layer_in_float32():
    net = trained_looking_unet()
    runner = InferenceRunner(net, CPU, "bfloat16", freeze=False)
    head = runner.module.net.head
    assert type(head).__name__ == "_Float32"
    seen = []
    head.inner.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    runner(torch.randn(1, 3, 32, 32))
    assert seen == [torch.float32]


def test_precision_names_are_checked_and_auto_follows_the_hardware():
    assert resolve_precision("auto", CPU) == ("bfloat16" if native_bfloat16(CPU) else "float32")
    assert resolve_precision("float32", CPU) == "float32"
    with pytest.raises(InputError, match="'half'") as caught:
        resolve_precision("half", CPU)
    assert caught.value.parameter == "precision"
    with pytest.raises(InputError, match="half"):
        RunOptions(precision="half")
    assert RunOptions().precision == "auto"
