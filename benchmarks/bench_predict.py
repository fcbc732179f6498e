"""Time and peak memory of `predict` with a physics baseline.

Cases: the bundled Helsinki sample area (4 sites), and a synthetic 2 km x 2 km city (4 km^2,
procedural blocks of random height) with 50 sites. Each case runs in a fresh subprocess so its
peak resident memory is its own.

    .venv/bin/python benchmarks/bench_predict.py [--model 3gpp-uma] [--resolution 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_sample(model: str, resolution: float, out: Path) -> dict:
    from radiomap_geo.api import BBox, Grid, load_buildings, predict_to_file, read_sites

    t0 = time.perf_counter()
    grid = Grid.from_bbox(BBox.parse("24.937,60.165,24.951,60.172"), resolution)
    sites = read_sites(REPO / "sample_data" / "sites.gpkg", crs=grid.crs)
    buildings = load_buildings(grid, REPO / "sample_data" / "helsinki.osm.pbf")
    t1 = time.perf_counter()
    predict_to_file(out, grid, sites, buildings, model=model, per_site=True, overwrite=True)
    t2 = time.perf_counter()
    return _record("Helsinki sample", grid, len(sites), len(buildings), t1 - t0, t2 - t1)


def synthetic_city(grid, seed: int = 0):
    """Blocks of 40-90 m with 12-24 m streets, 1-4 buildings each, 6-40 m tall."""
    import geopandas as gpd
    import numpy as np
    from shapely.geometry import box

    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = grid.bounds
    shapes, heights = [], []
    y = miny
    while y < maxy:
        depth = rng.uniform(40, 90)
        x = minx
        while x < maxx:
            width = rng.uniform(40, 90)
            for part in range(rng.integers(1, 5)):
                frac = part / 4
                shapes.append(box(x + frac * width, y, x + (frac + 0.25) * width - 1, y + depth))
                heights.append(rng.uniform(6, 40))
            x += width + rng.uniform(12, 24)
        y += depth + rng.uniform(12, 24)
    return gpd.GeoDataFrame({"height_m": heights}, geometry=shapes, crs=grid.crs)


def run_synthetic(model: str, resolution: float, out: Path, n_sites: int = 50) -> dict:
    import numpy as np

    from radiomap_geo.api import BBox, Grid, Sites, predict_to_file

    t0 = time.perf_counter()
    # 2 km x 2 km around Helsinki's centre, in its UTM zone.
    box_ = BBox.parse((385000, 6670000, 387000, 6672000), crs="EPSG:32635")
    grid = Grid.from_bbox(box_, resolution, crs="EPSG:32635")
    buildings = synthetic_city(grid)
    rng = np.random.default_rng(1)
    minx, miny, maxx, maxy = grid.bounds
    records = [
        {
            "site_id": f"s{i:02d}",
            "x": float(rng.uniform(minx + 50, maxx - 50)),
            "y": float(rng.uniform(miny + 50, maxy - 50)),
            "height_m": float(rng.uniform(20, 40)),
            "antenna": "tr38901",
            "azimuth_deg": float(120 * (i % 3)),
            "tilt_deg": 6.0,
        }
        for i in range(n_sites)
    ]
    sites = Sites.from_records(records, grid.crs)
    t1 = time.perf_counter()
    predict_to_file(out, grid, sites, buildings, model=model, max_range_m=1000, overwrite=True)
    t2 = time.perf_counter()
    return _record("synthetic 4 km^2", grid, n_sites, len(buildings), t1 - t0, t2 - t1)


def _record(name, grid, n_sites, n_buildings, load_s, predict_s) -> dict:
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "case": name,
        "cells": f"{grid.height}x{grid.width}",
        "sites": n_sites,
        "buildings": n_buildings,
        "load_s": round(load_s, 2),
        "predict_s": round(predict_s, 2),
        "peak_MiB": round(peak_mib),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="3gpp-uma")
    parser.add_argument("--resolution", type=float, default=2.0)
    parser.add_argument("--case", choices=["sample", "synthetic"], default=None)
    args = parser.parse_args()
    if args.case:  # child process: one case, JSON on stdout
        with tempfile.TemporaryDirectory() as tmp:
            runner = run_sample if args.case == "sample" else run_synthetic
            print(json.dumps(runner(args.model, args.resolution, Path(tmp) / "out.tif")))
        return
    rows = []
    for case in ("sample", "synthetic"):
        cmd = [
            sys.executable,
            __file__,
            "--case",
            case,
            "--model",
            args.model,
            "--resolution",
            str(args.resolution),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(
        f"predict benchmark: model={args.model}, resolution={args.resolution} m, "
        f"{__import__('os').cpu_count()} CPU cores\n"
    )
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
