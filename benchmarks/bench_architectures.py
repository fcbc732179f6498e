"""The papers' architecture table for this project: size, compute, accuracy and speed per map.

Table 1 (``--configs``) lists every architecture at its paper-default configuration: parameters,
multiply-accumulates (MACs) for one 128 x 128 map (forward hooks on every Conv2d /
ConvTranspose2d / Linear and on the deformable convolutions' contraction; pooling,
normalisation, activations and bilinear sampling are not counted) and the median CPU time of a
forward pass per map (inference mode, batch 1).

Table 2 lists every shipped network of ``weights/`` (verified hashes): its configuration, size,
MACs, training time and the test-split metrics recorded by ``radiomap-geo evaluate`` in its
weights (RMSE / MAE over cells >= -130 dB, all / LOS / NLOS; best empirical baseline beside
them), and the time per map measured here: input channels + network on a 128 x 128 test map.

With ``--sionna-tiles N`` the same test maps of N re-traceable test tiles are also solved by
Sionna RT on this machine (the dataset's settings, another ray seed) and the default model's
speed-up per map is printed (``--compare NAME`` adds other shipped networks).

    .venv/bin/python benchmarks/bench_architectures.py [--configs] [--sionna-tiles 2] \
        [--threads 2] [--repeats 5] [--evaluate]

``--evaluate`` scores every shipped network on today's test split in the same run (the
accuracy columns then share one split; without it they are what each file recorded).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
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


def configs_table(args: argparse.Namespace) -> None:
    channels = len(DEFAULT_CHANNELS)
    print(f"\n## Paper-default configurations ({channels} inputs, {args.size}x{args.size})\n")
    print("| arch | parameters | MACs / map | ms / map (CPU) |")
    print("|---|---:|---:|---:|")
    for arch in list_architectures():
        net = build_network(arch, channels)
        size = -(-args.size // net.size_multiple) * net.size_multiple
        params = sum(p.numel() for p in net.parameters())
        macs = count_macs(net, channels, size)
        ms = time_inference(net, channels, size, repeats=args.repeats, device="cpu")
        print(f"| {arch} | {human(params)} | {human(macs)} | {ms:.0f} |")


def test_maps(dataset, count: int, renderer=None) -> list:
    """The first ``count`` test maps as samples (with rendered orthophotos if asked)."""
    from radiomap_geo.nets.pipeline import dataset_samples

    return dataset_samples(dataset, range(min(count, len(dataset.gain_db))), renderer=renderer)


def ms_per_map(model, samples, repeats: int) -> float:
    """Median ms per map of channels + network on whole test maps (first call excluded)."""
    from radiomap_geo.nets.pipeline import predict_tile

    predict_tile(model, samples[0].scene, samples[0].site)
    times = []
    for _ in range(repeats):
        for sample in samples:
            t0 = time.perf_counter()
            predict_tile(model, sample.scene, sample.site)
            times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def channels_ms(model, samples, repeats: int) -> float:
    """Median ms per map of building the network's input channels alone."""
    from radiomap_geo.rasterize import feature_stack

    feature_stack(samples[0].scene, samples[0].site, model.channels)
    times = []
    for _ in range(repeats):
        for sample in samples:
            t0 = time.perf_counter()
            feature_stack(sample.scene, sample.site, model.channels)
            times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def _fmt(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fresh_metrics(names: list[str], dataset_dir: Path) -> dict[str, dict]:
    """Every network scored now on the current test split (as ``radiomap-geo evaluate``), the
    3GPP baselines once: one split and one run for every row, instead of the numbers each
    weights file recorded when it was shipped (the split grows with the background lane).
    """
    from radiomap_geo.nets.pipeline import evaluate_on_dataset
    from radiomap_geo.nets.reports import headline_metrics

    out: dict[str, dict] = {}
    for k, name in enumerate(names):
        baselines = ("3gpp-uma", "3gpp-umi") if k == 0 else ()
        report = evaluate_on_dataset(name, dataset_dir, "test", baselines=baselines)
        rows = headline_metrics(report)
        out[name] = rows
        if k == 0:
            out["_baselines"] = rows
    return out


def shipped_table(args: argparse.Namespace, dataset) -> dict[str, float]:
    from radiomap_geo.models.registry import default_model, read_index, weights_dir
    from radiomap_geo.nets.augment import TileRenderer
    from radiomap_geo.nets.model import NetworkModel

    index = read_index()
    default = default_model()
    fresh = fresh_metrics(list(index), args.dataset) if args.evaluate else {}
    print("\n## Shipped networks (test split of data/radiomaps, cells >= -130 dB)\n")
    if fresh:
        first = fresh["_baselines"]
        print(f"Scored in this run: {first['maps']} maps of the `{first['split']}` split.\n")
    print(
        "| model | arch | config | inputs | parameters | MACs / map | train min | RMSE | MAE "
        "| RMSE LOS | RMSE NLOS | MAE LOS | MAE NLOS | best baseline RMSE | ms / map (CPU) "
        "| of which channels |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    timings = {}
    for name, entry in index.items():
        model = NetworkModel.from_weights(
            weights_dir() / entry["file"], entry["sha256"], device="cpu"
        )
        meta = model.metadata
        net, n_in = model.net, len(model.channels)
        macs = count_macs(net, n_in, 128)
        params = sum(p.numel() for p in net.parameters())
        renderer = TileRenderer.for_channels(model.channels, seed=0)
        samples = test_maps(dataset, args.maps, renderer)
        ms = ms_per_map(model, samples, args.repeats)
        ms_channels = channels_ms(model, samples, args.repeats)
        timings[name] = ms
        evaluation = fresh.get(name) or (meta.get("metrics") or {}).get("evaluation") or {}
        rows = dict(evaluation.get("models", {}))
        if fresh:
            rows.update(
                (k, v) for k, v in fresh["_baselines"]["models"].items() if k.startswith("3gpp")
            )
        own = rows.get(name) or next(
            (v for k, v in rows.items() if k.startswith(name) or "net:" in k), {}
        )
        baselines = [v["rmse_above_db"] for k, v in rows.items() if k.startswith("3gpp")]
        minutes = float((meta.get("training") or {}).get("seconds") or 0) / 60
        settings = (meta.get("training") or {}).get("settings") or {}
        config = json.dumps(settings.get("arch_kwargs", meta["arch_kwargs"])).replace("|", "/")
        label = f"**{name}** (default)" if name == default else name
        print(
            f"| {label} | {meta['arch']} | `{config}` | {n_in} | {human(params)} | {human(macs)} "
            f"| {minutes:.0f} | {_fmt(own.get('rmse_above_db'))} | {_fmt(own.get('mae_above_db'))} "
            f"| {_fmt(own.get('rmse_los_above_db'))} | {_fmt(own.get('rmse_nlos_above_db'))} "
            f"| {_fmt(own.get('mae_los_above_db'))} | {_fmt(own.get('mae_nlos_above_db'))} "
            f"| {_fmt(min(baselines) if baselines else None)} | {ms:.1f} | {ms_channels:.1f} |"
        )
    return timings


def sionna_table(args: argparse.Namespace, dataset) -> None:
    from radiomap_geo.errors import InputError
    from radiomap_geo.models.registry import default_model, get_model
    from radiomap_geo.nets.pipeline import _network_of, dataset_samples, retrace_tile

    names = [default_model(), *(n for n in args.compare if n != default_model())]
    models = {name: _network_of(get_model(name)) for name in names}
    rows, rt_seconds, net_ms = [], [], {name: [] for name in names}
    for tile in range(len(dataset.tile_id)):
        if len(rows) >= args.sionna_tiles:
            break
        try:
            traced = retrace_tile(dataset, tile, seed=1)
        except InputError:
            continue  # a tile whose source data is not on this machine
        indices = sorted(traced)
        samples = dataset_samples(dataset, indices)
        seconds = [traced[i][1] for i in indices]
        rt_seconds += seconds
        ms = {name: ms_per_map(m, samples, args.repeats) for name, m in models.items()}
        for name, value in ms.items():
            net_ms[name].append(value)
        rows.append((int(dataset.tile_id[tile]), len(indices), 1000 * np.mean(seconds), ms))
    print("\n## Networks vs Sionna RT on the same test tiles and machine (128 x 128 maps)\n")
    header = " | ".join(f"{n} ms / map | speed-up" for n in names)
    print(f"| tile | maps | Sionna RT ms / map | {header} |")
    print("|---:|---:|---:|" + "---:|---:|" * len(names))

    def cells(rt_ms: float, ms: dict) -> str:
        return " | ".join(f"{ms[n]:.1f} | {rt_ms / ms[n]:.0f}x" for n in names)

    for tile, n, rt_ms, ms in rows:
        print(f"| {tile} | {n} | {rt_ms:.0f} | {cells(rt_ms, ms)} |")
    if rows:
        rt_ms = 1000 * float(np.mean(rt_seconds))
        mean_ms = {n: float(np.mean(v)) for n, v in net_ms.items()}
        print(f"| all | {len(rt_seconds)} | {rt_ms:.0f} | {cells(rt_ms, mean_ms)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--maps", type=int, default=16, help="test maps timed per network")
    parser.add_argument("--configs", action="store_true", help="also the paper-default table")
    parser.add_argument("--sionna-tiles", type=int, default=0, help="time Sionna RT on N tiles")
    parser.add_argument(
        "--compare", action="append", default=[], help="also time this shipped network"
    )
    parser.add_argument("--dataset", type=Path, default=Path("data/radiomaps"))
    parser.add_argument(
        "--evaluate",
        action="store_true",
        help="score every network on the current test split (else: the numbers in its file)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from radiomap_geo.dataset import load_dataset

    print(f"CPU threads={args.threads}, torch {torch.__version__}")
    if args.configs:
        configs_table(args)
    dataset = load_dataset(args.dataset, "test")
    shipped_table(args, dataset)
    if args.sionna_tiles:
        sionna_table(args, dataset)


if __name__ == "__main__":
    main()
