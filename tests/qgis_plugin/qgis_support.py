"""Constants and helpers shared by the QGIS plugin tests (no QGIS import here)."""

from __future__ import annotations

import os
from pathlib import Path

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
