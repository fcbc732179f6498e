"""Real imagery: orthophoto-, nDSM- and footprint-driven networks against Sionna RT in Zurich.

The Zurich lakeside area (``scripts/make_zurich_area.py``: real SWISSIMAGE orthophoto and
swissSURFACE3D LiDAR over the same ground, EPSG:2056, 2 m, four transmitters) is ray-traced with
``radiomap-geo simulate`` on its LiDAR building footprints, then predicted by each model through
the real command line, with the inputs that model reads:

* ``unet-ortho``: the real orthophoto (RGB) + the LiDAR nDSM (paper 002's main case; trained on
  renderings, never on real imagery);
* ``unet-ndsm``: the LiDAR nDSM only (buildings *and* trees);
* the default network: the LiDAR building footprints with heights;
* ``3gpp-uma``: the footprints (the empirical baseline).

Footprints are passed to every run: they mark indoor cells and feed the fallback beyond a
network's reach (nothing there in this 436 m x 200 m area: every cell is within reach). Scores:
RMSE / MAE / bias (prediction - ray tracing) in dB over cells with a ray-traced value >= -130 dB,
all sites together, on land, on the lake and overall.

    .venv/bin/python benchmarks/bench_zurich.py [--area /tmp/zurich_area] [--models ...]

Needs ``../shared/data/zurich`` (skips with a message when absent). Outputs stay in ``--area``,
outside the repository.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CLI = [Path(sys.executable).parent / "radiomap-geo"]  # the installed console script
BBOX = "2690000.0,1234000.0,2690436.0,1234200.0"  # the area's grid (make_zurich_area.py)
INPUTS = {  # model -> extra predict options
    "unet-ortho": ["--ortho", "ortho.tif", "--ndsm", "ndsm.tif"],
    "unet-ndsm": ["--ndsm", "ndsm.tif"],
    "default": [],
    "3gpp-uma": [],
}


def run(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(a) for a in args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def common(area: Path) -> list[str]:
    return [
        "--bbox", BBOX, "--bbox-crs", "EPSG:2056", "--crs", "EPSG:2056", "--resolution", "2",
        "--sites", area / "sites.gpkg", "--buildings", area / "buildings.gpkg", "--per-site",
        "--overwrite", "--quiet",
    ]  # fmt: skip


def bands(path: Path) -> dict[str, np.ndarray]:
    import rasterio

    with rasterio.open(path) as src:
        return {d: src.read(i + 1) for i, d in enumerate(src.descriptions) if d}


def scores(truth: dict, pred: dict, where: np.ndarray | None, threshold: float) -> tuple:
    errors = []
    for key, t in truth.items():
        if not key.startswith("path_gain_db:") or key not in pred:
            continue
        ok = np.isfinite(t) & np.isfinite(pred[key]) & (t >= threshold)
        if where is not None:
            ok &= where
        errors.append(pred[key][ok] - t[ok])
    e = np.concatenate(errors) if errors else np.array([])
    if not e.size:
        return 0, np.nan, np.nan, np.nan
    return e.size, float(np.sqrt(np.mean(e**2))), float(np.mean(np.abs(e))), float(e.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", type=Path, default=Path("/tmp/zurich_area"))
    parser.add_argument("--models", default=",".join(INPUTS))
    parser.add_argument("--threshold", type=float, default=-130.0)
    args = parser.parse_args()
    area = args.area.resolve()
    if not (area / "sites.gpkg").is_file():
        data = REPO.parent / "shared" / "data" / "zurich"
        if not data.is_dir():
            print(f"skipped: {data} not found")
            return
        run([sys.executable, REPO / "scripts" / "make_zurich_area.py", "--out", area], REPO)
    from radiomap_geo.models.registry import default_model

    rt = area / "rt.tif"
    if not rt.is_file():
        seconds = run([*CLI, "simulate", *common(area), "-o", rt], area)
        print(f"Sionna RT on the area: {seconds:.1f} s for 4 sites (end to end)")
    truth = bands(rt)
    import rasterio

    with rasterio.open(area / "land.tif") as src:
        land = src.read(1) > 0
    sites = sum(k.startswith("path_gain_db:") for k in truth)
    print(
        f"\n{sites} ray-traced sites; cells with a ray-traced value >= {args.threshold:g} dB; "
        "RMSE / MAE / bias (pred - RT) in dB\n"
    )
    print("| model | inputs | cells | RMSE | MAE | bias | RMSE land | RMSE lake | predict s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.models.split(","):
        model = default_model() if name == "default" else name
        extra = INPUTS.get(name, [])
        out = area / f"pred_{model}.tif"
        seconds = run([*CLI, "predict", *common(area), "--model", model, *extra, "-o", out], area)
        pred = bands(out)
        n, rmse, mae, bias = scores(truth, pred, None, args.threshold)
        _, rmse_land, _, _ = scores(truth, pred, land, args.threshold)
        _, rmse_lake, _, _ = scores(truth, pred, ~land, args.threshold)
        inputs = " + ".join(e for e in extra if e.endswith(".tif")) or "buildings.gpkg"
        label = f"{model} (default)" if name == "default" else model
        print(
            f"| {label} | {inputs} | {n} | {rmse:.2f} | {mae:.2f} | {bias:+.2f} | {rmse_land:.2f} "
            f"| {rmse_lake:.2f} | {seconds:.1f} |"
        )


if __name__ == "__main__":
    main()
