"""Throughput, label noise and peak memory of the training-data builder (Sionna RT on this machine).

1. Throughput: ``build_dataset`` of ``--tiles`` tiles (procedural / RadioMapSeer / Helsinki /
   Delft in the default schedule) at the chosen settings into a temporary folder; maps per hour
   end to end (scene building, ray tracing, quantising, writing), the first tile (kernel
   compilation) reported apart; bytes per 1000 maps of the packed shards.
2. Label noise: ``--noise-tiles`` tiles ray-traced again with another ray seed (same rays count)
   and with ``--low-samples`` rays; RMSE (dB) between the runs over cells valid in both, by line
   of sight (LOS: Sionna finds the direct path and it carries at least half the power; so cells
   behind a sector antenna's back lobe count as NLOS), NLOS strength (weak: below -120 dB) and
   distance band; plus the share of cells lit in one run only.
3. Peak resident memory of the process.

    .venv/bin/python benchmarks/bench_dataset.py [--tiles 4] [--noise-tiles 2] [--samples 3e6]

The default run takes about 2-3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DIST_BANDS = ((0, 50), (50, 100), (100, 1e9))
WEAK_DB = -120.0


def throughput(args, folder: Path) -> dict:
    from radiomap_geo.dataset.build import BuildConfig, build_dataset
    from radiomap_geo.dataset.store import read_manifest

    config = BuildConfig(
        n_tiles=args.tiles,
        size=args.size,
        resolution_m=args.resolution,
        samples_per_tx=int(args.samples),
        sites_per_tile=args.sites,
        seed=args.seed,
    )
    t0 = time.perf_counter()
    summary = build_dataset(folder, config)
    wall = time.perf_counter() - t0
    records = sorted(read_manifest(folder)["tiles"].values(), key=lambda r: r["tile_id"])
    later = records[1:] or records
    later_s = sum(r["seconds"] for r in later)
    later_maps = sum(r["n_maps"] for r in later)
    return {
        "config": config,
        "tiles": len(records),
        "maps": summary["maps"],
        "wall_s": wall,
        "maps_per_hour_all": summary["maps"] / wall * 3600,
        "maps_per_hour_warm": later_maps / later_s * 3600,
        "first_tile_s": records[0]["seconds"],
        "scene_s": float(np.mean([r["scene_seconds"] for r in records])),
        "rt_s_per_map": float(np.mean([s for r in records for s in r["rt_seconds"]])),
        "mb_per_1000_maps": summary["bytes"] / 1e6 / summary["maps"] * 1000,
        "valid_fraction": float(np.mean([v for r in records for v in r["valid_fraction"]])),
        "sources": [r["source"] for r in records],
        "skipped": summary["skipped_sources"],
    }


def trace(spec, config, samples: int, seed_salt: int, los_only: bool = False) -> tuple:
    """Path gain (dB, NaN = none) of every site of one tile, plus heights, grid and sites.

    With ``los_only`` only the direct path is traced (``max_depth=0``, no diffraction).
    """
    import radiomap_geo.models  # noqa: F401  (import order: rasterize <-> models)
    from radiomap_geo.dataset.build import tile_buildings
    from radiomap_geo.dataset.sampling import sample_sites
    from radiomap_geo.rasterize import rasterize_buildings
    from radiomap_geo.rt.llvm import import_sionna_rt
    from radiomap_geo.rt.scene import build_scene
    from radiomap_geo.rt.simulate import gain_to_db, solve_site

    rt = import_sionna_rt()
    grid = spec.grid(config.resolution_m)
    buildings = tile_buildings(spec, config)
    heights = rasterize_buildings(buildings, grid)
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 2]))
    sites = sample_sites(heights, grid, config.sites_per_tile, rng, config.sampling)
    rts = build_scene(grid, buildings if len(buildings) else None, margin_m=config.margin_m)
    solver = rt.RadioMapSolver()
    maps = []
    for k, site in enumerate(sites):
        gain = solve_site(
            rts,
            solver,
            site.to_site(),
            rx_height_m=config.rx_height_m,
            samples_per_tx=samples,
            max_depth=0 if los_only else config.max_depth,
            diffraction=False if los_only else config.diffraction,
            refraction=False,
            seed=1000 * seed_salt + k,
        )
        db = gain_to_db(gain)
        db[heights > 0] = np.nan
        maps.append(db)
    return maps, heights, grid, sites


def noise(args, config) -> list[dict]:
    from radiomap_geo.dataset.build import _sources_for
    from radiomap_geo.dataset.sampling import plan_tiles

    sources = _sources_for(config)
    weights = {k: config.sources[k] for k in sources}
    specs = plan_tiles(
        args.noise_tiles, sources, weights, size=config.size, resolution=config.resolution_m,
        seed=args.seed + 1,
    )  # fmt: skip
    pairs = {"seed": [], "low": []}  # (a, b, los, dist) chunks
    lit_once = {"seed": [], "low": []}
    for spec in specs:
        ref, heights, grid, sites = trace(spec, config, int(args.samples), 1)
        other, *_ = trace(spec, config, int(args.samples), 2)
        low, *_ = trace(spec, config, int(args.low_samples), 3)
        direct, *_ = trace(spec, config, int(args.samples), 1, los_only=True)
        x, y = grid.cell_centers()
        for k, site in enumerate(sites):
            # LOS: Sionna finds the direct path, and it carries at least half the power.
            with np.errstate(invalid="ignore"):
                los = np.isfinite(direct[k]) & (direct[k] >= ref[k] - 3.0)
            dist = np.hypot(x - site.x, y - site.y)
            outside = heights == 0
            for name, run in (("seed", other[k]), ("low", low[k])):
                a, b = ref[k], run
                both = np.isfinite(a) & np.isfinite(b)
                pairs[name].append((a[both], b[both], los[both], dist[both]))
                either = (np.isfinite(a) | np.isfinite(b)) & outside
                lit_once[name].append((np.isfinite(a) ^ np.isfinite(b))[either])
    rows = []
    for name, label in (
        ("seed", f"{args.samples:.0e} vs {args.samples:.0e} (other seed)"),
        ("low", f"{args.low_samples:.0e} vs {args.samples:.0e}"),
    ):
        a = np.concatenate([p[0] for p in pairs[name]])
        b = np.concatenate([p[1] for p in pairs[name]])
        los = np.concatenate([p[2] for p in pairs[name]])
        dist = np.concatenate([p[3] for p in pairs[name]])
        row = {"runs": label}
        for cls, sel in (
            ("LOS", los),
            ("NLOS", ~los & (a >= WEAK_DB)),
            ("NLOS weak", ~los & (a < WEAK_DB)),
        ):
            for lo, hi in DIST_BANDS:
                band = sel & (dist >= lo) & (dist < hi)
                key = f"{cls} {lo:g}-{hi:g} m" if hi < 1e8 else f"{cls} >{lo:g} m"
                row[key] = (
                    f"{np.sqrt(np.mean((a[band] - b[band]) ** 2)):.2f}" if band.sum() > 20 else "-"
                )
        row["lit in one run only"] = f"{100 * np.concatenate(lit_once[name]).mean():.1f} %"
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=int, default=4, help="tiles of the throughput run")
    parser.add_argument("--noise-tiles", type=int, default=2, help="tiles of the noise run")
    parser.add_argument("--sites", type=int, default=4, help="sites per tile")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--resolution", type=float, default=2.0)
    parser.add_argument("--samples", type=float, default=3e6)
    parser.add_argument("--low-samples", type=float, default=1e6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tp = throughput(args, Path(tmp) / "ds")
    config = tp["config"]
    from radiomap_geo.rt.llvm import backend_info

    info = backend_info()
    print(
        f"## Dataset builder: {config.size}x{config.size} cells at {config.resolution_m:g} m, "
        f"{config.samples_per_tx:.0e} rays, depth {config.max_depth}, diffraction "
        f"{'on' if config.diffraction else 'off'}, {config.sites_per_tile} sites/tile\n"
    )
    print(
        f"sionna-rt {info['sionna_rt_version']}, mitsuba {info['mitsuba_version']}, "
        f"drjit {info['drjit_version']} ({info['mitsuba_variant']}); 1 worker"
        + (f"; skipped sources {tp['skipped']}" if tp["skipped"] else "")
        + "\n"
    )
    print(
        table(
            [
                {
                    "tiles": tp["tiles"],
                    "maps": tp["maps"],
                    "sources": ",".join(tp["sources"]),
                    "wall s": f"{tp['wall_s']:.1f}",
                    "maps/h (all)": f"{tp['maps_per_hour_all']:.0f}",
                    "maps/h (after 1st tile)": f"{tp['maps_per_hour_warm']:.0f}",
                    "1st tile s": f"{tp['first_tile_s']:.1f}",
                    "scene s/tile": f"{tp['scene_s']:.2f}",
                    "RT s/map": f"{tp['rt_s_per_map']:.2f}",
                    "valid cells": f"{100 * tp['valid_fraction']:.0f} %",
                    "MB/1000 maps": f"{tp['mb_per_1000_maps']:.1f}",
                }
            ]
        )
    )
    print(f"\n### Label noise: RMSE (dB) between runs, {args.noise_tiles} tiles\n")
    print(table(noise(args, config)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()
