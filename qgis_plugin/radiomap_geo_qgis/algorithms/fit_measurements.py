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

from qgis.core import QgsProcessingParameterFileDestination

from .common import RadiomapAlgorithm
from .convert import FeedbackMonitor, source_to_frame, tr
from .parameters import enum_param, number_param, source_param

METHODS = ["vae-likelihood-geo", "vae-likelihood", "mlp", "ldpl"]


class FitMeasurementsAlgorithm(RadiomapAlgorithm):
    """Calls ``run_import``, ``run_locate`` (without a towers layer) and ``run_fit``."""

    NAME = "fitmeasurements"
    DISPLAY_NAME = "Fit coverage model to measurements"
    GROUP = "Measurements"
    TAGS = ("rsrp", "drive test", "measurements", "opencellid", "model fitting", "lte", "5g")
    HELP = (
        "Fits paper 004's VAE + Gaussian-likelihood model (by default with the geometry "
        "network's path gain, link distance and bearing as inputs, a count-aware likelihood and "
        "a 5-network ensemble; or the paper's exact model, the plain MLP or the log-distance "
        "baseline) to drive-test RSRP. Measurements: a point layer with RSRP (rsrp_dbm or "
        "signal, dBm) and the cell identity (mcc, mnc, lac/tac, cellid), e.g. an OpenCellID "
        "CSV. Without a towers layer the towers are located from timing advance and signal "
        "strength. The model file is used by prediction as model 'fitted:<file>'."
    )
    ERROR_PARAMETERS = {
        "files": "MEASUREMENTS",
        "measurements": "MEASUREMENTS",
        "towers": "TOWERS",
        "buildings": "BUILDINGS",
        "method": "METHOD",
        "bin_size": "BIN_SIZE",
    }
    OUTPUT_MODEL = "OUTPUT_MODEL"
    OUTPUT_TOWERS = "OUTPUT_TOWERS"

    def initAlgorithm(self, config=None) -> None:  # noqa: D102
        parameters = [
            source_param("MEASUREMENTS", "Measurements (points)", "point"),
            source_param(
                "TOWERS",
                "Known towers (cellid + sites columns; empty: locate them)",
                "point",
                optional=True,
            ),
            source_param("BUILDINGS", "Buildings (for the link images)", "polygon", optional=True),
            enum_param("METHOD", "Method", METHODS),
            number_param("BIN_SIZE", "Bin size (m)", 10.0, 1.0),
            QgsProcessingParameterFileDestination(
                self.OUTPUT_MODEL, tr("Fitted model"), tr("Fitted model (*.pt)")
            ),
            QgsProcessingParameterFileDestination(
                self.OUTPUT_TOWERS, tr("Towers used"), tr("GeoPackage (*.gpkg)")
            ),
        ]
        for parameter in parameters:
            self.addParameter(parameter)

    def process(self, api, parameters, context, feedback):
        """Import the points, locate (or read) the towers, fit; in a temporary folder."""
        service = importlib.import_module("radiomap_geo.measurements.service")
        monitor = FeedbackMonitor(feedback)
        model_path = self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context)
        towers_path = self.parameterAsFileOutput(parameters, self.OUTPUT_TOWERS, context)
        method = self.parameterAsEnumString(parameters, "METHOD", context)
        bin_size = self.parameterAsDouble(parameters, "BIN_SIZE", context)
        with tempfile.TemporaryDirectory(prefix="radiomap-fit-") as tmp:
            work = Path(tmp)
            points = self._layer(parameters, "MEASUREMENTS", context, work / "points.gpkg")
            imported = work / "measurements.gpkg"
            report = service.run_import([points], imported, bin_size)
            for line in report.lines():
                feedback.pushInfo(line)
            monitor.progress(1, 4, "measurements imported")
            known = self._layer(parameters, "TOWERS", context, work / "known.gpkg")
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
            buildings = self._layer(parameters, "BUILDINGS", context, work / "b.gpkg")
            info = service.run_fit(
                imported,
                towers_path,
                model_path,
                method=method,
                buildings=buildings,
                overwrite=True,
            )
            monitor.progress(4, 4, "model fitted")
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
