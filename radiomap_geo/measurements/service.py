"""The drive-test workflows as plain functions: import, locate, fit, cross-validate.

The CLI (``radiomap-geo measurements ...``) and the QGIS algorithm are thin adapters over these;
progress and cancellation are the usual callables.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import check_target
from radiomap_geo.measurements import crossval, fitting
from radiomap_geo.measurements import features as feats
from radiomap_geo.measurements.drive_test import (
    DEFAULT_BIN_SIZE_M,
    ImportReport,
    import_drive_tests,
    read_drive_test,
    write_drive_test,
)
from radiomap_geo.measurements.locate import DEFAULT_HEIGHT_M, locate_towers, read_towers
from radiomap_geo.measurements.modelfile import save_fitted_model
from radiomap_geo.progress import as_monitor
from radiomap_geo.staged import staged_file, write_layers

log = logging.getLogger(__name__)
REACH_FACTOR = 1.25  # predictions reach 25 % beyond the farthest 95 % of a fit's data


def run_import(
    files: list[str | Path],
    output: str | Path,
    bin_size: float = DEFAULT_BIN_SIZE_M,
    overwrite: bool = False,
    filters: bool = True,
) -> ImportReport:
    """Import drive-test files into a GeoPackage with ``samples`` and ``bins`` layers."""
    output = Path(output)
    check_target(output, overwrite)
    dt = import_drive_tests(list(files), bin_size=bin_size, filters=filters)
    write_drive_test(dt, output, overwrite=overwrite)
    return dt.report


def run_locate(
    measurements: str | Path,
    output: str | Path,
    height_m: float = DEFAULT_HEIGHT_M,
    overwrite: bool = False,
    progress=None,
    is_cancelled=None,
):
    """Locate every cell's tower; writes a towers table (also a valid ``--tx-file``)."""
    output = Path(output)
    check_target(output, overwrite)
    monitor = as_monitor(progress, is_cancelled)
    dt = read_drive_test(measurements)
    towers = locate_towers(dt.samples, height_m=height_m, progress=monitor.step)
    _write_towers(towers, output, overwrite)
    return towers


def _write_towers(table, output: Path, overwrite: bool) -> None:
    """A ``towers`` layer, or a CSV with ``lon``, ``lat`` columns first (a valid --tx-file)."""
    if output.suffix.lower() != ".csv":
        write_layers(output, {"towers": table}, overwrite=overwrite)
        return
    frame = table.drop(columns=table.geometry.name)
    frame.insert(0, "lat", table.geometry.y)
    frame.insert(0, "lon", table.geometry.x)
    with staged_file(output, overwrite=overwrite) as staging:
        frame.to_csv(staging, index=False)


def prepare(measurements, towers, buildings=None):
    """``(link table, layers, drive test)`` for fitting: bins joined to towers, rasterised map."""
    dt = read_drive_test(measurements)
    tower_table = read_towers(towers)
    table = fitting.link_table(dt.bins, tower_table)
    crs = table.attrs["crs"]
    bounds = _bounds(table)
    footprints = _buildings(bounds, crs, buildings) if buildings else None
    if footprints is None:
        log.warning(
            "no building footprints given: the link images carry roads (the walked streets) and "
            "the link only; pass --buildings for the building channel"
        )
    layers = feats.build_layers(
        bounds, crs, buildings=footprints, roads=feats.walked_tracks(dt.samples, crs)
    )
    return table, layers, dt


def _bounds(table) -> tuple[float, float, float, float]:
    # The bins only: a badly located far tower must not blow the rasters up; image pixels
    # beyond the layers read as empty.
    return float(table.x.min()), float(table.y.min()), float(table.x.max()), float(table.y.max())


def _buildings(bounds, crs, source):
    from radiomap_geo.grid import Grid

    res = feats.LAYER_RESOLUTION_M
    margin = feats.IMAGE_EXTENT_M
    minx, miny = bounds[0] - margin, bounds[1] - margin
    width = math.ceil((bounds[2] - bounds[0] + 2 * margin) / res)
    height = math.ceil((bounds[3] - bounds[1] + 2 * margin) / res)
    from affine import Affine

    grid = Grid(crs, Affine(res, 0, minx, 0, -res, miny + height * res), (height, width))
    from radiomap_geo.io.buildings import load_buildings

    return load_buildings(grid, source)


