"""Processing parameters generated from the core's options object, and errors named the QGIS way.

Labels, defaults and limits come from :class:`radiomap_geo.options.RunOptions` (each field's
``OptionInfo``), so QGIS and the command line cannot drift apart. A core error carries the name
of the parameter it is about (``error.parameter``); :func:`describe_error` puts the Processing
parameter's label and name in front of the message instead of rewriting its text.
"""

from __future__ import annotations

from qgis.core import QgsProcessingParameterBoolean, QgsProcessingParameterDefinition

from .convert import tr
from .parameters import advanced as as_advanced
from .parameters import enum_param, number_param, parameter_value

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
    """``'<label>' (<NAME>): <message>`` for an error about a parameter of ``algorithm``.

    The algorithm's own ``ERROR_PARAMETERS`` (core name to Processing name) come first.
    """
    core_name = getattr(error, "parameter", None)
    name = getattr(algorithm, "ERROR_PARAMETERS", {}).get(core_name) or parameter_name(core_name)
    definition = algorithm.parameterDefinition(name) if name else None
    if definition is None:
        return str(error)
    return f"'{definition.description()}' ({name}): {error}"


def setting_parameter(core_name: str, advanced: bool = False) -> QgsProcessingParameterDefinition:
    """The Processing parameter of a RunOptions field (label, default and limits from the core)."""
    options = _options_module()
    info = options.option_info(core_name)
    default = options.default_of(core_name)
    if isinstance(default, bool):
        parameter = QgsProcessingParameterBoolean(info.qgis, tr(info.label), defaultValue=default)
    elif info.choices is not None:
        choices = [str(c) for c in info.choices]
        if default is None:
            choices = [USUAL_SPACING, *choices]
        parameter = enum_param(
            info.qgis, info.label, choices, USUAL_SPACING if default is None else str(default)
        )
    else:
        parameter = number_param(info.qgis, info.label, default, info.minimum, info.maximum)
    parameter.setHelp(tr(info.help))
    return as_advanced(parameter) if advanced else parameter


def options_from_parameters(algorithm, parameters, context, **settings):
    """The core's RunOptions from the Processing parameters that map onto its fields."""
    options = _options_module()
    values = {}
    for name in options.field_names():
        key = options.option_info(name).qgis
        if not key or algorithm.parameterDefinition(key) is None:
            continue
        value = parameter_value(algorithm, parameters, key, context)
        if value != USUAL_SPACING:
            values[name] = int(value) if isinstance(value, str) and value.isdigit() else value
    return options.RunOptions(**{**values, **settings})
