"""``radiomapgeo:optimizeorientation``: point the antennas for coverage (sites in, sites out).

A thin adapter over ``radiomap_geo.optimize.optimize_sites``: the same sites, buildings, extent
and receiver settings as the coverage algorithms, the optimisation's own parameters, and two
outputs: the sites layer with azimuth_deg / tilt_deg (and power_dbm) replaced, and the JSON
report (objective before and after per method, curves, and with verification the Sionna RT
values).
"""

from __future__ import annotations

import importlib

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QVariant

from .base import CoverageAlgorithm
from .convert import FeedbackMonitor, available_models, source_to_frame, tr
from .parameters import enum_param, number_param, source_param
from .settings import options_from_parameters

METHODS = ["both", "gradient", "random"]
COLUMNS = {"azimuth": "azimuth_deg", "tilt": "tilt_deg", "power": "power_dbm"}


class OptimizeOrientationAlgorithm(CoverageAlgorithm):
    """Calls ``radiomap_geo.optimize.optimize_sites`` (and ``verify_result``)."""

    NAME = "optimizeorientation"
    DISPLAY_NAME = "Optimise antenna orientation"
    GROUP = "Planning"
    HELP = (
        "Optimises the azimuth and tilt (optionally the power) of every sector through the "
        "frozen coverage network (paper 002: gradient descent on a soft objective, compared "
        "with random search with the same number of network evaluations). Objectives: the "
        "5th-percentile RSRP, or the number of cells whose SINR / RSRP reaches a threshold, over "
        "the whole area or the polygons of a target-area layer. Azimuths move at most the "
        "azimuth span either way; tilts stay below the horizon and clear the antenna's own roof. "
        "Sector antennas only (tr38901 or a pattern file). The area should be at most about "
        "1 km across at the network's 2 m cells. With verification, Sionna RT judges the "
        "configurations (slow: seconds per sector)."
    )

    MODEL = "MODEL"
    OBJECTIVE = "OBJECTIVE"
    PERCENTILE = "PERCENTILE"
    THRESHOLD_DBM = "THRESHOLD_DBM"
    THRESHOLD_DB = "THRESHOLD_DB"
    METHOD = "METHOD"
    BUDGET = "BUDGET"
    PARAMS = "PARAMS"
    FIXED = "FIXED"
    AZIMUTH_SPAN = "AZIMUTH_SPAN"
    TILT_MAX = "TILT_MAX"
    TARGET_AREA = "TARGET_AREA"
    VERIFY = "VERIFY"
    SEED = "SEED"
    OUTPUT = "OUTPUT"
    REPORT = "REPORT"
    #: Core parameter names of errors -> this algorithm's parameters.
    ERROR_PARAMETERS = {
        "objective": OBJECTIVE,
        "percentile": PERCENTILE,
        "method": METHOD,
        "budget": BUDGET,
        "params": PARAMS,
        "fixed": FIXED,
        "azimuth_span_deg": AZIMUTH_SPAN,
        "tilt_max_deg": TILT_MAX,
        "target_area": TARGET_AREA,
        "model": MODEL,
    }

    @property
    def DEFAULT_RESOLUTION(self) -> float:  # noqa: N802
        """The cell size the surrogate networks run at: the CLI's default too."""
        return importlib.import_module("radiomap_geo.optimize.options").RESOLUTION_M

    def output_specs(self):  # noqa: D102
        return []  # no rasters: a sites layer and a report, added in initAlgorithm

    def model_parameters(self):  # noqa: D102
        options = importlib.import_module("radiomap_geo.optimize.options")
        defaults = options.OptimizeOptions()
        limits = defaults.limits
        return [
            enum_param(self.MODEL, "Network (must read the antenna gain)", _usable_models()),
            enum_param(self.OBJECTIVE, "Objective", options.OBJECTIVES, defaults.objective),
            number_param(
                self.PERCENTILE,
                "Percentile (percentile objective)",
                defaults.percentile,
                0.1,
                99.9,
            ),
            number_param(
                self.THRESHOLD_DBM, "RSRP threshold, dBm (rsrp-coverage)", defaults.threshold_dbm
            ),
            number_param(
                self.THRESHOLD_DB, "SINR threshold, dB (sinr-coverage)", defaults.threshold_db
            ),
            enum_param(self.METHOD, "Method", METHODS, defaults.method),
            number_param(self.BUDGET, "Network evaluations per method", defaults.budget, 0),
            QgsProcessingParameterString(
                self.PARAMS,
                tr("Parameters to optimise (azimuth,tilt[,power])"),
                defaultValue=",".join(defaults.params),
            ),
            QgsProcessingParameterString(
                self.FIXED, tr("Site ids to keep fixed (comma-separated)"), optional=True
            ),
            number_param(
                self.AZIMUTH_SPAN,
                "Azimuth may move +- (degrees)",
                limits.azimuth_span_deg,
                0.0,
                180.0,
            ),
            number_param(
                self.TILT_MAX, "Largest down-tilt (degrees)", limits.tilt_max_deg, -90.0, 90.0
            ),
            source_param(
                self.TARGET_AREA,
                "Target area (polygons; empty: the whole extent)",
                "polygon",
                optional=True,
            ),
            QgsProcessingParameterBoolean(
                self.VERIFY, tr("Verify with Sionna RT (slow)"), defaultValue=False
            ),
            number_param(self.SEED, "Random seed", defaults.seed, 0),
        ]

    def initAlgorithm(self, config=None):  # noqa: D102
        super().initAlgorithm(config)
        self.addParameter(
            QgsProcessingParameterFeatureSink(
                self.OUTPUT, tr("Optimised sites"), QgsProcessing.TypeVectorPoint
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.REPORT,
                tr("Report (JSON)"),
                fileFilter="JSON (*.json)",
                optional=True,
                createByDefault=False,
            )
        )

    def process(self, api, parameters, context, feedback):
        """Options, grid, inputs, the optimisation, the sites layer and the report."""
        steps = QgsProcessingMultiStepFeedback(3, feedback)
        run = options_from_parameters(self, parameters, context)
        options = self._options(run, parameters, context)
        options.validate()
        optimize = importlib.import_module("radiomap_geo.optimize")
        # a model that needs rasters fails before the buildings are read or downloaded
        model = optimize.resolve_model(
            self.parameterAsEnumString(parameters, self.MODEL, context) or None
        )
        grid = self.grid_from_parameters(api, parameters, context, feedback)
        inputs = self.inputs_from_parameters(grid, run, parameters, context, feedback)
        steps.setCurrentStep(1)
        monitor = FeedbackMonitor(steps)
        result = self._optimise(inputs, model, options, parameters, context, monitor)
        steps.setCurrentStep(2)
        return self._write(result, options, parameters, context)

    def _options(self, run, parameters, context):
        module = importlib.import_module("radiomap_geo.optimize.options")
        limits = importlib.import_module("radiomap_geo.optimize.domain").Limits
        text = lambda key: self.parameterAsString(parameters, key, context) or ""  # noqa: E731
        names = lambda key: tuple(v.strip() for v in text(key).split(",") if v.strip())  # noqa: E731
        return module.OptimizeOptions(
            objective=self.parameterAsEnumString(parameters, self.OBJECTIVE, context),
            percentile=self.parameterAsDouble(parameters, self.PERCENTILE, context),
            threshold_dbm=self.parameterAsDouble(parameters, self.THRESHOLD_DBM, context),
            threshold_db=self.parameterAsDouble(parameters, self.THRESHOLD_DB, context),
            method=self.parameterAsEnumString(parameters, self.METHOD, context),
            budget=self.parameterAsInt(parameters, self.BUDGET, context),
            params=names(self.PARAMS),
            fixed=names(self.FIXED),
            seed=self.parameterAsInt(parameters, self.SEED, context),
            limits=limits(
                azimuth_span_deg=self.parameterAsDouble(parameters, self.AZIMUTH_SPAN, context),
                tilt_max_deg=self.parameterAsDouble(parameters, self.TILT_MAX, context),
            ),
            run=run,
        )

    def _optimise(self, inputs, model, options, parameters, context, monitor):
        optimize = importlib.import_module("radiomap_geo.optimize")
        target = self.parameterAsSource(parameters, self.TARGET_AREA, context)
        area = None if target is None else source_to_frame(target, target.sourceCrs())
        result = optimize.optimize_sites(
            inputs.grid,
            inputs.sites,
            inputs.buildings,
            model=model,
            options=options,
            target_area=area,
            progress=monitor.progress,
            is_cancelled=monitor.is_cancelled,
        )
        if self.parameterAsBoolean(parameters, self.VERIFY, context):
            optimize.verify_result(result, inputs.buildings)
        return result

    def _write(self, result, options, parameters, context) -> dict:
        chosen = result.best_method
        if result.verification is not None:
            verified = result.verification["verified"]
            chosen = max(result.optimised, key=lambda m: verified[m])
        best = result.optimised[chosen]
        source = self.sites_source(parameters, context)
        fields = QgsFields(source.fields())
        for name in options.params:
            if fields.indexOf(COLUMNS[name]) < 0:
                fields.append(QgsField(COLUMNS[name], QVariant.Double))
        sink, sink_id = self.parameterAsSink(
            parameters, self.OUTPUT, context, fields, source.wkbType(), source.sourceCrs()
        )
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for feature, site in zip(source.getFeatures(), best):
            out = QgsFeature(fields)
            out.setGeometry(feature.geometry())
            for name in source.fields().names():
                out[name] = feature[name]
            for name in options.params:
                out[COLUMNS[name]] = float(getattr(site, COLUMNS[name]))
            sink.addFeature(out, QgsFeatureSink.FastInsert)
        outputs = {self.OUTPUT: sink_id}
        report_path = self.parameterAsFileOutput(parameters, self.REPORT, context)
        if report_path:
            writer = importlib.import_module("radiomap_geo.optimize.outputs")
            report = {**result.report(), "written": chosen}
            outputs[self.REPORT] = str(writer.write_report(report_path, report, overwrite=True))
        return outputs


def _usable_models() -> list[str]:
    """The installed models the optimisation can run (default first): not those that read an
    nDSM or an orthophoto, which this algorithm does not take; every model when the library
    cannot say (the run then explains).
    """
    names = available_models().names
    try:
        surrogate = importlib.import_module("radiomap_geo.optimize.surrogate")
        networks, others = surrogate.usable_models()
    except ImportError:
        return names
    usable = set(networks) | set(others)
    return [name for name in names if name in usable] or names
