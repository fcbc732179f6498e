"""``radiomapgeo:inferbuildings``: building footprints inferred from measured values alone.

A thin adapter over ``radiomap_geo.radiocycle`` (paper 001's RadioCycle), the core of
``radiomap-geo infer-buildings``: the measurement layer becomes the core's ``Measurements``,
the sites its ``Sites`` on the requested grid, ``infer_buildings`` computes the building
probability, and the core's writers give the raster (probability, thresholded mask and path
gain bands) and the simplified footprints, which go to a Processing feature sink.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from qgis.core import (
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterRasterDestination,
    QgsVectorFileWriter,
    QgsWkbTypes,
)

from .. import styles
from . import measured
from .common import AreaAlgorithm
from .convert import (
    FeedbackMonitor,
    frame_fields,
    polygon_features,
    qgis_crs,
    source_to_frame,
    tr,
)
from .messages import describe_grid
from .parameters import enum_param, number_param
from .settings import options_from_parameters, setting_parameter

#: What the values may be: RadioCycle turns them into path gain (no field strengths).
VALUE_KINDS = ["rsrp", "rx-power", "path-gain"]
VALUE_UNITS = ["dbm", "db"]
#: The carrier settings that set the RSRP offset (as ``radiomap-geo infer-buildings``).
SETTINGS = ("bandwidth_mhz", "technology", "subcarrier_spacing_khz")
#: Offered when radiomap-geo cannot be imported while QGIS builds the toolbox.
FALLBACK_MODEL = "radiocycle"


def building_models() -> list[str]:
    """The shipped RadioCycle models that hold a building generator, the default first.

    The toolbox must load even when radiomap-geo (or its weights index) cannot be read: the
    usual default is offered then, and the run says what is wrong.
    """
    try:
        weights = importlib.import_module("radiomap_geo.radiocycle.weights")
        index = weights.available()
    except (ImportError, OSError, ValueError):
        return [FALLBACK_MODEL]
    names = [n for n, e in index.items() if "f" in e.get("metadata", {}).get("inputs", {})]
    return [weights.DEFAULT_MODEL, *sorted(n for n in names if n != weights.DEFAULT_MODEL)]


def trained_cell_size() -> float | None:
    """The cell size (m) the default RadioCycle model was trained at; None when unreadable."""
    try:
        weights = importlib.import_module("radiomap_geo.radiocycle.weights")
        entry = weights.available()[weights.DEFAULT_MODEL]
    except (ImportError, OSError, ValueError, KeyError):
        return None
    native = entry.get("metadata", {}).get("resolution_m")
    return None if native is None else float(native)


class InferBuildingsAlgorithm(AreaAlgorithm):
    """Calls ``radiomap_geo.radiocycle.infer.infer_buildings`` and its output writers."""

    NAME = "inferbuildings"
    DISPLAY_NAME = "Infer buildings from measurements"
    GROUP = "Measurements"
    TAGS = ("buildings", "footprints", "measurements", "rsrp", "drive test", "radiocycle")
    HELP = (
        "Infers where the buildings are from measured values alone (drive-test RSRP, received "
        "power or path gain) with RadioCycle (paper 001): the values are averaged onto the "
        "grid, turned into path gain with the serving site's power_dbm (and, for RSRP, the "
        "carrier's resource-element offset), and a network trained on ray-traced maps gives "
        "each cell a building probability. Outputs: a GeoTIFF with the probability (band 1), "
        "the mask where it reaches the threshold (band 2) and the inferred radio map as path "
        "gain in dB (band 3), and the footprints of the mask as simplified polygons with "
        "their mean probability and area (the model estimates no heights). With several "
        "sites the measurements need a site_id field. The model was trained at 2 m cells: "
        "far coarser or finer cells blur or miss buildings."
    )
    ERROR_PARAMETERS = {**measured.ERROR_PARAMETERS, "threshold": "THRESHOLD"}

    @property
    def DEFAULT_RESOLUTION(self) -> float:  # noqa: N802
        """The cell size the default RadioCycle model was trained at."""
        return trained_cell_size() or super().DEFAULT_RESOLUTION

    MODEL = "MODEL"
    THRESHOLD = "THRESHOLD"
    OUTPUT_PROBABILITY = "OUTPUT_PROBABILITY"
    OUTPUT_FOOTPRINTS = "OUTPUT_FOOTPRINTS"

    def initAlgorithm(self, config=None) -> None:  # noqa: D102
        parameters = [
            *measured.measurement_parameters(VALUE_KINDS, VALUE_UNITS),
            self.sites_parameter(),
            *self.area_parameters(),
            enum_param(self.MODEL, "RadioCycle model", building_models()),
            number_param(
                self.THRESHOLD,
                "Building probability of the mask band and the footprints",
                0.5,
                0.01,
                0.99,
            ),
            *(setting_parameter(name) for name in SETTINGS),
            self.allow_large_parameter(),
            QgsProcessingParameterRasterDestination(
                self.OUTPUT_PROBABILITY, tr("Building probability (with mask and path gain)")
            ),
            QgsProcessingParameterFeatureSink(
                self.OUTPUT_FOOTPRINTS,
                tr("Inferred building footprints"),
                QgsProcessing.TypeVectorPolygon,
                optional=True,
            ),
        ]
        for parameter in parameters:
            self.addParameter(parameter)

    def process(self, api, parameters, context, feedback):
        """Measurements and sites on the grid, the inference, the raster and the footprints."""
        writers = importlib.import_module("radiomap_geo.radiocycle.outputs")
        steps = QgsProcessingMultiStepFeedback(3, feedback)
        raster_path = self.geotiff_output(parameters, self.OUTPUT_PROBABILITY, context)
        self._check_footprints_output(parameters, context, raster_path)
        grid = self.grid_from_parameters(api, parameters, context, feedback)
        feedback.pushInfo(describe_grid(grid))
        measurements, sites = self._inputs(grid, parameters, context)
        if feedback.isCanceled():
            raise importlib.import_module("radiomap_geo.errors").Cancelled("cancelled")
        steps.setCurrentStep(1)
        monitor = FeedbackMonitor(steps)
        result = importlib.import_module("radiomap_geo.radiocycle.infer").infer_buildings(
            measurements,
            sites,
            grid,
            model=self.parameterAsEnumString(parameters, self.MODEL, context),
            threshold=self.parameterAsDouble(parameters, self.THRESHOLD, context),
            options=options_from_parameters(self, parameters, context),
            progress=monitor.progress,
            is_cancelled=monitor.is_cancelled,
        )
        steps.setCurrentStep(2)
        footprints = writers.building_polygons(result.mask, result.probability, grid)
        feedback.pushInfo(
            tr("{} measured cells; {} of {} cells reach the threshold; {} footprints").format(
                result.measured_cells, int(result.mask.sum()), result.mask.size, len(footprints)
            )
        )
        writers.write_building_raster(result, raster_path, overwrite=True)
        steps.setProgress(50.0)
        try:
            sink_id = self._write_footprints(footprints, grid, parameters, context)
        except Exception:
            Path(raster_path).unlink(missing_ok=True)  # no half of the outputs left behind
            raise
        steps.setProgress(100.0)
        outputs = {self.OUTPUT_PROBABILITY: raster_path}
        if sink_id is not None:
            outputs[self.OUTPUT_FOOTPRINTS] = sink_id
        columns = list(footprints.columns.drop(footprints.geometry.name))
        self._style_outputs(outputs, result, columns, context)
        return outputs

    def _inputs(self, grid, parameters, context):
        """The core's ``Measurements`` and ``Sites`` (in the grid's CRS) of the two layers."""
        points = importlib.import_module("radiomap_geo.measurements.points")
        setup = importlib.import_module("radiomap_geo.inputs")
        found = measured.measurement_arguments(self, parameters, context)
        measurements = points.measurements_from_frame(
            found["measurements"],
            found["value_column"],
            found["value_kind"],
            found["value_unit"],
            source=measured.layer_name(self, parameters, context),
        )
        source = self.sites_source(parameters, context)
        sites = setup.load_sites(
            source_to_frame(source, source.sourceCrs(), single_points=True),
            grid,
            source=tr("the sites layer '{}'").format(source.sourceName()),
        )
        return measurements, sites

    def _check_footprints_output(self, parameters, context, raster_path: str) -> None:
        """Refuse, before any work, a footprints file that is no vector format (QGIS would
        quietly write ``<name>.gpkg`` beside it) or that is the probability raster itself.
        """
        if parameters.get(self.OUTPUT_FOOTPRINTS) is None:
            return
        path = self.parameterAsOutputLayer(parameters, self.OUTPUT_FOOTPRINTS, context)
        if not path or re.match(r"[a-z]{2,}:", path, re.IGNORECASE):  # memory:, ogr:, postgres:
            return
        label = tr("'{}' ({})").format(
            self.parameterDefinition(self.OUTPUT_FOOTPRINTS).description(), self.OUTPUT_FOOTPRINTS
        )
        atomic = importlib.import_module("radiomap_geo.io.atomic")
        if atomic.same_file(path, raster_path):
            raise QgsProcessingException(
                tr(
                    "{}: '{}' is also the probability raster ({}): choose another file, e.g. {}."
                ).format(label, path, self.OUTPUT_PROBABILITY, Path(path).with_suffix(".gpkg").name)
            )
        extensions = QgsVectorFileWriter.supportedFormatExtensions()
        if Path(path).suffix.lower().lstrip(".") not in extensions:
            raise QgsProcessingException(
                tr("{}: '{}' is not a vector format; choose e.g. {} (formats: {}).").format(
                    label, path, Path(path).with_suffix(".gpkg").name, ", ".join(extensions)
                )
            )

    def _write_footprints(self, footprints, grid, parameters, context) -> str | None:
        """The footprints into the sink, in the grid's CRS; None when the output is skipped."""
        if parameters.get(self.OUTPUT_FOOTPRINTS) is None:
            return None
        fields = frame_fields(footprints)
        sink, sink_id = self.parameterAsSink(
            parameters,
            self.OUTPUT_FOOTPRINTS,
            context,
            fields,
            QgsWkbTypes.MultiPolygon,
            qgis_crs(grid.crs),
        )
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT_FOOTPRINTS))
        for feature in polygon_features(footprints, fields):
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        return sink_id

    def _style_outputs(self, outputs: dict[str, str], result, columns, context) -> None:
        """Probability ramp below, footprint outlines above, both visible, once QGIS loads them."""
        threshold = result.metadata["threshold"]
        abstracts = {
            self.OUTPUT_PROBABILITY: tr(
                "Band 1: probability (0 to 1) that a cell is a building, inferred by the "
                "RadioCycle model '{}' from {} measured cells; band 2: 1 where it reaches {:g}; "
                "band 3: the inferred radio map, path gain in dB."
            ).format(result.metadata["model"], result.measured_cells, threshold),
            self.OUTPUT_FOOTPRINTS: tr(
                "Footprints where the building probability reaches {:g}, simplified, with their "
                "attributes {}."
            ).format(threshold, ", ".join(columns)),
        }
        if not any("height" in column for column in columns):
            abstracts[self.OUTPUT_FOOTPRINTS] += tr(" The model estimates no heights.")
        style = {
            self.OUTPUT_PROBABILITY: styles.style_building_probability,
            self.OUTPUT_FOOTPRINTS: styles.style_footprints,
        }
        run_layers = styles.RunLayers(only_top_visible=False)
        for rank, key in enumerate((self.OUTPUT_FOOTPRINTS, self.OUTPUT_PROBABILITY)):
            if key in outputs and context.willLoadLayerOnCompletion(outputs[key]):
                details = context.layerToLoadOnCompletionDetails(outputs[key])
                details.setPostProcessor(
                    styles.StylePostProcessor(style[key], abstracts[key], rank, run_layers)
                )
