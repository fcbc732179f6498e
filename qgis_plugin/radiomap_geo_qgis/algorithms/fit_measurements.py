"""``radiomapgeo:fitmeasurements``: fit a coverage model to drive-test measurements.

A thin adapter over ``radiomap_geo.measurements.service``: the point layer of measurements
(an OpenCellID CSV loaded as a delimited-text layer, or any point layer with ``rsrp_dbm`` /
``signal`` and the cell columns) is imported (malformed rows dropped and counted, Hampel filters,
10 m bins), towers are located from the data unless a towers layer is given, and the chosen
method is fitted. Outputs: the model file (for ``--model fitted:FILE`` / the predict algorithm's
model path) and the towers table used (also a valid sites layer).

Every input and output is checked before any work, the work happens in a temporary folder, and
the outputs are published only once everything worked: a failed run leaves nothing behind.
Messages and the model's metadata name the layers, never the temporary files.
"""

from __future__ import annotations

import dataclasses
import importlib
import shutil
import tempfile
from pathlib import Path

from qgis.core import QgsProcessingException, QgsProcessingParameterFileDestination

from .common import RadiomapAlgorithm
from .convert import FeedbackMonitor, source_to_frame, tr
from .parameters import enum_param, number_param, source_param

METHODS = ["vae-likelihood-geo", "vae-likelihood", "mlp", "ldpl"]
#: The input layers, and what an empty one should hold instead.
LAYERS = {
    "MEASUREMENTS": "measured points",
    "TOWERS": "one point per cell (cellid and the sites columns)",
    "BUILDINGS": "footprints",
}


