#!/usr/bin/env python
"""The real Zurich lakeside area as an evaluation case for orthophoto- and nDSM-driven models.

From ``../shared/data/zurich/`` (swisstopo open data: SWISSIMAGE orthophoto ``lidar_ref-img.tif``
and swissSURFACE3D LiDAR ``lidar_lidar.laz`` over the same ground, EPSG:2056) this writes, into an
output folder OUTSIDE the repository (the shared data must never be copied into it):

==================  ==============================================================================
``ortho.tif``       the real orthophoto, RGB only (SWISSIMAGE has no near infrared), averaged onto
                    the grid (uint8)
``ndsm.tif``        LiDAR nDSM (highest point minus interpolated ground; buildings *and* trees)
``dsm.tif``         LiDAR surface model, absolute heights (m)
``dtm.tif``         LiDAR terrain model, absolute heights (m)
``land.tif``        1 on land, 0 on the lake (from the LiDAR: ground above 406.3 m or any
                    vegetation/building/bridge point), to score land and lake apart
``buildings.gpkg``  LiDAR building footprints (class 6) with ``height_m`` (90th percentile of nDSM)
``sites.gpkg``      four plausible transmitters: two rooftop, two street-level
``preview.png``     real ortho | a rendering of the same ground by ``dataset.ortho`` | nDSM
``README.txt``      what the files are, attribution, the commands to run
==================  ==============================================================================

The grid is the orthophoto's extent in EPSG:2056 snapped inwards to whole cells (2 m: 218 x 100
cells, 436 m x 200 m). It prints the ``radiomap-geo simulate`` and ``predict`` commands, and
``compare`` scores predictions against the ray-traced result::

    python scripts/make_zurich_area.py [--out /tmp/zurich_area]
    python scripts/make_zurich_area.py compare --truth rt.tif pred_ortho.tif pred_ndsm.tif \
        --land /tmp/zurich_area/land.tif

Data (c) swisstopo (SWISSIMAGE, swissSURFACE3D), free use with attribution.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("RADIOMAP_GEO_SHARED_DATA", REPO.parent / "shared" / "data"))
CRS = "EPSG:2056"
LAKE_LEVEL_M = 406.3  # Lake Zurich is at about 405.9 m above sea level
ATTRIBUTION = "(c) swisstopo (SWISSIMAGE, swissSURFACE3D), free use with attribution"


def area_grid(ortho_path: Path, resolution: float):
    """The orthophoto's extent in EPSG:2056, snapped inwards to whole cells."""
    import rasterio
    from affine import Affine

    from radiomap_geo.grid import Grid, to_crs

    with rasterio.open(ortho_path) as src:
        if src.crs is None or not to_crs(src.crs.to_wkt()).equals(to_crs(CRS)):
            raise SystemExit(f"{ortho_path} is not in {CRS}")
        b = src.bounds
    minx = math.ceil(b.left / resolution - 1e-6) * resolution
    maxy = math.floor(b.top / resolution + 1e-6) * resolution
    cols = int(math.floor((b.right - minx) / resolution + 1e-6))
    rows = int(math.floor((maxy - b.bottom) / resolution + 1e-6))
    return Grid(to_crs(CRS), Affine(resolution, 0.0, minx, 0.0, -resolution, maxy), (rows, cols))


def write_raster(path: Path, grid, data: np.ndarray, dtype: str, nodata=None, rgb=False) -> None:
    """A GeoTIFF of one or more bands on ``grid``."""
    import rasterio
    from rasterio.enums import ColorInterp

    data = data[None] if data.ndim == 2 else data
    profile = grid.to_profile(count=data.shape[0], dtype=dtype, nodata=nodata)
    profile.update(compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(dtype))
        if rgb:
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]


