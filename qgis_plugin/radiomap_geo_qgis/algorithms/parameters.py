"""Builders and readers of Processing parameters, one call per parameter.

Every algorithm declares its parameters with these builders (QGIS's constructors take the
number type, limits, static strings and flags as separate keywords, easy to get subtly
different from one algorithm to the next) and reads them back with :func:`parameter_value`,
which picks the ``parameterAs...`` call from the definition's type, so a parameter's type is
stated once, where it is declared.
"""

from __future__ import annotations

from collections.abc import Sequence

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .convert import tr

#: Geometry words of :func:`source_param`, as Processing layer types.
LAYER_TYPES = {"point": QgsProcessing.TypeVectorPoint, "polygon": QgsProcessing.TypeVectorPolygon}


def advanced(parameter: QgsProcessingParameterDefinition) -> QgsProcessingParameterDefinition:
    """``parameter`` shown under "Advanced parameters" in the dialog."""
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter


def number_param(
    name: str,
    label: str,
    default: float,
    minimum: float | None = None,
    maximum: float | None = None,
    optional: bool = False,
) -> QgsProcessingParameterNumber:
    """A number parameter: integer when ``default`` is an ``int``, else a double.

    Unset limits stay QGIS's own (the whole range of a double).
    """
    kind = (
        QgsProcessingParameterNumber.Integer
        if isinstance(default, int)
        else QgsProcessingParameterNumber.Double
    )
    parameter = QgsProcessingParameterNumber(
        name, tr(label), kind, defaultValue=default, optional=optional
    )
    if minimum is not None:
        parameter.setMinimum(minimum)
    if maximum is not None:
        parameter.setMaximum(maximum)
    return parameter


def enum_param(
    name: str, label: str, options: Sequence[str], default: str | None = None
) -> QgsProcessingParameterEnum:
    """A choice among ``options`` (default: the first), passed and saved as the option text.

    Static strings: scripts and ``qgis_process`` pass ``MODEL=3gpp-umi``, and saved models keep
    working when the list of choices changes.
    """
    return QgsProcessingParameterEnum(
        name,
        tr(label),
        options=list(options),
        defaultValue=options[0] if default is None else default,
        usesStaticStrings=True,
    )


def source_param(
    name: str, label: str, geometry: str, optional: bool = False
) -> QgsProcessingParameterFeatureSource:
    """A vector layer of ``geometry`` ("point" or "polygon") features."""
    return QgsProcessingParameterFeatureSource(
        name, tr(label), [LAYER_TYPES[geometry]], optional=optional
    )


def numeric_field_param(
    name: str, label: str, layer: str, default: str | None = None, optional: bool = False
) -> QgsProcessingParameterField:
    """A numeric field of the layer parameter ``layer``."""
    return QgsProcessingParameterField(
        name,
        tr(label),
        defaultValue=default,
        parentLayerParameterName=layer,
        type=QgsProcessingParameterField.Numeric,
        optional=optional,
    )


def parameter_value(algorithm, parameters, name: str, context):
    """The value of parameter ``name`` as the core takes it.

    Numbers by their type, choices as their text, booleans, strings, fields as a list of names,
    raster layers as their file path (``algorithm.raster_path``).
    """
    definition = algorithm.parameterDefinition(name)
    if isinstance(definition, QgsProcessingParameterBoolean):
        return algorithm.parameterAsBoolean(parameters, name, context)
    if isinstance(definition, QgsProcessingParameterEnum):
        return algorithm.parameterAsEnumString(parameters, name, context)
    if isinstance(definition, QgsProcessingParameterNumber):
        if definition.dataType() == QgsProcessingParameterNumber.Integer:
            return algorithm.parameterAsInt(parameters, name, context)
        return algorithm.parameterAsDouble(parameters, name, context)
    if isinstance(definition, QgsProcessingParameterString):
        return algorithm.parameterAsString(parameters, name, context)
    if isinstance(definition, QgsProcessingParameterField):
        return algorithm.parameterAsFields(parameters, name, context)
    if isinstance(definition, QgsProcessingParameterRasterLayer):
        return algorithm.raster_path(parameters, name, context)
    raise TypeError(f"{name}: no reader for {type(definition).__name__}")  # a plugin bug
