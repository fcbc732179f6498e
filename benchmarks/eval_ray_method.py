"""`radiomap-geo evaluate` with the ray channels computed by the sweep or by the per-cell walks.

The shipped networks were trained on ray-walk channels (``los``, ``building_depth``,
``knife_edge_db``); prediction computes them with the radial sweep (:mod:`radiomap_geo.sweep`).
This runs the same evaluation with either method so the accuracy cost of the sweep is measured:

    .venv/bin/python benchmarks/eval_ray_method.py walk data/radiomaps --model unet-obs \
        --max-maps 100 --json benchmarks/results/eval_walk.json
    .venv/bin/python benchmarks/eval_ray_method.py sweep ...same...
"""

from __future__ import annotations

import sys

import radiomap_geo.los as los
from radiomap_geo.cli.main import cli

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in los.METHODS:
        sys.exit(
            f"usage: eval_ray_method.py {{{'|'.join(los.METHODS)}}} DATASET [evaluate options]"
        )
    los.DEFAULT_METHOD = sys.argv[1]
    cli(["evaluate", *sys.argv[2:]])
