"""Constants and helpers shared by the QGIS plugin tests (no QGIS import here)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DATA = REPO / "sample_data"
# The shared real data, found as tests/conftest.py's shared_data fixture finds it.
SHARED_DATA = Path(os.environ.get("RADIOMAP_GEO_SHARED_DATA", REPO.parent / "shared" / "data"))
DELFT_BUILDINGS = SHARED_DATA / "delft" / "bgt_pand.sqlite"
QGIS_PLUGINS = "/usr/share/qgis/python/plugins"
PROVIDER_ID = "radiomapgeo"

# Two sites inside the Delft BGT footprints' extent (EPSG:28992, RD New), each 50+ m from the
# nearest building, so the cells around them are open ground.
DELFT_SITES = [
    {"site_id": "ne", "height_m": 25.0, "power_dbm": 43.0, "x": 85020.0, "y": 447600.0},
    {"site_id": "sw", "height_m": 20.0, "power_dbm": 40.0, "x": 84870.0, "y": 447470.0},
]
# minx, miny, maxx, maxy in EPSG:28992 around both sites.
DELFT_BOX = (84840.0, 447440.0, 85060.0, 447620.0)


def qgis_extent(box, authid: str) -> str:
    """A Processing extent string; note QGIS's order ``xmin,xmax,ymin,ymax``."""
    minx, miny, maxx, maxy = box
    return f"{minx},{maxx},{miny},{maxy} [{authid}]"


def write_sites(path: Path, sites=DELFT_SITES, crs: str = "EPSG:28992") -> Path:
    """A GeoPackage of point sites (``x``/``y`` in EPSG:28992), written in ``crs``."""
    import geopandas as gpd
    from shapely.geometry import Point

    frame = gpd.GeoDataFrame(
        [{k: v for k, v in s.items() if k not in ("x", "y")} for s in sites],
        geometry=[Point(s["x"], s["y"]) for s in sites],
        crs="EPSG:28992",
    ).to_crs(crs)
    frame.to_file(path, driver="GPKG")
    return path


# Measured values around the first Delft site ("ne"), in dBm, at these offsets (m) from it.
MEASUREMENT_OFFSETS = [(-60, -40), (-30, -80), (10, 20), (-90, 10), (20, -60), (-120, -100)]
MEASURED_LEVELS = [-75.0, -82.0, -70.0, -90.0, -80.0, -95.0]


def write_measurements(path: Path, values, site_ids=None) -> str:
    """A GeoPackage of measurement points (field ``level``) around the first Delft site,
    written in EPSG:4326 (so readers must reproject)."""
    import geopandas as gpd
    from shapely.geometry import Point

    x0, y0 = DELFT_SITES[0]["x"], DELFT_SITES[0]["y"]
    table = {"level": values[: len(MEASUREMENT_OFFSETS)]}
    if site_ids is not None:
        table["site_id"] = site_ids
    points = [Point(x0 + dx, y0 + dy) for dx, dy in MEASUREMENT_OFFSETS]
    frame = gpd.GeoDataFrame(table, geometry=points, crs="EPSG:28992").to_crs(4326)
    frame.to_file(path)
    return str(path)


def skip_without_sionna_rt() -> None:
    """Skip the calling test unless Sionna RT can run here (CUDA, or libLLVM 19 on the CPU)."""
    from radiomap_geo.errors import DependencyError
    from radiomap_geo.rt.llvm import import_sionna_rt, libllvm_available

    try:
        import_sionna_rt()
    except DependencyError as exc:
        pytest.skip(str(exc))
    import mitsuba as mi

    if mi.variant().startswith("llvm") and not libllvm_available():
        pytest.skip("libLLVM 19 not found: apt-get install libllvm19 (or run on a CUDA GPU)")


def desktop_context():
    """A context as the desktop makes it: current project, stop at the first invalid geometry."""
    from qgis.core import QgsFeatureRequest, QgsProcessingContext, QgsProject

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    context.setInvalidGeometryCheck(QgsFeatureRequest.GeometryAbortOnInvalid)
    return context


def run_in_task(algorithm_id, params, feedback, timeout_s=120.0):
    """Run in a ``QgsProcessingAlgRunnerTask`` on the task manager; ``(ok, results)``."""
    from qgis.core import QgsApplication, QgsProcessingAlgRunnerTask

    algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
    context = desktop_context()
    task = QgsProcessingAlgRunnerTask(algorithm, params, context, feedback)
    done = {}
    task.executed.connect(lambda ok, results: done.update(ok=ok, results=results))
    QgsApplication.taskManager().addTask(task)
    start = time.monotonic()
    while "ok" not in done:
        assert time.monotonic() - start < timeout_s, "the task did not finish"
        QgsApplication.processEvents()
        time.sleep(0.01)
    return done["ok"], done["results"]
