"""The drive-test workflows as plain functions: import, locate, fit, cross-validate.

The CLI (``radiomap-geo measurements ...``) and the QGIS algorithm are thin adapters over these;
progress and cancellation are the usual callables.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from radiomap_geo.errors import InputError
from radiomap_geo.io.atomic import check_target, same_file
from radiomap_geo.measurements import crossval, fitting
from radiomap_geo.measurements import features as feats
from radiomap_geo.measurements.drive_test import (
    DEFAULT_BIN_SIZE_M,
    ImportReport,
    check_bin_size,
    import_drive_tests,
    read_drive_test,
    write_drive_test,
)
from radiomap_geo.measurements.locate import (
    DEFAULT_HEIGHT_M,
    check_height,
    locate_towers,
    read_towers,
)
from radiomap_geo.measurements.modelfile import save_fitted_model
from radiomap_geo.progress import as_monitor
from radiomap_geo.staged import staged_file, write_layers

log = logging.getLogger(__name__)
REACH_FACTOR = 1.25  # predictions reach 25 % beyond the farthest 95 % of a fit's data

#: What each workflow's output may be called: the formats its writer makes and the next step reads.
#: An imported drive test has two layers (samples, bins): only a GeoPackage holds both.
IMPORT_SUFFIXES = (".gpkg",)
#: Located towers are a ``--tx-file``: a vector layer or a CSV with lon, lat first.
TOWERS_SUFFIXES = (".gpkg", ".geojson", ".json", ".fgb", ".csv")
#: A fitted model is a ``torch.save`` file, read back by ``predict --model fitted:FILE``.
MODEL_SUFFIXES = (".pt",)
_WHAT = {
    IMPORT_SUFFIXES: "an imported drive test is a GeoPackage (layers samples and bins)",
    TOWERS_SUFFIXES: "a towers table is a GeoPackage, GeoJSON, FlatGeobuf or CSV",
    MODEL_SUFFIXES: "a fitted model is a PyTorch file",
}


def check_output_suffix(output: str | Path, allowed: tuple[str, ...]) -> Path:
    """Refuse an output name whose extension the writer cannot write (before any work)."""
    output = Path(output)
    if output.suffix.lower() not in allowed:
        names = " or ".join([", ".join(allowed[:-1]), allowed[-1]] if len(allowed) > 1 else allowed)
        raise InputError(
            f"cannot write {output}: {_WHAT.get(allowed, 'the output')}, so its name must end in "
            f"{names}; use e.g. {output.with_suffix(allowed[0]).name}",
            parameter="output",
        )
    return output


def refuse_input_as_output(
    output: str | Path,
    inputs: Mapping[str, str | Path | Iterable[str | Path] | None],
    name: Callable[[str], str] = lambda parameter: f"the {parameter} path",
) -> None:
    """Refuse an ``output`` that is one of the ``inputs`` (parameter name -> path or paths).

    Writing it would replace the input that the run reads (with ``--overwrite``), or the
    existing-output message would invite exactly that. ``name`` words a parameter for the
    message (the command line passes its flags).
    """
    output = Path(output)
    for parameter, paths in inputs.items():
        if paths is None:
            continue
        for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
            if same_file(output, Path(path)):
                raise InputError(
                    f"{name('output')} {output} is the same file as {name(parameter)} {path}: "
                    "the run would replace its own input; choose another output path",
                    parameter="output",
                )


def run_import(
    files: list[str | Path],
    output: str | Path,
    bin_size: float = DEFAULT_BIN_SIZE_M,
    overwrite: bool = False,
    filters: bool = True,
) -> ImportReport:
    """Import drive-test files into a GeoPackage with ``samples`` and ``bins`` layers."""
    refuse_input_as_output(output, {"files": files})
    output = check_output_suffix(output, IMPORT_SUFFIXES)
    check_bin_size(bin_size)
    check_target(output, overwrite)
    dt = import_drive_tests(list(files), bin_size=bin_size, filters=filters)
    write_drive_test(dt, output, overwrite=overwrite)
    return dt.report


def check_locate(measurements: str | Path, output: str | Path, height_m: float) -> Path:
    """Refuse what :func:`run_locate` cannot use, before any work: the output's name, an
    output that is the input, an antenna height that no sites table may hold.
    """
    refuse_input_as_output(output, {"measurements": measurements})
    output = check_output_suffix(output, TOWERS_SUFFIXES)
    check_height(height_m)
    return output


def run_locate(
    measurements: str | Path,
    output: str | Path,
    height_m: float = DEFAULT_HEIGHT_M,
    overwrite: bool = False,
    progress=None,
    is_cancelled=None,
):
    """Locate every cell's tower; writes a towers table (also a valid ``--tx-file``)."""
    output = check_locate(measurements, output, height_m)
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
    refuse_input_as_output(
        output, {"measurements": measurements, "towers": towers, "buildings": buildings}
    )
    output = check_output_suffix(output, MODEL_SUFFIXES)
    if latent_dim < 1:
        raise InputError(
            f"latent dimension must be >= 1, got {latent_dim}: give a whole number (default "
            f"{fitting.DEFAULT_LATENT_DIM})",
            parameter="latent_dim",
        )
    if vae_epochs < 1:
        raise InputError(
            f"VAE epochs must be >= 1, got {vae_epochs}: give a whole number (default 20)",
            parameter="vae_epochs",
        )
    _, recipe = fitting.resolve_method(method)  # an unknown name stops before the work
    check_target(output, overwrite)
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
