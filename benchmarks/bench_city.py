"""A whole city: ~10 km^2 at 2 m, 200 sites, `radiomap-geo predict-city`, timed and measured.

The city is mosaicked from the real OpenStreetMap layouts of the RadioMapSeer maps in
``../shared/data/radiomapseer_polygons/`` (256 m x 256 m each, rotated by multiples of 90
degrees, 12 x 13 of them: 3072 m x 3328 m = 10.2 km^2) with random building heights (6-40 m).
Sites: 80 street sites (isotropic, 6-10 m) and 40 rooftop sites with three TR 38.901 sectors
each (3 m above the roof, azimuths 0/120/240, 6 degrees down-tilt): 200 site rows. Each case
runs `predict-city` in its own process and reports wall time, cells/s, ms per site, peak
resident memory (of the client, and of each Dask worker), and the share of finite rsrp cells at
full resolution and in each overview.

    .venv/bin/python benchmarks/bench_city.py                      # every case
    .venv/bin/python benchmarks/bench_city.py --cases uma,default  # some
    .venv/bin/python benchmarks/bench_city.py --cases crop         # tiled vs untiled, 1 km^2
    .venv/bin/python benchmarks/bench_city.py --cases overviews    # rebuild the default's

Results are appended to ``benchmarks/results/bench_city.json`` (one record per case run; the
table printed at the end is built from the latest record of each case), so a long session can
run the cases one at a time (each stays under 10 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RADIOMAP_GEO_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results" / "bench_city.json"
CRS = "EPSG:32633"  # a metric CRS for the made-up city (Berlin's UTM zone)
ORIGIN = (390000.0, 5815000.0)
MAPS_X, MAPS_Y, MAP_M = 12, 13, 256.0
CROP_M = 1000.0

#: name -> (model, scheduler, workers): scheduler "threads" or "cluster" (a LocalCluster).
CASES = {
    "default": ("default", "threads", 2),
    "uma": ("3gpp-uma", "threads", 2),
    "uma-cluster-1": ("3gpp-uma", "cluster", 1),
    "uma-cluster-2": ("3gpp-uma", "cluster", 2),
    "default-cluster-1": ("default", "cluster", 1),
    "default-cluster-2": ("default", "cluster", 2),
}


def bbox() -> tuple[float, float, float, float]:
    x0, y0 = ORIGIN
    return x0, y0, x0 + MAPS_X * MAP_M, y0 + MAPS_Y * MAP_M


def build_city(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write ``city.gpkg`` (footprints with ``height_m``) and ``sites.gpkg``; reuse if present."""
    buildings_path, sites_path = folder / "city.gpkg", folder / "sites.gpkg"
    if buildings_path.exists() and sites_path.exists():
        return buildings_path, sites_path
    import geopandas as gpd
    import numpy as np
    from shapely import affinity
    from shapely.geometry import Polygon
    from shapely.validation import make_valid

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    maps = sorted((SHARED / "radiomapseer_polygons").glob("*.json"), key=lambda p: int(p.stem))
    if not maps:
        sys.exit(f"no RadioMapSeer layouts in {SHARED / 'radiomapseer_polygons'}")
    shapes, heights = [], []
    x0, y0 = ORIGIN
    for j in range(MAPS_Y):
        for i in range(MAPS_X):
            rings = json.loads(maps[(j * MAPS_X + i) % len(maps)].read_text())
            turn = 90 * int(rng.integers(4))
            for ring in rings:
                if len(ring) < 4:
                    continue
                shape = make_valid(Polygon(ring))
                shape = affinity.rotate(shape, turn, origin=(128.5, 128.5))
                shape = affinity.translate(shape, x0 + i * MAP_M - 1.0, y0 + j * MAP_M)
                for part in getattr(shape, "geoms", [shape]):
                    if part.geom_type == "Polygon" and part.area > 4.0:
                        shapes.append(part)
                        heights.append(float(rng.uniform(6.0, 40.0)))
    frame = gpd.GeoDataFrame({"height_m": heights}, geometry=shapes, crs=CRS)
    frame.to_file(buildings_path, driver="GPKG")
    records = _sites(frame, rng)
    gpd.GeoDataFrame(
        [{k: v for k, v in r.items() if k not in ("x", "y")} for r in records],
        geometry=gpd.points_from_xy([r["x"] for r in records], [r["y"] for r in records]),
        crs=CRS,
    ).to_file(sites_path, driver="GPKG")
    return buildings_path, sites_path


