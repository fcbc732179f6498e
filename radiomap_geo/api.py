"""The public Python API: everything the CLI, the QGIS provider and notebooks call.

Example::

    from radiomap_geo.api import BBox, Grid, load_buildings, predict_coverage, read_sites

    grid = Grid.from_bbox(BBox.parse("24.938,60.166,24.950,60.172"), resolution=5.0)
    sites = read_sites("sample_data/sites.gpkg", crs=grid.crs)
    buildings = load_buildings(grid, "sample_data/helsinki.osm.pbf")
    result = predict_coverage(grid, sites, buildings, model="3gpp-uma")
    result.write("coverage.tif")
"""

from __future__ import annotations

import inspect
from typing import Any

from radiomap_geo.citywide import predict_city
from radiomap_geo.coverage import CoverageResult, noise_power_dbm
from radiomap_geo.errors import InputError
from radiomap_geo.grid import BBox, Grid, utm_crs_for
from radiomap_geo.inputs import Inputs, OsmDownload, make_grid, prepare_inputs
from radiomap_geo.io.buildings import load_buildings, read_buildings
from radiomap_geo.models.registry import (
    DEFAULT_MODEL,
    default_model,
    describe_models,
    get_model,
    list_models,
)
from radiomap_geo.options import RunOptions
from radiomap_geo.predict import predict_coverage as _predict_from_geometry
from radiomap_geo.predict import predict_to_file
from radiomap_geo.rasterize import feature_stack, rasterize_buildings
from radiomap_geo.sites import Site, Sites, read_sites, sites_from_frame


# The measurement side imports torch: loaded on first use, so importing the API stays light.
def predict_with_measurements(*args, **kwargs) -> CoverageResult:
    """Coverage from measurements: corrected by them, or with ``measurement_model="radiocycle"``
    mapped from them alone (see :func:`radiomap_geo.sparse.predict.predict_with_measurements`).
    """
    from radiomap_geo.sparse.predict import predict_with_measurements as _predict

    return _predict(*args, **kwargs)


#: Engine inputs that maps from measurements do not read.
_RASTERS = ("ndsm", "ortho", "dsm", "dtm")


def predict_coverage(
    grid: Grid, sites: Any, buildings: Any = None, *, measurements: Any = None, **inputs: Any
) -> CoverageResult:
    """Predict coverage bands over ``grid``: from the geometry alone, or, given
    ``measurements``, corrected by them.

    Without ``measurements`` this is :func:`radiomap_geo.predict.predict_coverage` (its keywords
    below). With ``measurements`` (a file, a GeoDataFrame of points or read
    :class:`~radiomap_geo.measurements.points.Measurements`) it is
    :func:`predict_with_measurements`: ``model`` names the geometry network it corrects, and
    ``value_column``, ``value_kind``, ``value_unit`` and ``measurement_model`` say how the
    values are read and used; ``sites`` may then be None (transmitters unknown).
    """
    if measurements is None:
        return _predict_from_geometry(grid, sites, buildings, **inputs)
    given = [name for name in _RASTERS if inputs.get(name) is not None]
    if given:
        raise InputError(
            f"maps from measurements read footprints only, not {given}: drop them, or predict "
            "without measurements",
            parameter=given[0],
        )
    for name in _RASTERS:
        inputs.pop(name, None)
    if inputs.get("model") is not None:
        inputs["geometry_model"] = inputs.pop("model")
    inputs.pop("model", None)
    return predict_with_measurements(grid, sites, buildings, measurements, **inputs)


def _signature_with_measurements() -> inspect.Signature:
    """The engine's signature (its keywords spelled out, for help() and notebooks) plus
    ``measurements``.
    """
    engine = inspect.signature(_predict_from_geometry)
    named = [p for p in engine.parameters.values() if p.kind is not p.VAR_KEYWORD]
    extra = [
        inspect.Parameter("measurements", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter("settings", inspect.Parameter.VAR_KEYWORD),
    ]
    return engine.replace(parameters=[*named, *extra])


predict_coverage.__signature__ = _signature_with_measurements()


def measurement_model_catalogue() -> list[tuple[str, str, bool]]:
    """The shipped measurement models, ``(name, description, is default)``, the default first."""
    from radiomap_geo.sparse.model import measurement_model_catalogue as _catalogue

    return _catalogue()


def simulate_coverage(*args, **kwargs) -> CoverageResult:
    """Ray-trace coverage with Sionna RT (see :func:`radiomap_geo.rt.simulate.simulate_coverage`)."""
    from radiomap_geo.rt.simulate import simulate_coverage as _simulate

    return _simulate(*args, **kwargs)


__all__ = [
    "DEFAULT_MODEL",
    "BBox",
    "CoverageResult",
    "Grid",
    "Inputs",
    "OsmDownload",
    "RunOptions",
    "Site",
    "Sites",
    "default_model",
    "describe_models",
    "feature_stack",
    "get_model",
    "list_models",
    "load_buildings",
    "make_grid",
    "measurement_model_catalogue",
    "noise_power_dbm",
    "predict_city",
    "predict_coverage",
    "predict_to_file",
    "predict_with_measurements",
    "prepare_inputs",
    "rasterize_buildings",
    "read_buildings",
    "read_sites",
    "simulate_coverage",
    "sites_from_frame",
    "utm_crs_for",
]
