"""``radiomapgeo:fitmeasurements``: fit a coverage model to drive-test measurements.

A thin adapter over ``radiomap_geo.measurements.service``: the point layer of measurements
(an OpenCellID CSV loaded as a delimited-text layer, or any point layer with ``rsrp_dbm`` /
``signal`` and the cell columns) is imported (malformed rows dropped and counted, Hampel filters,
10 m bins), towers are located from the data unless a towers layer is given, and the chosen
method is fitted. Outputs: the model file (for ``--model fitted:FILE`` / the predict algorithm's
model path) and the towers table used (also a valid sites layer).
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from .convert import FeedbackMonitor, source_to_frame, tr

METHODS = ["vae-likelihood-geo", "vae-likelihood", "mlp", "ldpl"]
#: Core parameter names of errors -> this algorithm's parameters.
ERROR_PARAMETERS = {
    "files": "MEASUREMENTS",
    "measurements": "MEASUREMENTS",
    "towers": "TOWERS",
    "buildings": "BUILDINGS",
    "method": "METHOD",
    "bin_size": "BIN_SIZE",
}


class FitMeasurementsAlgorithm(QgsProcessingAlgorithm):
    """Calls ``run_import``, ``run_locate`` (without a towers layer) and ``run_fit``."""

    MEASUREMENTS = "MEASUREMENTS"
    TOWERS = "TOWERS"
    BUILDINGS = "BUILDINGS"
    METHOD = "METHOD"
    BIN_SIZE = "BIN_SIZE"
    OUTPUT_MODEL = "OUTPUT_MODEL"
    OUTPUT_TOWERS = "OUTPUT_TOWERS"

    def name(self) -> str:  # noqa: D102
        return "fitmeasurements"

    def displayName(self) -> str:  # noqa: D102
        return tr("Fit coverage model to measurements")

    def group(self) -> str:  # noqa: D102
        return tr("Measurements")

    def groupId(self) -> str:  # noqa: D102
        return "measurements"

    def tags(self) -> list[str]:  # noqa: D102
        words = ("rsrp", "drive test", "measurements", "opencellid", "model fitting", "lte", "5g")
        return [tr(word) for word in words]

    def shortHelpString(self) -> str:  # noqa: D102
        return tr(
            "Fits paper 004's VAE + Gaussian-likelihood model (or the plain MLP or log-distance "
            "baseline) to drive-test RSRP. Measurements: a point layer with RSRP (rsrp_dbm or "
            "signal, dBm) and the cell identity (mcc, mnc, lac/tac, cellid), e.g. an OpenCellID "
            "CSV. Without a towers layer the towers are located from timing advance and signal "
            "strength. The model file is used by prediction as model 'fitted:<file>'."
        )

    def createInstance(self):  # noqa: D102
        return type(self)()

    def initAlgorithm(self, config=None) -> None:  # noqa: D102
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.MEASUREMENTS, tr("Measurements (points)"), [QgsProcessing.TypeVectorPoint]
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.TOWERS,
                tr("Known towers (cellid + sites columns; empty: locate them)"),
                [QgsProcessing.TypeVectorPoint],
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.BUILDINGS,
                tr("Buildings (for the link images)"),
                [QgsProcessing.TypeVectorPolygon],
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.METHOD,
                tr("Method"),
                options=METHODS,
                defaultValue=METHODS[0],
                usesStaticStrings=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.BIN_SIZE,
                tr("Bin size (m)"),
                QgsProcessingParameterNumber.Double,
                defaultValue=10.0,
                minValue=1.0,
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.OUTPUT_MODEL, tr("Fitted model"), tr("Fitted model (*.pt)")
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.OUTPUT_TOWERS, tr("Towers used"), tr("GeoPackage (*.gpkg)")
            )
        )

    def processAlgorithm(self, parameters, context, feedback):  # noqa: D102
        service = importlib.import_module("radiomap_geo.measurements.service")
        errors = importlib.import_module("radiomap_geo.errors")
        monitor = FeedbackMonitor(feedback)
        model_path = self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context)
        towers_path = self.parameterAsFileOutput(parameters, self.OUTPUT_TOWERS, context)
        method = self.parameterAsEnumString(parameters, self.METHOD, context)
        bin_size = self.parameterAsDouble(parameters, self.BIN_SIZE, context)
        try:
            with tempfile.TemporaryDirectory(prefix="radiomap-fit-") as tmp:
                work = Path(tmp)
                points = self._layer(parameters, self.MEASUREMENTS, context, work / "points.gpkg")
                imported = work / "measurements.gpkg"
                report = service.run_import([points], imported, bin_size)
                for line in report.lines():
                    feedback.pushInfo(line)
                monitor.progress(1, 4, "measurements imported")
                known = self._layer(parameters, self.TOWERS, context, work / "known.gpkg")
                if known is None:
                    service.run_locate(
                        imported,
                        towers_path,
                        overwrite=True,
                        progress=None,
                        is_cancelled=monitor.is_cancelled,
                    )
                else:
                    service.read_towers(known).to_file(towers_path, driver="GPKG")
                monitor.progress(2, 4, "towers ready")
                buildings = self._layer(parameters, self.BUILDINGS, context, work / "b.gpkg")
                info = service.run_fit(
                    imported,
                    towers_path,
                    model_path,
                    method=method,
                    buildings=buildings,
                    overwrite=True,
                )
                monitor.progress(4, 4, "model fitted")
        except errors.RadiomapError as err:
            name = ERROR_PARAMETERS.get(getattr(err, "parameter", None) or "")
            prefix = f"'{self.parameterDefinition(name).description()}' ({name}): " if name else ""
            raise QgsProcessingException(prefix + str(err)) from err
        feedback.pushInfo(
            f"{info['method']}: {info['cells']} cells, {info['bins']} bins, sha256 {info['sha256']}"
        )
        return {self.OUTPUT_MODEL: model_path, self.OUTPUT_TOWERS: towers_path}

    def _layer(self, parameters, name, context, path: Path):
        """The feature source ``name`` written to ``path`` (GeoPackage), or None when unset."""
        source = self.parameterAsSource(parameters, name, context)
        if source is None:
            return None
        frame = source_to_frame(source, source.sourceCrs(), single_points=True)
        frame.to_file(path, driver="GPKG")
        return path