@dataclasses.dataclass(frozen=True)
class InputLayer:
    """An input layer read into a frame: its parameter, name and file (None: not a file)."""

    key: str
    name: str
    path: str | None
    frame: object = None

    def describe(self) -> str:
        """How messages and the model's metadata name the layer: its name and source."""
        if self.path is None:
            return tr("the layer '{}'").format(self.name)
        return tr("the layer '{}' ({})").format(self.name, self.path)

    def write(self, folder: Path) -> Path:
        """The frame as a GeoPackage in ``folder`` (the files the library reads).

        A ``fid`` field (a GeoPackage's feature id, or any text column of that name) is left
        out: the GeoPackage numbers its rows itself and refuses a ``fid`` that is not one.
        """
        path = folder / f"input-{self.key.lower()}.gpkg"
        self.frame.drop(columns="fid", errors="ignore").to_file(path, driver="GPKG")
        return path


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
        """Check inputs and outputs; import, locate (or read) the towers and fit in a temporary
        folder; publish the model and the towers once everything worked.
        """
        service = importlib.import_module("radiomap_geo.measurements.service")
        errors = importlib.import_module("radiomap_geo.errors")
        monitor = FeedbackMonitor(feedback)
        layers = {key: self._layer(parameters, key, context) for key in LAYERS}
        if layers["MEASUREMENTS"] is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, "MEASUREMENTS"))
        model_path, towers_path = self._outputs(service, parameters, context, layers)
        method = self.parameterAsEnumString(parameters, "METHOD", context)
        bin_size = self.parameterAsDouble(parameters, "BIN_SIZE", context)
        with tempfile.TemporaryDirectory(prefix="radiomap-fit-") as tmp:
            work = Path(tmp)
            files = {key: layer.write(work) for key, layer in layers.items() if layer}
            imported = work / "imported.gpkg"
            towers = work / ("towers" + Path(towers_path).suffix.lower())
            names = {str(files[key]): layer.describe() for key, layer in layers.items() if layer}
            names[str(imported)] = layers["MEASUREMENTS"].describe()
            names[str(towers)] = (
                layers["TOWERS"].describe() if layers["TOWERS"] else tr("the located towers")
            )
            try:
                report = service.run_import([files["MEASUREMENTS"]], imported, bin_size)
                for line in report.lines():
                    feedback.pushInfo(line)
                monitor.progress(1, 4, "measurements imported")
                if layers["TOWERS"] is None:
                    service.run_locate(imported, towers, is_cancelled=monitor.is_cancelled)
                else:
                    known = service.read_towers(files["TOWERS"])
                    service._write_towers(known, towers, overwrite=True)  # the user's format
                monitor.progress(2, 4, "towers ready")
                fitted = work / "model.pt"
                info = service.run_fit(
                    imported, towers, fitted, method=method, buildings=files.get("BUILDINGS")
                )
            except errors.RadiomapError as exc:
                exc.args = (_rename(str(exc), names),)  # the layers, not the temporary files
                raise
            digest = self._publish(fitted, towers, model_path, towers_path, layers)
            monitor.progress(4, 4, "model fitted")
        feedback.pushInfo(
            f"{info['method']}: {info['cells']} cells, {info['bins']} bins, sha256 {digest}"
        )
        return {self.OUTPUT_MODEL: model_path, self.OUTPUT_TOWERS: towers_path}

    def _label(self, key: str) -> str:
        return f"'{self.parameterDefinition(key).description()}' ({key})"

    def _layer(self, parameters, key, context) -> InputLayer | None:
        """Input layer ``key`` read into a frame (None when unset); an empty one is refused."""
        source = self.parameterAsSource(parameters, key, context)
        if source is None:
            return None
        layer = InputLayer(key, source.sourceName(), self._layer_file(parameters, key, context))
        frame = source_to_frame(source, source.sourceCrs(), single_points=True)
        if len(frame) == 0:
            raise QgsProcessingException(
                tr("{}: {} has no features; choose a layer with {}.").format(
                    self._label(key), layer.describe(), tr(LAYERS[key])
                )
            )
        return dataclasses.replace(layer, frame=frame)

    def _layer_file(self, parameters, key, context) -> str | None:
        """The file behind input layer ``key`` (None for a memory or database layer)."""
        layer = self.parameterAsVectorLayer(parameters, key, context)
        if layer is None or layer.providerType() != "ogr":
            return None
        path = layer.source().split("|")[0]
        return path if Path(path).is_file() else None

    def _outputs(self, service, parameters, context, layers) -> tuple[str, str]:
        """The model and towers paths, refused before any work: one file for both, an input
        layer's file, a format the writer cannot make, a folder that takes no file.
        """
        atomic = importlib.import_module("radiomap_geo.io.atomic")
        errors = importlib.import_module("radiomap_geo.errors")
        formats = {
            self.OUTPUT_MODEL: service.MODEL_SUFFIXES,
            self.OUTPUT_TOWERS: service.TOWERS_SUFFIXES,
        }
        paths = {key: self.parameterAsFileOutput(parameters, key, context) for key in formats}
        model_path, towers_path = paths[self.OUTPUT_MODEL], paths[self.OUTPUT_TOWERS]
        if atomic.same_file(model_path, towers_path):
            raise QgsProcessingException(
                tr("{} and {} are the same file {}: choose two different files.").format(
                    self._label(self.OUTPUT_MODEL), self._label(self.OUTPUT_TOWERS), model_path
                )
            )
        inputs = {key: layer.path for key, layer in layers.items() if layer and layer.path}
        for key, path in paths.items():
            try:
                service.refuse_input_as_output(
                    path, inputs, name=lambda p, key=key: self._label(key if p == "output" else p)
                )
                service.check_output_suffix(path, formats[key])
                atomic.check_target(path, overwrite=True)
            except errors.RadiomapError as exc:
                raise QgsProcessingException(f"{self._label(key)}: {exc}") from exc
        return model_path, towers_path

    @staticmethod
    def _publish(fitted: Path, towers: Path, model_path: str, towers_path: str, layers) -> str:
        """The fitted model (its sources named by their layers) and the towers to their paths;
        neither when one fails. Returns the model file's digest.
        """
        modelfile = importlib.import_module("radiomap_geo.measurements.modelfile")
        staged = importlib.import_module("radiomap_geo.staged")
        model, _ = modelfile.load_fitted_model(fitted)
        model.metadata["measurements"] = layers["MEASUREMENTS"].describe()
        if layers["BUILDINGS"] is not None:
            model.metadata["buildings"] = layers["BUILDINGS"].describe()
        digest = modelfile.save_fitted_model(model, model_path, overwrite=True)
        try:
            with staged.staged_file(towers_path, overwrite=True) as staging:
                shutil.copyfile(towers, staging)
        except BaseException:
            Path(model_path).unlink(missing_ok=True)
            raise
        return digest


def _rename(text: str, names: dict[str, str]) -> str:
    """``text`` with the temporary files in ``names`` replaced by what they stand for."""
    for path, name in names.items():
        text = text.replace(path, name)
    return text
