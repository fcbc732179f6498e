"""``radiomapgeo:predictfrommeasurements``: coverage and exposure corrected by measurements.

A thin adapter over ``radiomap_geo.sparse.predict.predict_with_measurements``: the point layer
(any CRS) and the field holding the values go to the same core function as
``radiomap-geo predict-measurements``; outputs are the usual coverage rasters plus the total
electric field (V/m) and the calibrated 1-sigma uncertainty (dB).
"""

from __future__ import annotations

import importlib

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterString,
)

from .. import styles
from .base import CoverageAlgorithm, OutputSpec
from .convert import source_to_frame, tr

VALUE_KINDS = ["rsrp", "rx-power", "path-gain", "e-field"]
VALUE_UNITS = ["default", "dbm", "db", "dbuv/m", "v/m"]
E_FIELD_RANGE_VPM = (0.0, 6.0)
STD_RANGE_DB = (0.0, 12.0)


def style_e_field(layer) -> None:
    """Total RMS field in V/m, 0 (dark purple) to 6 V/m (yellow): the ICNIRP 2-300 GHz public
    reference level at 3.5 GHz is about 61 V/m, typical street values are well below 6.
    """
    layer.setRenderer(styles.pseudocolor_renderer(layer, *E_FIELD_RANGE_VPM, styles.VIRIDIS, "V/m"))


def style_uncertainty(layer) -> None:
    """1-sigma uncertainty in dB, 0 (green) to 12 dB (red)."""
    colors = list(reversed(styles.RED_YELLOW_GREEN))
    layer.setRenderer(styles.pseudocolor_renderer(layer, *STD_RANGE_DB, colors, "dB"))


class PredictFromMeasurementsAlgorithm(CoverageAlgorithm):
    """Calls ``radiomap_geo.sparse.predict.predict_with_measurements``."""

    NAME = "predictfrommeasurements"
    DISPLAY_NAME = "Predict coverage from measurements"
    HELP = (
        "Predicts coverage with the default network and corrects it with measured values "
        "(drive-test RSRP, received power, path gain or exposure-sensor field strength) through "
        "the measurement model (default emgan-geo, trained on ray-traced maps with sparse "
        "measurement sets). Points outside the area are dropped (counted in the log); points in "
        "one cell are averaged. An optional site_id field ties values to a site; without it "
        "and with several sites the values are the total received power / exposure. Adds the "
        "total electric field (V/m, isotropic receiver) and the calibrated 1-sigma uncertainty."
    )

    MEASUREMENTS = "MEASUREMENTS"
    VALUE_FIELD = "VALUE_FIELD"
    VALUE_KIND = "VALUE_KIND"
    VALUE_UNIT = "VALUE_UNIT"
    MEASUREMENT_MODEL = "MEASUREMENT_MODEL"
    OUTPUT_E_FIELD = "OUTPUT_E_FIELD"
    OUTPUT_STD = "OUTPUT_STD"

    def model_parameters(self):  # noqa: D102
        return [
            QgsProcessingParameterFeatureSource(
                self.MEASUREMENTS, tr("Measurements (points)"), [QgsProcessing.TypeVectorPoint]
            ),
            QgsProcessingParameterField(
                self.VALUE_FIELD,
                tr("Field with the measured values"),
                defaultValue="rsrp_dbm",
                parentLayerParameterName=self.MEASUREMENTS,
                type=QgsProcessingParameterField.Numeric,
            ),
            QgsProcessingParameterEnum(
                self.VALUE_KIND,
                tr("What the values are"),
                options=VALUE_KINDS,
                defaultValue=VALUE_KINDS[0],
                usesStaticStrings=True,
            ),
            QgsProcessingParameterEnum(
                self.VALUE_UNIT,
                tr("Unit of the values"),
                options=VALUE_UNITS,
                defaultValue=VALUE_UNITS[0],
                usesStaticStrings=True,
            ),
            QgsProcessingParameterString(
                self.MEASUREMENT_MODEL,
                tr("Measurement model (empty: the default)"),
                defaultValue="",
                optional=True,
            ),
        ]

    def output_specs(self):  # noqa: D102
        return [
            *super().output_specs(),
            OutputSpec(
                self.OUTPUT_E_FIELD,
                tr("Electric field strength, all sites (V/m)"),
                lambda n: ["e_field_vpm"],
                style_e_field,
                optional=True,
            ),
            OutputSpec(
                self.OUTPUT_STD,
                tr("Uncertainty of the corrected map, 1 sigma (dB)"),
                lambda n: ["rsrp_std_db"],
                style_uncertainty,
                optional=True,
            ),
        ]

    def run_model(self, api, inputs, options, parameters, context, monitor):
        """``predict_with_measurements`` with this algorithm's parameters."""
        sparse = importlib.import_module("radiomap_geo.sparse.predict")
        source = self.parameterAsSource(parameters, self.MEASUREMENTS, context)
        frame = source_to_frame(source, source.sourceCrs(), single_points=True)
        unit = self.parameterAsEnumString(parameters, self.VALUE_UNIT, context)
        model = self.parameterAsString(parameters, self.MEASUREMENT_MODEL, context).strip()
        return sparse.predict_with_measurements(
            inputs.grid,
            inputs.sites,
            inputs.buildings,
            frame,
            options,
            value_column=self.parameterAsFields(parameters, self.VALUE_FIELD, context)[0],
            value_kind=self.parameterAsEnumString(parameters, self.VALUE_KIND, context),
            value_unit=None if unit == "default" else unit,
            measurement_model=model or None,
            progress=monitor.progress,
            is_cancelled=monitor.is_cancelled,
        )
