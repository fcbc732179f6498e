"""The measurement parameters of the algorithms that read measured values.

"Predict coverage from measurements" and "Infer buildings from measurements" take the same
point layer, value field, value kind and unit, under the same parameter names, and hand them to
the core as its keyword arguments (``measurements``, ``value_column``, ``value_kind``,
``value_unit``), so both read a layer the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from qgis.core import QgsProcessingException, QgsProcessingParameterDefinition

from .convert import source_to_frame, tr
from .parameters import enum_param, numeric_field_param, source_param

MEASUREMENTS = "MEASUREMENTS"
VALUE_FIELD = "VALUE_FIELD"
VALUE_KIND = "VALUE_KIND"
VALUE_UNIT = "VALUE_UNIT"
#: The unit choice meaning "the value kind's usual unit" (dBm for RSRP, dB for path gain).
DEFAULT_UNIT = "default"
#: Core parameter names of errors about the measurements -> these parameters.
ERROR_PARAMETERS = {
    "measurements": MEASUREMENTS,
    "value_column": VALUE_FIELD,
    "value_kind": VALUE_KIND,
    "value_unit": VALUE_UNIT,
}


def measurement_parameters(
    kinds: Sequence[str], units: Sequence[str]
) -> list[QgsProcessingParameterDefinition]:
    """The point layer, its value field, what the values are (``kinds``) and their unit."""
    return [
        source_param(MEASUREMENTS, "Measurements (points)", "point"),
        numeric_field_param(
            VALUE_FIELD, "Field with the measured values", MEASUREMENTS, default="rsrp_dbm"
        ),
        enum_param(VALUE_KIND, "What the values are", kinds),
        enum_param(VALUE_UNIT, "Unit of the values", [DEFAULT_UNIT, *units]),
    ]


def measurement_arguments(algorithm, parameters, context) -> dict:
    """The measurement parameters as the core's keyword arguments (the layer as a frame)."""
    source = algorithm.parameterAsSource(parameters, MEASUREMENTS, context)
    if source is None:
        raise QgsProcessingException(algorithm.invalidSourceError(parameters, MEASUREMENTS))
    unit = algorithm.parameterAsEnumString(parameters, VALUE_UNIT, context)
    return {
        "measurements": source_to_frame(source, source.sourceCrs(), single_points=True),
        "value_column": algorithm.parameterAsFields(parameters, VALUE_FIELD, context)[0],
        "value_kind": algorithm.parameterAsEnumString(parameters, VALUE_KIND, context),
        "value_unit": None if unit == DEFAULT_UNIT else unit,
    }


def layer_name(algorithm, parameters, context) -> str:
    """How messages name the measurements layer."""
    source = algorithm.parameterAsSource(parameters, MEASUREMENTS, context)
    if source is None:
        return tr("the measurements")
    return tr("the measurements layer '{}'").format(source.sourceName())
