"""Antenna orientation optimisation through the frozen default network, judged by Sionna RT.

Paper 002, Tables VII-VIII, on our data: test-split tiles of ``data/radiomaps`` (256 m x 256 m,
2 m cells) that carry at least three rooftop masts; each mast gets a 3-sector TR 38.901 site
(9 sectors per tile), started from the paper's reference orientation (first sector pointing
away from the mast's building, the others at +-120 degrees, fixed 6 degree tilt capped so the
boresight clears the own roof). Per tile and objective (5th-percentile RSRP; SINR coverage at
10 dB by default, because at 0 dB 95-98 % of these small areas are covered from the start)
gradient descent and random search run with the same budget of network evaluations;
the initial and both optimised configurations are then ray-traced (Sionna RT, depth 3,
diffraction), the initial one twice with two seeds (the tracer's own noise), and every objective
is recomputed on the cells every trace reached. The tracer's scene is the tile's height raster
as footprints (exactly the buildings the network saw).

Resumable: each finished objective of a tile is saved in the results JSON (the traces in the
user cache); rerun the same command to continue. A run starts a stage only if it should end
within ``--max-minutes`` (judged by the slowest stage so far).

    nice -n 5 flock /tmp/radiomap-heavy.lock .venv/bin/python benchmarks/bench_optimize.py \
        --tiles 10    # about one tile per run; repeat until the table has 10 tiles
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "optimize.json"
OBJECTIVES = ("percentile", "sinr-coverage")


def candidate_tiles(dataset, n_masts: int = 3) -> list[int]:
    """Tile numbers (in tile-id order) with at least ``n_masts`` rooftop sites."""
    kind, tile_of = dataset.sites["site_kind"], np.asarray(dataset.map_tile)
    rooftop = [
        t for t in range(len(dataset.tile_id)) if ((tile_of == t) & (kind == 1)).sum() >= n_masts
    ]
    return sorted(rooftop, key=lambda t: int(dataset.tile_id[t]))


def tile_sites(dataset, tile: int):
    """Three rooftop masts of the tile as 3-sector sites in the reference orientation."""
    from radiomap_geo.optimize.scenario import sector_sites

    s = dataset.sites
    maps = np.flatnonzero((np.asarray(dataset.map_tile) == tile) & (s["site_kind"] == 1))[:3]
    masts = [
        (f"m{j + 1}", float(s["site_x"][i]), float(s["site_y"][i]), float(s["site_height_m"][i]))
        for j, i in enumerate(maps)
    ]
    return sector_sites(masts, dataset.building_height_m[tile], dataset.grid(tile))


TRACE_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "radiomap-geo"


def run_stage(dataset, tile: int, objective: str, args) -> dict:
    """Optimise one objective on one tile and verify it with the tracer (one resumable stage).

    The tracer's per-sector traces are kept on disk per tile, so the start configuration traced
    for the first objective is not traced again for the second.
    """
    from radiomap_geo.optimize import OptimizeOptions, Tracer, optimize_sites, verify_result
    from radiomap_geo.optimize.scenario import buildings_from_heights

    grid, heights = dataset.grid(tile), dataset.building_height_m[tile]
    options = OptimizeOptions(
        objective=objective, budget=args.budget, seed=args.seed, threshold_db=args.sinr_db
    )
    result = optimize_sites(
        grid, tile_sites(dataset, tile), heights=heights, model=args.model, options=options
    )
    tracer = Tracer(grid, buildings_from_heights(heights, grid), samples_per_tx=args.samples)
    cache = TRACE_CACHE / "bench_optimize" / f"tile-{int(dataset.tile_id[tile])}-{args.samples}.npz"
    if cache.exists():
        with np.load(cache) as stored:
            tracer.cache = {tuple(json.loads(k)): stored[k] for k in stored.files}
    verify_result(result, tracer=tracer)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        cache.with_suffix(".tmp.npz"), **{json.dumps(list(k)): v for k, v in tracer.cache.items()}
    )
    os.replace(cache.with_suffix(".tmp.npz"), cache)
    report = result.report()
    return {
        "unit": report["objective"]["unit"],
        "surrogate": {
            "initial": report["methods"]["gradient"]["objective_start"],
            **{m: v["objective_best"] for m, v in report["methods"].items()},
        },
        "seconds": {m: v["seconds"] for m, v in report["methods"].items()},
        "network_evaluations": {m: v["network_evaluations"] for m, v in report["methods"].items()},
        "curve_gradient": [p["objective"] for p in report["methods"]["gradient"]["curve"]],
        "verification": report["verification"],
        "sites": report["sites"],
        "target_cells": report["target_cells"],
        "rt_seconds": round(tracer.seconds, 1),
    }


def settings(args) -> dict:
    from radiomap_geo.models.registry import model_version

    return {
        "budget": args.budget,
        "samples_per_tx": args.samples,
        "seed": args.seed,
        # the weights, not the name: "default" named another network after each promotion
        "model": model_version(args.model),
        "sinr_threshold_db": args.sinr_db,
        "masts": 3,
        "sectors": 3,
        "start_tilt_deg": 6.0,
    }


def load(path: Path, wanted: dict) -> dict:
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("settings") == wanted:
            return data
        raise SystemExit(
            f"{path} holds results of other settings {data.get('settings')}; "
            "move it away or use --results"
        )
    return {"settings": wanted, "tiles": []}


def save(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def table(data: dict) -> str:
    """Markdown tables like paper 002's Tables VII-VIII, one row per tile, and the summary."""
    lines = []
    threshold = data["settings"]["sinr_threshold_db"]
    for objective, unit in (
        ("percentile", "dBm RSRP"),
        ("sinr-coverage", f"cells >= {threshold:g} dB"),
    ):
        lines += [
            f"\n### {objective} ({unit})\n",
            "| tile | source | initial (net) | random (net) | gradient (net) | initial (RT) | "
            "random (RT) | gradient (RT) | RT seed gap | cells compared | gradient s | random s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        f = ".1f" if objective == "percentile" else ".0f"
        for rec in data["tiles"]:
            r = rec[objective]
            s, v = r["surrogate"], r["verification"]
            ver = v["verified"]
            values = [s["initial"], s["random"], s["gradient"], ver["initial"], ver["random"]]
            values += [ver["gradient"], v["noise_gap"]]
            cells = " | ".join(format(x, f) for x in values)
            lines.append(
                f"| {rec['tile_id']} | {rec['source']} | {cells} | {v['cells_compared']} | "
                f"{r['seconds']['gradient']:.0f} | {r['seconds']['random']:.0f} |"
            )
    lines.append("\n" + summary_text(summary(data)))
    return "\n".join(lines)


def summary(data: dict) -> dict:
    tiles = data["tiles"]
    if not tiles:
        return {}
    out = {"tiles": len(tiles)}
    for objective in OBJECTIVES:
        ver = [t[objective]["verification"]["verified"] for t in tiles]
        sur = [t[objective]["surrogate"] for t in tiles]
        gaps = [t[objective]["verification"]["noise_gap"] for t in tiles]
        if objective == "percentile":
            gain = [v["gradient"] - v["initial"] for v in ver]
            gain_random = [v["random"] - v["initial"] for v in ver]
            gain_net = [s["gradient"] - s["initial"] for s in sur]
        else:
            gain = [100 * (v["gradient"] / v["initial"] - 1) for v in ver]
            gain_random = [100 * (v["random"] / v["initial"] - 1) for v in ver]
            gain_net = [100 * (s["gradient"] / s["initial"] - 1) for s in sur]
        out[objective] = {
            "mean_gain_gradient_rt": float(np.mean(gain)),
            "mean_gain_random_rt": float(np.mean(gain_random)),
            "mean_gain_gradient_net": float(np.mean(gain_net)),
            "mean_noise_gap_rt": float(np.mean(gaps)),
            "gradient_beats_random_rt": int(sum(v["gradient"] > v["random"] for v in ver)),
            "gradient_beats_random_net": int(sum(s["gradient"] > s["random"] for s in sur)),
            "gradient_seconds_max": float(max(t[objective]["seconds"]["gradient"] for t in tiles)),
        }
    return out


def summary_text(s: dict) -> str:
    if not s:
        return "no tiles yet"
    p, c = s["percentile"], s["sinr-coverage"]
    n = s["tiles"]
    return (
        f"{n} tiles. 5th-percentile RSRP, Sionna-verified: gradient {p['mean_gain_gradient_rt']:+.2f} dB, "
        f"random {p['mean_gain_random_rt']:+.2f} dB over the start on average (surrogate: gradient "
        f"{p['mean_gain_gradient_net']:+.2f} dB; tracer seed gap {p['mean_noise_gap_rt']:.2f} dB); "
        f"gradient beats random on {p['gradient_beats_random_rt']}/{n} tiles (surrogate "
        f"{p['gradient_beats_random_net']}/{n}).\n"
        f"SINR-covered area, Sionna-verified: gradient {c['mean_gain_gradient_rt']:+.1f} %, random "
        f"{c['mean_gain_random_rt']:+.1f} % over the start on average (surrogate: gradient "
        f"{c['mean_gain_gradient_net']:+.1f} %; tracer seed gap {c['mean_noise_gap_rt']:.0f} cells); "
        f"gradient beats random on {c['gradient_beats_random_rt']}/{n} tiles (surrogate "
        f"{c['gradient_beats_random_net']}/{n}).\n"
        f"Longest gradient run: {max(p['gradient_seconds_max'], c['gradient_seconds_max']):.0f} s."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(REPO / "data" / "radiomaps"))
    parser.add_argument("--tiles", type=int, default=10)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sinr-db", type=float, default=10.0, help="SINR coverage threshold")
    parser.add_argument("--model", default=None)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--max-minutes", type=float, default=9.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from radiomap_geo.dataset import load_dataset

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = load(args.results, settings(args))
    dataset = load_dataset(args.dataset, "test")
    done = {t["tile_id"] for t in data["tiles"]}
    partial = data.setdefault("partial", {})
    # One stage = one objective on one tile (about half a tile); start one only if it should
    # finish within the run's time, judged by the slowest stage so far (a killed stage is lost).
    longest = max([s for t in data["tiles"] for s in t.get("stage_seconds", [])] or [0.0])
    for tile in candidate_tiles(dataset)[: args.tiles]:
        tile_id = int(dataset.tile_id[tile])
        if tile_id in done:
            continue
        stages = partial.setdefault(str(tile_id), {})
        for objective in OBJECTIVES:
            if objective in stages:
                continue
            if time.perf_counter() - t0 + 1.1 * longest > args.max_minutes * 60:
                print(f"stopping within {args.max_minutes} min: rerun to continue")
                return finish(args, data)
            start = time.perf_counter()
            stages[objective] = run_stage(dataset, tile, objective, args)
            stages[objective]["stage_seconds"] = round(time.perf_counter() - start, 1)
            longest = max(longest, time.perf_counter() - start)
            print(f"tile {tile_id} {objective} done in {time.perf_counter() - start:.0f} s")
            save(args.results, data)
        record = {"tile_id": tile_id, "source": dataset.tile_info(tile)["source"]}
        record.update({o: stages[o] for o in OBJECTIVES})
        record["stage_seconds"] = [stages[o]["stage_seconds"] for o in OBJECTIVES]
        data["tiles"].append(record)
        del partial[str(tile_id)]
        data["summary"] = summary(data)
        save(args.results, data)
    finish(args, data)


def finish(args, data: dict) -> None:
    """Print the tables and write them beside the results JSON."""
    print(table(data))
    args.results.with_suffix(".md").write_text(table(data) + "\n")


if __name__ == "__main__":
    main()
