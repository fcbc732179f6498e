"""``radiomapgeo:predictfrommeasurements``: coverage and exposure corrected by measurements.

A thin adapter over ``radiomap_geo.sparse.predict.predict_with_measurements``: the point layer
(any CRS) and the field holding the values go to the same core function as
``radiomap-geo predict-measurements``; outputs are the usual coverage rasters plus the total
electric field (V/m) and the calibrated 1-sigma uncertainty (dB).
"""

from __future__ import annotations

import importlib

from qgis.core import QgsProcessingParameterString

from .. import styles
from . import measured
from .base import CoverageAlgorithm, OutputSpec
from .convert import tr

VALUE_KINDS = ["rsrp", "rx-power", "path-gain", "e-field"]
VALUE_UNITS = ["dbm", "db", "dbuv/m", "v/m"]


class PredictFromMeasurementsAlgorithm(CoverageAlgorithm):
    """Calls ``radiomap_geo.sparse.predict.predict_with_measurements``."""

    NAME = "predictfrommeasurements"
    DISPLAY_NAME = "Predict coverage from measurements"
    HELP = (
        "Predicts coverage with the default network and corrects it with measured values "
        "(drive-test RSRP, received power, path gain or exposure-sensor field strength) through "
        "the measurement model (default geo-residual, trained on ray-traced maps with sparse "
        "measurement sets). Points outside the area are dropped (counted in the log); points in "
        "one cell are averaged. An optional site_id field ties values to a site; without it "
        "and with several sites the values are the total received power / exposure. Adds the "
        "total electric field (V/m, isotropic receiver) and the calibrated 1-sigma uncertainty."
    )
    ERROR_PARAMETERS = {**measured.ERROR_PARAMETERS, "measurement_model": "MEASUREMENT_MODEL"}

    OUTPUT_STD = "OUTPUT_STD"

    @property
    def DEFAULT_RESOLUTION(self) -> float:  # noqa: N802
        """The cell size the default measurement model works on (it accepts no other)."""
        return native_cell_size() or super().DEFAULT_RESOLUTION

    def model_parameters(self):  # noqa: D102
        return [
            *measured.measurement_parameters(VALUE_KINDS, VALUE_UNITS),
            QgsProcessingParameterString(
                "MEASUREMENT_MODEL",
                tr("Measurement model (empty: the default)"),
                defaultValue="",
                optional=True,
            ),
        ]

    def output_specs(self):  # noqa: D102
        return [
            *super().output_specs(),
            OutputSpec(
                self.OUTPUT_STD,
                tr("Uncertainty of the corrected map, 1 sigma (dB)"),
                lambda n: ["rsrp_std_db"],
                styles.style_uncertainty,
                optional=True,
            ),
        ]

    def core_function(self, api):  # noqa: D102
        return importlib.import_module("radiomap_geo.sparse.predict").predict_with_measurements

    def model_arguments(self, parameters, context) -> dict:
        """The measurements and the measurement model (empty: the core's default)."""
        model = self.parameterAsString(parameters, "MEASUREMENT_MODEL", context).strip()
        return {
            **measured.measurement_arguments(self, parameters, context),
            "measurement_model": model or None,
        }


def native_cell_size() -> float | None:
    """The default measurement model's cell size in metres; None when it cannot be read (the
    run then says why) or when the model works on any cell size (a baseline).
    """
    try:
        model = importlib.import_module("radiomap_geo.sparse.model").get_measurement_model()
    except (ImportError, OSError, ValueError):
        return None
    native = model.metadata.get("metres_per_pixel")
    return None if native is None else float(native)