def _sites(frame, rng, street: int = 80, rooftop: int = 40) -> list[dict]:
    from shapely.geometry import Point

    minx, miny, maxx, maxy = bbox()
    union = frame.sindex
    records = []
    while len(records) < street:
        x, y = rng.uniform(minx + 60, maxx - 60), rng.uniform(miny + 60, maxy - 60)
        point = Point(x, y)
        hits = union.query(point.buffer(4.0), predicate="intersects")
        if len(hits) == 0:  # in the street, 4 m from any wall
            records.append({"site_id": f"street-{len(records):03d}", "x": x, "y": y,
                            "height_m": float(rng.uniform(6, 10)), "antenna": "iso",
                            "azimuth_deg": 0.0, "tilt_deg": 0.0})  # fmt: skip
    roofs = rng.choice(
        frame.index[(frame.area > 400) & (frame.geometry.centroid.within(frame.geometry))],
        rooftop,
        replace=False,
    )
    for n, index in enumerate(roofs):
        centre = frame.geometry[index].centroid
        for sector, azimuth in enumerate((0.0, 120.0, 240.0)):
            records.append({"site_id": f"roof-{n:02d}-{sector}", "x": centre.x, "y": centre.y,
                            "height_m": float(frame["height_m"][index]) + 3.0,
                            "antenna": "tr38901", "azimuth_deg": azimuth, "tilt_deg": 6.0})  # fmt: skip
    return records


def _cli(output: Path, buildings: Path, sites: Path, model: str, box, extra: list[str]):
    return [
        str(REPO / ".venv" / "bin" / "radiomap-geo"), "predict-city",
        "--bbox", ",".join(f"{v:.1f}" for v in box), "--bbox-crs", CRS, "--crs", CRS,
        "--resolution", "2", "--tx-file", str(sites), "--buildings", str(buildings),
        *([] if model == "default" else ["--model", model]),
        "-o", str(output), "--overwrite", "--quiet", *extra,
    ]  # fmt: skip


def _run_measured(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak resident MiB and exit status of one command (its own rusage)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def finite_shares(path: Path) -> list[float]:
    """Share of finite ``rsrp_dbm`` cells at full resolution, then in each overview."""
    import numpy as np
    import rasterio

    with rasterio.open(path) as src:
        band = 1 + src.descriptions.index("rsrp_dbm") if "rsrp_dbm" in src.descriptions else 1
        shares = [float(np.isfinite(src.read(band)).mean())]
        for level in range(len(src.overviews(band))):
            with rasterio.open(path, overview_level=level) as ov:
                shares.append(float(np.isfinite(ov.read(band)).mean()))
    return [round(s, 4) for s in shares]


def run_case(name: str, folder: Path) -> dict:
    model, scheduler, workers = CASES[name]
    buildings, sites = build_city(folder)
    output = folder / f"{name}.tif"
    extra = ["--work-dir", str(folder / f"{name}.work")]
    cluster = client = None
    if scheduler == "threads":
        extra += ["--scheduler", "threads", "--workers", str(workers)]
    else:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, memory_limit="4GiB")  # fmt: skip
        client = Client(cluster)
        extra += ["--scheduler", cluster.scheduler_address]
    wall, peak_mib, status = _run_measured(_cli(output, buildings, sites, model, bbox(), extra))
    worker_mib = []
    if client is not None:
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        worker_mib = [round(v) for v in peaks.values()]
        client.close()
        cluster.close()
    if status != 0:
        sys.exit(f"case {name}: predict-city exited with {status}")
    minx, miny, maxx, maxy = bbox()
    cells = (maxx - minx) * (maxy - miny) / 4.0
    return {
        "case": name,
        "model": model,
        "scheduler": "threads" if scheduler == "threads" else f"LocalCluster x{workers}",
        "workers": workers,
        "km2": round((maxx - minx) * (maxy - miny) / 1e6, 2),
        "sites": 200,
        "wall_s": round(wall, 1),
        "cells_per_s": round(cells / wall),
        "ms_per_site": round(1000 * wall / 200, 1),
        "client_peak_MiB": round(peak_mib),
        "worker_peak_MiB": worker_mib,
        "finite_full_then_overviews": finite_shares(output),
        "load": round(os.getloadavg()[0], 1),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": _commit(),
    }


