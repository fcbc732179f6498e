"""Size, compute and CPU speed of every coverage architecture at its default configuration.

Prints one Markdown table: parameters, multiply-accumulates (MACs) for one 128 x 128 map (counted
with forward hooks on every Conv2d / ConvTranspose2d / Linear and on the deformable convolutions'
contraction; pooling, normalisation, activations and bilinear sampling are not counted) and the
median wall time of a forward pass per map on this machine's CPU (inference mode, batch 1).
Training time and held-out RMSE come from training logs: pass ``--results results.json`` with
``{"arch": {"train_h": ..., "rmse_db": ...}}`` to fill those columns.

    .venv/bin/python benchmarks/bench_architectures.py [--size 128] [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from radiomap_geo.nets.deform_conv import DeformConv2d
from radiomap_geo.nets.evaluate import time_inference
from radiomap_geo.nets.registry import DEFAULT_CHANNELS, build_network, list_architectures


def count_macs(net: nn.Module, in_channels: int, size: int) -> int:
    """MACs of one forward pass on a ``(1, in_channels, size, size)`` input."""
    total = 0

    def conv_hook(module, inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        per_out = module.in_channels // module.groups * kh * kw
        total += output.numel() * per_out

    def transpose_hook(module, inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        total += inputs[0].numel() * module.out_channels // module.groups * kh * kw

    def linear_hook(module, inputs, output):
        nonlocal total
        total += output.numel() * module.in_features

    def deform_hook(module, inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * module.in_channels // module.groups * kh * kw

    handles = []
    for m in net.modules():
        if isinstance(m, nn.ConvTranspose2d):
            handles.append(m.register_forward_hook(transpose_hook))
        elif isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, DeformConv2d):
            handles.append(m.register_forward_hook(deform_hook))
    net.eval()
    with torch.inference_mode():
        net(torch.zeros(1, in_channels, size, size))
    for h in handles:
        h.remove()
    return total


def human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--arch", action="append", help="only these (repeatable)")
    parser.add_argument("--results", type=Path, help="JSON with train_h / rmse_db per arch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = json.loads(args.results.read_text()) if args.results else {}
    channels = len(DEFAULT_CHANNELS)
    print(
        f"{channels} input channels, {args.size}x{args.size} map, CPU threads={args.threads}, "
        f"torch {torch.__version__}\n"
    )
    print("| arch | parameters | MACs / map | ms / map (CPU) | train h | RMSE dB |")
    print("|---|---:|---:|---:|---:|---:|")
    for arch in args.arch or list_architectures():
        net = build_network(arch, channels)
        size = -(-args.size // net.size_multiple) * net.size_multiple
        params = sum(p.numel() for p in net.parameters())
        macs = count_macs(net, channels, size)
        ms = time_inference(net, channels, size, repeats=args.repeats, device="cpu")
        extra = results.get(arch, {})
        train_h = f"{extra['train_h']:.1f}" if "train_h" in extra else "-"
        rmse = f"{extra['rmse_db']:.2f}" if "rmse_db" in extra else "-"
        print(f"| {arch} | {human(params)} | {human(macs)} | {ms:.0f} | {train_h} | {rmse} |")


if __name__ == "__main__":
    main()
