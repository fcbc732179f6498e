"""``radiomap-geo dataset``: build and inspect ray-traced training data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from radiomap_geo.cli.options import EXISTING_FOLDER, FILE, FOLDER, defaulted, optional
from radiomap_geo.cli.running import RichProgress, friendly_errors, on_interrupt, quiet_option

#: Exit status of a build that finished with failed tiles (the others are kept).
EXIT_TILES_FAILED = 3


@click.group()
def dataset() -> None:
    """Ray-traced training data (Sionna RT): build shards, show what a dataset holds."""


@dataset.command()
@click.argument("out_dir", type=FOLDER)
@defaulted("--n-tiles", 100, "Tiles (work units) in total.")
@defaulted("--sites-per-tile", 4, "Transmitters per tile.")
@defaulted(
    "--sources",
    "procedural,radiomapseer,helsinki,delft",
    "Comma-separated sources, each optionally NAME:WEIGHT (default weights procedural 0.5, "
    "radiomapseer 0.3, helsinki 0.17, delft 0.03). Sources whose files are missing are skipped.",
)
@optional(
    "--sources-from-now",
    str,
    "Change the source mix of the tiles still to come (NAME:WEIGHT,... as --sources): it applies "
    "from the first tile after those built, existing tiles keep theirs. Recorded in the "
    "manifest, so later builds of OUT_DIR keep it; keep --sources as the dataset was built.",
)
@defaulted("--resolution", 2.0, "Cell size (m).", dest="resolution_m")
@defaulted("--size", 128, "Tile side in cells.")
@defaulted("--samples", 3e6, "Rays per transmitter (a whole number).", dest="samples_per_tx")
@defaulted("--max-depth", 3, "Interactions per path.")
@click.option("--diffraction/--no-diffraction", default=True, show_default=True)
@defaulted("--rx-height", 1.5, "Receiver height (m).", dest="rx_height_m")
@defaulted("--frequency", 3500.0, "Carrier (MHz).", dest="frequency_mhz")
@defaulted(
    "--margin",
    0.0,
    "Model buildings this far (m) outside each tile (they are not in the stored inputs).",
    dest="margin_m",
)
@defaulted("--region-factor", 1.5, "Side of the OSM sub-areas (split units) in tile sides.")
@defaulted("--tiles-per-shard", 64, "Tiles packed per shard.")
@defaulted("--workers", 1, "Parallel processes.")
@defaulted("--seed", 0, "Build seed.")
@optional(
    "--shared-data",
    FOLDER,
    "Folder with radiomapseer_polygons/ and delft/ [default: $RADIOMAP_GEO_SHARED_DATA or "
    "../shared/data beside the repository].",
)
@optional("--helsinki", FILE, "Helsinki OSM extract [default: sample_data/helsinki.osm.pbf].")
@quiet_option
@friendly_errors
def build(out_dir: Path, **opts) -> None:
    """Ray-trace tiles into OUT_DIR (resumable: rerun the same command to continue or extend)."""
    from radiomap_geo.dataset.build import BuildConfig, build_dataset, parse_sources
    from radiomap_geo.dataset.config import format_mix
    from radiomap_geo.dataset.sampling import SiteSampling

    from_now = opts["sources_from_now"]
    mix_from_now = parse_sources(from_now, "sources_from_now") if from_now else None
    samples = opts["samples_per_tx"]  # 1e5 is 100000; 1.5 and nan stay for the check to refuse
    config = BuildConfig(
        n_tiles=opts["n_tiles"],
        size=opts["size"],
        resolution_m=opts["resolution_m"],
        rx_height_m=opts["rx_height_m"],
        samples_per_tx=int(samples) if float(samples).is_integer() else samples,
        max_depth=opts["max_depth"],
        diffraction=opts["diffraction"],
        sites_per_tile=opts["sites_per_tile"],
        seed=opts["seed"],
        sources=parse_sources(opts["sources"]),
        margin_m=opts["margin_m"],
        region_factor=opts["region_factor"],
        sampling=SiteSampling(frequency_mhz=opts["frequency_mhz"]),
        tiles_per_shard=opts["tiles_per_shard"],
        shared_data=str(opts["shared_data"]) if opts["shared_data"] else None,
        helsinki=str(opts["helsinki"]) if opts["helsinki"] else None,
    )
    on_interrupt(f"finished tiles are kept in {out_dir}; rerun the same command to resume")
    with RichProgress("ray-trace tiles", enabled=not opts["quiet"]) as progress:
        summary = build_dataset(
            out_dir,
            config,
            workers=opts["workers"],
            progress=progress,
            sources_from_now=mix_from_now,
        )
    if mix_from_now:
        start, weights = summary["source_mixes"][-1]
        click.echo(f"source mix from tile {start} on: {format_mix(weights)}")
    for name, why in summary["skipped_sources"].items():
        click.echo(f"skipped source {name}: {why}", err=True)
    rate = summary["maps_per_hour"]
    click.echo(
        f"{out_dir}: {summary['tiles']} tiles, {summary['maps']} maps "
        f"({summary['new_maps']} new in {summary['seconds']:.0f} s"
        + (f", {rate:.0f} maps/h" if rate else "")
        + f"), {summary['bytes'] / 1e6:.1f} MB"
    )
    failed = summary["failed_tiles"]
    if failed:
        for tile_id, why in sorted(failed.items()):
            click.echo(f"tile {tile_id} failed: {why}", err=True)
        click.echo(
            f"Error: {len(failed)} tile(s) failed (listed above; details in the log); the "
            "finished ones are kept: rerun the same command to retry the failed ones",
            err=True,
        )
        sys.exit(EXIT_TILES_FAILED)


@dataset.command()
@click.argument("out_dir", type=EXISTING_FOLDER)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@friendly_errors
def info(out_dir: Path, as_json: bool) -> None:
    """Show what the dataset in OUT_DIR holds: splits, sources, size, settings, throughput."""
    from radiomap_geo.dataset.build import summarize
    from radiomap_geo.dataset.config import BuildConfig, format_mix, mix_shares, phases_json
    from radiomap_geo.dataset.sources import SOURCE_NAMES
    from radiomap_geo.dataset.store import read_manifest

    manifest = read_manifest(out_dir)
    summary = summarize(manifest)
    summary["requested_tiles"] = manifest.get("n_tiles_requested")
    summary["config"] = manifest["config"]
    # The shares of tiles the planner followed (over the sources the build could open), not the
    # weights as given: "--sources procedural" is procedural 1, not its default weight 0.5.
    phases = BuildConfig.from_dict(manifest["config"]).phases()
    summary["source_mixes"] = phases_json(
        mix_shares(phases, manifest.get("sources") or SOURCE_NAMES)
    )
    summary["backend"] = manifest["backend"]
    summary["radiomap_geo_version"] = manifest["radiomap_geo_version"]
    summary["runs"] = [
        {
            k: r.get(k)
            for k in (
                "started",
                "workers",
                "cpus",
                "new_maps",
                "seconds",
                "maps_per_hour",
                "status",
            )
        }
        for r in manifest.get("runs", [])
    ]
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    cfg = manifest["config"]
    click.echo(f"dataset {out_dir} (radiomap-geo {manifest['radiomap_geo_version']})")
    click.echo(
        f"  tiles {summary['tiles']} of {summary['requested_tiles']} requested, maps "
        f"{summary['maps']}, {summary['bytes'] / 1e6:.1f} MB"
        + (f" ({summary['mb_per_1000_maps']} MB per 1000 maps)" if summary["maps"] else "")
    )
    for split in ("train", "val", "test"):
        s = summary["splits"].get(split, {"tiles": 0, "maps": 0})
        click.echo(f"  {split:5s} {s['tiles']:6d} tiles {s['maps']:7d} maps")
    click.echo(
        "  maps per source: "
        + ", ".join(f"{k} {v}" for k, v in sorted(summary["maps_per_source"].items()))
    )
    for start, weights in summary["source_mixes"]:
        click.echo(f"  source mix from tile {start}: {format_mix(weights)}")
    click.echo(
        f"  tiles {cfg['size']}x{cfg['size']} cells at {_number(cfg['resolution_m'])} m, "
        f"receiver {_number(cfg['rx_height_m'])} m, {_number(cfg['samples_per_tx'], '.3g')} rays, "
        f"depth {cfg['max_depth']}, diffraction {'on' if cfg['diffraction'] else 'off'}, "
        f"{cfg['sites_per_tile']} sites/tile, {_number(cfg['sampling']['frequency_mhz'])} MHz, "
        f"seed {cfg['seed']}"
    )
    backend = manifest["backend"]
    click.echo(
        f"  sionna-rt {backend.get('sionna_rt_version')}, mitsuba {backend.get('mitsuba_version')}, "
        f"drjit {backend.get('drjit_version')} ({backend.get('mitsuba_variant')})"
    )
    if summary["mean_rt_seconds_per_map"]:
        click.echo(f"  mean ray-tracing time {summary['mean_rt_seconds_per_map']} s per map")
    for run in summary["runs"]:
        if run.get("maps_per_hour"):
            click.echo(
                f"  run {run['started']}: {run['new_maps']} maps in {run['seconds']} s with "
                f"{run['workers']} worker(s) on {run['cpus']} CPUs = {run['maps_per_hour']:.0f} maps/h"
            )


def _number(value: float | None, spec: str = "g") -> str:
    """A setting for ``dataset info``; "unknown" for the null that a build before the up-front
    checks stored for a NaN (``--rx-height nan``).
    """
    return "unknown" if value is None else format(value, spec)