def run_crop(folder: Path) -> dict:
    """1 km^2 in the middle: predict-city (256-cell tiles) vs untiled predict, the same sites."""
    import geopandas as gpd
    import numpy as np
    import rasterio

    buildings, sites = build_city(folder)
    minx, miny, maxx, maxy = bbox()
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    box = (cx - CROP_M / 2, cy - CROP_M / 2, cx + CROP_M / 2, cy + CROP_M / 2)
    frame = gpd.read_file(sites)
    inside = frame.cx[box[0] + 2 : box[2] - 2, box[1] + 2 : box[3] - 2]
    crop_sites = folder / "crop_sites.gpkg"
    inside.to_file(crop_sites, driver="GPKG")
    tiled, untiled = folder / "crop_tiled.tif", folder / "crop_untiled.tif"
    cmd = _cli(tiled, buildings, crop_sites, "default", box, ["--tile-size", "256"])
    wall_tiled, _, s1 = _run_measured(cmd)
    cmd = _cli(untiled, buildings, crop_sites, "default", box, [])
    cmd[1] = "predict"
    cmd += ["--tile-size", "1024"]
    wall_untiled, _, s2 = _run_measured(cmd)
    if s1 or s2:
        sys.exit("crop: a run failed")
    with rasterio.open(tiled) as a, rasterio.open(untiled) as b:
        ia, ib = a.descriptions.index("rsrp_dbm") + 1, b.descriptions.index("rsrp_dbm") + 1
        ra, rb = a.read(ia), b.read(ib)
        sa = a.read(a.descriptions.index("best_server") + 1)
        sb = b.read(b.descriptions.index("best_server") + 1)
    both = np.isfinite(ra) & np.isfinite(rb)
    return {
        "case": "crop",
        "km2": CROP_M**2 / 1e6,
        "sites": len(inside),
        "tiled_s": round(wall_tiled, 1),
        "untiled_s": round(wall_untiled, 1),
        "same_nodata": bool((np.isfinite(ra) == np.isfinite(rb)).all()),
        "max_abs_rsrp_diff_db": float(np.abs(ra[both] - rb[both]).max()),
        "best_server_equal": float((sa[both] == sb[both]).mean()),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": _commit(),
    }


def _commit() -> str:
    """The checkout's commit (``+`` when the package has uncommitted changes)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout

    dirty = git("status", "--porcelain", "--", "radiomap_geo").strip()
    return git("rev-parse", "--short", "HEAD").strip() + ("+" if dirty else "")


def run_overviews(folder: Path, case: str = "default") -> dict:
    """Rebuild the overviews of a case's output with the current writer and measure them."""
    import rasterio
    from rasterio.shutil import copy as rio_copy

    from radiomap_geo.io.overviews import with_overviews
    from radiomap_geo.io.raster import COG_OPTIONS

    source, target = folder / f"{case}.tif", folder / f"{case}.overviews.tif"
    target.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with with_overviews(source) as vrt, rasterio.open(vrt) as src:
        rio_copy(src, target, driver="COG", OVERVIEWS="FORCE_USE_EXISTING", **COG_OPTIONS)
    return {
        "case": f"overviews of {case}",
        "overview_s": round(time.perf_counter() - t0, 1),
        "finite_full_then_overviews": finite_shares(target),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": _commit(),
    }


def _table(records: list[dict]) -> str:
    latest = {}
    for record in records:
        latest[record["case"]] = record
    rows = [r for name, r in latest.items() if "model" in r]
    lines = []
    if rows:
        keys = ["case", "model", "scheduler", "wall_s", "cells_per_s", "ms_per_site",
                "client_peak_MiB", "worker_peak_MiB", "finite_full_then_overviews", "load"]  # fmt: skip
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(str(r.get(k)) for k in keys) + " |" for r in rows]
    for name in [n for n in latest if n.startswith("overviews")]:
        lines += ["", f"{name}: " + json.dumps(latest[name])]
    if "crop" in latest:
        lines += ["", "crop (1 km^2, tiled predict-city vs untiled predict): "
                  + json.dumps(latest["crop"])]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join([*CASES, "crop"]))
    parser.add_argument("--folder", type=Path, default=Path("/tmp/radiomap-bench-city"))
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    records = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    if not args.table_only:
        for name in args.cases.split(","):
            if name == "crop":
                record = run_crop(args.folder)
            elif name == "overviews":
                record = run_overviews(args.folder)
            else:
                record = run_case(name, args.folder)
            print(json.dumps(record), flush=True)
            records.append(record)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(records, indent=1) + "\n")
    print(f"\nbench_city: {os.cpu_count()} CPU cores, results in {RESULTS.relative_to(REPO)}\n")
    print(_table(records))


if __name__ == "__main__":
    main()
