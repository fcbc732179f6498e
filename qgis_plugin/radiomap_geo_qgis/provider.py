"""The Processing provider ``radiomapgeo``."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import ALGORITHMS

ICON_PATH = Path(__file__).with_name("icon.png")


class RadiomapGeoProvider(QgsProcessingProvider):
    """Holds one instance of every algorithm in :data:`algorithms.ALGORITHMS`."""

    def id(self) -> str:  # noqa: D102
        return "radiomapgeo"

    def name(self) -> str:  # noqa: D102
        return "Radiomap Geo"

    def longName(self) -> str:  # noqa: D102
        return "Radiomap Geo: radio coverage from GIS data"

    def icon(self) -> QIcon:  # noqa: D102
        return QIcon(str(ICON_PATH))

    def svgIconPath(self) -> str:  # noqa: D102
        return str(ICON_PATH)

    def loadAlgorithms(self) -> None:  # noqa: D102
        for algorithm_class in ALGORITHMS:
            self.addAlgorithm(algorithm_class())

    def supportedOutputRasterLayerExtensions(self) -> list[str]:
        """Rasters are written by radiomap-geo as (Cloud Optimized) GeoTIFF only."""
        return ["tif"]
