"""Processing parameters generated from the core's options object, and errors named the QGIS way.

Labels, defaults and limits come from :class:`radiomap_geo.options.RunOptions` (each field's
``OptionInfo``), so QGIS and the command line cannot drift apart. A core error carries the name
of the parameter it is about (``error.parameter``); :func:`describe_error` puts the Processing
parameter's label and name in front of the message instead of rewriting its text.
"""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
)

from .convert import tr

#: Core parameter names that are not RunOptions fields, as Processing parameters.
INPUT_PARAMETERS = {
    "bbox": "EXTENT",
    "bbox_crs": "EXTENT",
    "crs": "CRS",
    "resolution": "RESOLUTION",
    "allow_large": "ALLOW_LARGE",
    "sites": "SITES",
    "buildings": "BUILDINGS",
    "height_column": "HEIGHT_FIELD",
    "model": "MODEL",
    "samples": "SAMPLES",
    "max_depth": "MAX_DEPTH",
    "output": "OUTPUT_RSRP",
}
#: The choice meaning "the technology's usual subcarrier spacing".
USUAL_SPACING = "usual"


def _options_module():
    import importlib

    return importlib.import_module("radiomap_geo.options")


def parameter_name(core_name: str | None) -> str | None:
    """The Processing parameter of a core parameter name, or None."""
    if core_name is None:
        return None
    options = _options_module()
    if core_name in options.field_names():
        return options.option_info(core_name).qgis
    return INPUT_PARAMETERS.get(core_name)


def describe_error(algorithm, error) -> str:
    """``'<label>' (<NAME>): <message>`` for an error about a parameter of ``algorithm``."""
    name = parameter_name(getattr(error, "parameter", None))
    definition = algorithm.parameterDefinition(name) if name else None
    if definition is None:
        return str(error)
    return f"'{definition.description()}' ({name}): {error}"


def setting_parameter(core_name: str, advanced: bool = False) -> QgsProcessingParameterDefinition:
    """The Processing parameter of a RunOptions field (label, default and limits from the core)."""
    options = _options_module()
    info = options.option_info(core_name)
    default = options.default_of(core_name)
    label = tr(info.label)
    if isinstance(default, bool):
        parameter = QgsProcessingParameterBoolean(info.qgis, label, defaultValue=default)
    elif info.choices is not None:
        choices = [str(c) for c in info.choices]
        if default is None:
            choices = [USUAL_SPACING, *choices]
        parameter = QgsProcessingParameterEnum(
            info.qgis,
            label,
            options=choices,
            defaultValue=str(default) if default is not None else USUAL_SPACING,
            usesStaticStrings=True,
        )
    else:
        kind = (
            QgsProcessingParameterNumber.Integer
            if isinstance(default, int)
            else QgsProcessingParameterNumber.Double
        )
        parameter = QgsProcessingParameterNumber(info.qgis, label, kind, defaultValue=default)
        if info.minimum is not None:
            parameter.setMinimum(info.minimum)
        if info.maximum is not None:
            parameter.setMaximum(info.maximum)
    parameter.setHelp(tr(info.help))
    if advanced:
        parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter


def options_from_parameters(algorithm, parameters, context, **settings):
    """The core's RunOptions from the Processing parameters that map onto its fields."""
    options = _options_module()
    values = {}
    for name in options.field_names():
        key = options.option_info(name).qgis
        definition = algorithm.parameterDefinition(key) if key else None
        if definition is None:
            continue
        if isinstance(definition, QgsProcessingParameterBoolean):
            values[name] = algorithm.parameterAsBoolean(parameters, key, context)
        elif isinstance(definition, QgsProcessingParameterEnum):
            text = algorithm.parameterAsEnumString(parameters, key, context)
            if text != USUAL_SPACING:
                values[name] = int(text) if text.isdigit() else text
        elif definition.dataType() == QgsProcessingParameterNumber.Integer:
            values[name] = algorithm.parameterAsInt(parameters, key, context)
        else:
            values[name] = algorithm.parameterAsDouble(parameters, key, context)
    return options.RunOptions(**{**values, **settings})