def run_fit(
    measurements,
    towers,
    output,
    method: str = fitting.DEFAULT_METHOD,
    buildings=None,
    latent_dim: int = fitting.DEFAULT_LATENT_DIM,
    vae_epochs: int = 20,
    overwrite: bool = False,
    seed: int = 0,
) -> dict:
    """Fit ``method`` to an imported drive test and its towers; write the model file."""
    output = Path(output)
    check_target(output, overwrite)
    if latent_dim < 1:
        raise InputError(f"latent dimension must be >= 1, got {latent_dim}", parameter="latent_dim")
    _, recipe = fitting.resolve_method(method)  # an unknown name stops before the work
    table, layers, dt = prepare(measurements, towers, buildings)
    geo_pg = _geometry_gain(table, buildings) if recipe.geometry else None
    model = fitting.fit_model(
        table,
        method,
        layers=layers,
        latent_dim=latent_dim,
        geo_pg=geo_pg,
        seed=seed,
        vae_epochs=vae_epochs,
    )
    model.metadata.update(
        {
            "method": method,
            "bins": len(table),
            "cells": len(model.cells),
            "neural_sites": sorted(model.site_models),
            "bin_size_m": dt.bin_size,
            "default_month": int(table["month"].mode().iloc[0]),
            "reach_m": float(REACH_FACTOR * np.quantile(table["distance"], 0.95)),
            "latent_dim": latent_dim,
            "geometry_model": _default_geometry_model() if geo_pg is not None else None,
            "buildings": str(buildings) if buildings else "none (roads from the walked tracks)",
            "measurements": str(measurements),
            "target": "RSRP bin mean, dBm (10 m bins)",
        }
    )
    digest = save_fitted_model(model, output, overwrite=overwrite)
    return {**model.metadata, "sha256": digest, "file": str(output)}


def _geometry_gain(table, buildings):
    """The geometry network's path gain at every link of ``table`` (``vae-likelihood-geo``)."""
    from radiomap_geo.measurements.geometry import geometry_path_gain

    footprints = _buildings(_bounds(table), table.attrs["crs"], buildings) if buildings else None
    return geometry_path_gain(table, footprints)


def _default_geometry_model() -> str:
    from radiomap_geo.models.registry import default_model

    return default_model()


def run_crossval(
    measurements,
    towers,
    methods=("ldpl", "mlp", "vae-likelihood", fitting.DEFAULT_METHOD),
    folds: int = crossval.DEFAULT_FOLDS,
    blocked: bool = False,
    buildings=None,
    latent_dim: int = fitting.DEFAULT_LATENT_DIM,
    vae_epochs: int = 20,
    seed: int = 0,
    progress=None,
    is_cancelled=None,
):
    """Cross-validated scores per held-out bin (see :func:`crossval.cross_validate`)."""
    if folds < 2:
        raise InputError(f"need at least 2 folds, got {folds}", parameter="folds")
    recipes = [fitting.resolve_method(m)[1] for m in methods]  # unknown names stop here
    # the stages before the folds take minutes: a cancel request stops between them too
    monitor = as_monitor(progress, is_cancelled)
    table, layers, _ = prepare(measurements, towers, buildings)
    needs = {"layers": layers}  # what the chosen methods read besides the link table
    if any(r.latent for r in recipes):
        monitor.check()
        needs["vae"] = fitting.train_link_vae(table, layers, latent_dim, seed, vae_epochs)
    if any(r.geometry for r in recipes):
        monitor.check()
        needs["geo_pg"] = _geometry_gain(table, buildings)
    scores = crossval.cross_validate(
        table, methods, folds=folds, blocked=blocked, seed=seed, progress=monitor.step, **needs
    )
    return scores, table
