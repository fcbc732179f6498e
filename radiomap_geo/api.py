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

from radiomap_geo.citywide import predict_city
from radiomap_geo.coverage import CoverageResult, noise_power_dbm
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
from radiomap_geo.predict import predict_coverage, predict_to_file
from radiomap_geo.rasterize import feature_stack, rasterize_buildings
from radiomap_geo.sites import Site, Sites, read_sites, sites_from_frame


# The measurement side imports torch: loaded on first use, so importing the API stays light.
def predict_with_measurements(*args, **kwargs) -> CoverageResult:
    """Coverage from measurements: corrected by them, or with ``measurement_model="radiocycle"``
    mapped from them alone (see :func:`radiomap_geo.sparse.predict.predict_with_measurements`).
    """
    from radiomap_geo.sparse.predict import predict_with_measurements as _predict

    return _predict(*args, **kwargs)


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
