"""Fit a network's ray-count correction on training tiles traced with more rays; write a copy.

    nice -n 19 .venv/bin/python scripts/fit_ray_correction.py --model unet-obs \
        [--data data/radiomaps] [--more-rays data/radiomaps-train-1e7] [--out runs/ray-correction]

The network (a registry name or a weights file; a correction it already carries is ignored) is run
on every training map that ``--more-rays`` traced again; the mean difference between that trace
and the label the network trained on (the dataset's, or its average with ``--second-traces``),
per 5 dB bin of the prediction and per line of sight, becomes the
weights' ``output_correction`` (:mod:`radiomap_geo.nets.ray_correction`). Writes
``OUT/<name>-<sha12>.pt`` (a new file, the network unchanged) and prints the table. The lane runs
it on every candidate with ``scripts/keep_training.py --ray-correction DIR``; promote a corrected
file like any candidate (``radiomap-geo evaluate ... --ship-to weights --default``).
"""

from __future__ import annotations

import argparse
import sys

from radiomap_geo.errors import InputError
from radiomap_geo.nets.ray_correction_fit import fit_ray_correction, with_ray_correction


def weights_file(model: str) -> str:
    """The weights file of a registry name (or the path itself)."""
    from radiomap_geo.nets.scoring import _network_of, _resolve_model

    net = _network_of(_resolve_model(model))
    if net is None or net.weights_path is None:
        raise InputError(f"{model!r} is not a network weights file")
    return str(net.weights_path)


def main() -> int:
    """Fit, print the table, write the corrected copy."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="unet-obs")
    parser.add_argument("--data", default="data/radiomaps")
    parser.add_argument("--more-rays", default="data/radiomaps-train-1e7")
    parser.add_argument("--out", default="runs/ray-correction")
    parser.add_argument(
        "--second-traces", help="the network trained on labels averaged with this second run"
    )
    opts = parser.parse_args()
    try:
        source = weights_file(opts.model)
        correction = fit_ray_correction(
            source, opts.data, opts.more_rays, second_traces=opts.second_traces
        )
        written = with_ray_correction(source, correction, opts.out)
    except InputError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    edges = (
        ("< " + f"{correction.edges_db[0]:g}",)
        + tuple(
            f"[{a:g}, {b:g})" for a, b in zip(correction.edges_db[:-1], correction.edges_db[1:])
        )
        + (f">= {correction.edges_db[-1]:g}",)
    )
    print(
        f"{correction.cells} training cells, {correction.rays[0]:g} -> {correction.rays[1]:g} rays"
    )
    print("| predicted bin (dB) | NLOS shift (dB) | LOS shift (dB) |")
    print("|---|---:|---:|")
    for name, nlos, los in zip(edges, correction.nlos_db, correction.los_db):
        print(f"| {name} | {nlos:+.2f} | {los:+.2f} |")
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