def land_mask(points, grid, dtm: np.ndarray) -> np.ndarray:
    """Land cells: ground above the lake or anything standing (vegetation, buildings, bridges)."""
    from scipy import ndimage

    from radiomap_geo.io.lidar import class_counts

    standing = class_counts(points, grid, (4, 5, 6, 17)) > 0  # 3: also lake weed
    land = ndimage.binary_closing(standing | (dtm > LAKE_LEVEL_M), iterations=2)
    labels, n = ndimage.label(land)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= 100
    keep[0] = False
    return keep[labels]


def choose_sites(buildings, grid, ndsm: np.ndarray, land: np.ndarray):
    """Two rooftop sites on the tallest buildings apart, two street sites on open land apart."""
    import geopandas as gpd
    from scipy import ndimage
    from shapely.geometry import Point

    rows = []
    roofs = buildings.sort_values("height_m", ascending=False)
    for _, b in roofs.iterrows():
        p = b.geometry.representative_point()
        if all(p.distance(r["geometry"]) > 60 for r in rows):
            sector = not rows
            rows.append(
                {
                    "site_id": f"roof-{len(rows) + 1}",
                    "height_m": round(float(b.height_m) + 3.0, 1),
                    "antenna": "tr38901" if sector else "iso",
                    "azimuth_deg": 110.0 if sector else 0.0,  # east-south-east, along the shore
                    "tilt_deg": 6.0 if sector else 0.0,
                    "geometry": p,
                }
            )
        if len(rows) == 2:
            break
    open_land = land & (ndsm < 0.5)
    clearance = ndimage.distance_transform_edt(ndsm < 2.0, sampling=grid.resolution)
    inner = ndimage.distance_transform_edt(land, sampling=grid.resolution)
    candidates = np.argwhere(open_land & (clearance >= 6.0) & (inner >= 10.0))
    xs, ys = grid.xy(candidates[:, 0], candidates[:, 1])
    for k in range(2):
        if candidates.size == 0:
            break
        dist = np.full(len(xs), np.inf)
        for r in rows:
            dist = np.minimum(dist, np.hypot(xs - r["geometry"].x, ys - r["geometry"].y))
        best = int(np.argmax(dist))  # farthest from the sites so far
        rows.append(
            {
                "site_id": f"street-{k + 1}",
                "height_m": 6.0,
                "antenna": "iso",
                "azimuth_deg": 0.0,
                "tilt_deg": 0.0,
                "geometry": Point(float(xs[best]), float(ys[best])),
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=grid.crs)
    frame["frequency_mhz"] = 3500.0
    frame["power_dbm"] = 43.0
    return frame


def preview(path: Path, image: np.ndarray, rendering: np.ndarray, ndsm: np.ndarray) -> None:
    """Real ortho, rendering and nDSM stacked vertically, 2x enlarged."""
    from PIL import Image

    surface = np.repeat(np.clip(ndsm / 20.0, 0, 1)[None], 3, axis=0)
    gap = np.ones((3, 4, image.shape[2]), np.float32)
    stack = np.concatenate([image, gap, rendering[:3], gap, surface], axis=1)
    pixels = (np.moveaxis(stack, 0, -1) * 255).round().astype(np.uint8)
    picture = Image.fromarray(pixels)
    picture.resize((picture.width * 2, picture.height * 2), Image.NEAREST).save(path)


def build(args: argparse.Namespace) -> None:
    """Write the area's rasters, footprints, sites, preview and README; print the commands."""
    from radiomap_geo.dataset.ortho import ortho_stats, render_tile
    from radiomap_geo.io.lidar import (
        building_footprints_from_lidar,
        lidar_to_rasters,
        read_las_points,
    )
    from radiomap_geo.io.rasters import read_ortho
    from radiomap_geo.rasterize import rasterize_buildings

    data = Path(args.data_dir)
    ortho_path, laz_path = data / "lidar_ref-img.tif", data / "lidar_lidar.laz"
    for p in (ortho_path, laz_path):
        if not p.exists():
            raise SystemExit(f"{p} not found (is ../shared/data there?)")
    out = Path(args.out).resolve()
    if out == REPO or REPO in out.parents:
        raise SystemExit(f"{out} is inside the repository: shared data must not be copied there")
    out.mkdir(parents=True, exist_ok=True)

    grid = area_grid(ortho_path, args.resolution)
    print(f"grid: {grid}")
    points = read_las_points(laz_path, CRS)
    dsm, dtm, ndsm, mask = lidar_to_rasters(points, grid)
    land = land_mask(points, grid, dtm)
    image = read_ortho(grid, ortho_path, resampling="average")

    # Footprints from a finer LiDAR grid (about 2 points per m2: 1 m cells), heights from it too.
    fine = grid
    if args.footprint_resolution < args.resolution:
        from affine import Affine

        from radiomap_geo.grid import Grid

        f = args.footprint_resolution
        scale = args.resolution / f
        fine = Grid(
            grid.crs,
            Affine(f, 0.0, grid.transform.c, 0.0, -f, grid.transform.f),
            (round(grid.height * scale), round(grid.width * scale)),
        )
    fine_rasters = lidar_to_rasters(points, fine) if fine is not grid else (dsm, dtm, ndsm, mask)
    buildings = building_footprints_from_lidar(fine_rasters[3], fine_rasters[2], fine)
    heights = rasterize_buildings(buildings, grid)
    iou = (heights > 0)[mask].sum() / max(((heights > 0) | mask).sum(), 1)
    sites = choose_sites(buildings, grid, ndsm, land)

    write_raster(out / "ortho.tif", grid, np.round(image * 255), "uint8", rgb=True)
    write_raster(out / "ndsm.tif", grid, ndsm, "float32")
    write_raster(out / "dsm.tif", grid, dsm, "float32")
    write_raster(out / "dtm.tif", grid, dtm, "float32")
    write_raster(out / "land.tif", grid, land.astype(np.uint8), "uint8")
    for name, frame in (("buildings.gpkg", buildings), ("sites.gpkg", sites)):
        target = out / name
        if target.exists():
            target.unlink()
        frame.to_file(target, driver="GPKG")

    rendering = render_tile(heights, grid, seed=0, ndsm=ndsm, bands=4)
    preview(out / "preview.png", image, rendering.image, ndsm)
    real_stats = ortho_stats(image, land)
    rendered_stats = ortho_stats(rendering.image, land)

    bbox = ",".join(f"{v:.1f}" for v in grid.bounds)
    common = (
        f"--bbox {bbox} --bbox-crs {CRS} --crs {CRS} --resolution {args.resolution:g} "
        f"--sites {out / 'sites.gpkg'} --buildings {out / 'buildings.gpkg'} --per-site --overwrite"
    )
    commands = [
        f"radiomap-geo simulate {common} -o {out / 'rt.tif'}",
        f"radiomap-geo predict {common} --model net:ORTHO_MODEL.pt "
        f"--ortho {out / 'ortho.tif'} --ndsm {out / 'ndsm.tif'} -o {out / 'pred_ortho.tif'}",
        f"radiomap-geo predict {common} --model net:ORTHO_ONLY_MODEL.pt "
        f"--ortho {out / 'ortho.tif'} -o {out / 'pred_ortho_only.tif'}",
        f"radiomap-geo predict {common} --model net:NDSM_MODEL.pt "
        f"--ndsm {out / 'ndsm.tif'} -o {out / 'pred_ndsm.tif'}",
        f"python scripts/make_zurich_area.py compare --truth {out / 'rt.tif'} "
        f"{out / 'pred_ortho.tif'} {out / 'pred_ortho_only.tif'} {out / 'pred_ndsm.tif'} "
        f"--land {out / 'land.tif'}",
    ]
    summary = [
        f"Zurich lakeside evaluation area, built by scripts/make_zurich_area.py. Data {ATTRIBUTION}.",
        f"grid: {grid}",
        f"land cells: {land.mean():.1%} (the rest is Lake Zurich)",
        f"buildings: {len(buildings)} LiDAR footprints, heights {sorted(buildings.height_m.round(1))} m,"
        f" IoU with the 2 m class-6 mask {iou:.3f}",
        f"LiDAR building cells with nDSM 3-40 m: {((ndsm[mask] >= 3) & (ndsm[mask] <= 40)).mean():.1%}",
        "sites:",
        *(
            f"  {s.site_id}: x={s.geometry.x:.1f} y={s.geometry.y:.1f} {s.height_m} m {s.antenna}"
            f" az={s.azimuth_deg:g} tilt={s.tilt_deg:g}"
            for s in sites.itertuples()
        ),
        "ortho.tif is RGB only (SWISSIMAGE has no near infrared): an orthophoto model for this area"
        " must take ortho_r/g/b, not ortho_ir.",
        f"orthophoto statistics on land, real:      {real_stats}",
        f"rendering of the same ground (RGB+IR):    {rendered_stats}",
        "commands (replace the net:*.pt paths with the trained weights):",
        *(f"  {c}" for c in commands),
    ]
    text = "\n".join(summary)
    (out / "README.txt").write_text(text + "\n")
    print(text)


def compare(args: argparse.Namespace) -> None:
    """RMSE, MAE and bias of predictions against the ray-traced result, per site and overall."""
    import rasterio

    def bands(path):
        with rasterio.open(path) as src:
            return {d: src.read(i + 1) for i, d in enumerate(src.descriptions) if d}

    truth = bands(args.truth)
    land = None
    if args.land:
        with rasterio.open(args.land) as src:
            land = src.read(1) > 0
    keys = sorted(k for k in truth if k.startswith("path_gain_db:"))
    if not keys:
        raise SystemExit(f"{args.truth} has no path_gain_db:<site> bands (run with --per-site)")
    regions = {"all": None} if land is None else {"all": None, "land": land, "lake": ~land}
    print(f"cells with a ray-traced value >= {args.threshold} dB; RMSE / MAE / bias (pred - rt) dB")
    for pred_path in args.predictions:
        pred = bands(pred_path)
        print(f"\n{pred_path}")
        for region, where in regions.items():
            errors = []
            for key in keys:
                if key not in pred:
                    continue
                t, p = truth[key], pred[key]
                ok = np.isfinite(t) & np.isfinite(p) & (t >= args.threshold)
                if where is not None:
                    ok &= where
                e = p[ok] - t[ok]
                errors.append(e)
                if e.size:
                    rmse, mae = np.sqrt(np.mean(e**2)), np.mean(np.abs(e))
                    print(
                        f"  {region:5s} {key:28s} n={e.size:6d} {rmse:6.2f} {mae:6.2f} {e.mean():+6.2f}"
                    )
            e = np.concatenate(errors) if errors else np.array([])
            if e.size:
                rmse, mae = np.sqrt(np.mean(e**2)), np.mean(np.abs(e))
                print(
                    f"  {region:5s} {'ALL SITES':28s} n={e.size:6d} {rmse:6.2f} {mae:6.2f} {e.mean():+6.2f}"
                )


def main(argv: list[str] | None = None) -> None:
    """``make_zurich_area.py [--out DIR]`` builds the area; ``... compare`` scores predictions."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["compare"]:
        parser = argparse.ArgumentParser(prog="make_zurich_area.py compare")
        parser.add_argument("--truth", required=True, help="simulate output with --per-site")
        parser.add_argument("predictions", nargs="+", help="predict outputs with --per-site")
        parser.add_argument("--land", help="land.tif: also score land and lake apart")
        parser.add_argument("--threshold", type=float, default=-130.0)
        compare(parser.parse_args(argv[1:]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA / "zurich"))
    parser.add_argument("--out", default="/tmp/zurich_area", help="output folder, not in the repo")
    parser.add_argument("--resolution", type=float, default=2.0)
    parser.add_argument(
        "--footprint-resolution",
        type=float,
        default=1.0,
        help="cell size (m) of the LiDAR grid the footprints are traced on",
    )
    args = parser.parse_args(argv)
    build(args)


if __name__ == "__main__":
    main()
