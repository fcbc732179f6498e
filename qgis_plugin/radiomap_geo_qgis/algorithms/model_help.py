"""The model list explained in the dialog's help: networks vs baselines, inputs, the default.

Built from the library's registry (``list_models``/``describe_models``, the baselines'
definitions), so a new shipped network appears with its own description. Which extra rasters a
network reads is taken from its description ("nDSM", "orthophoto"); the plugin tests check that
against the input channels recorded in each weights file.
"""

from __future__ import annotations

import html
import importlib

from .convert import tr

BLENDED_HELP = (
    "<i>Blended with fallback</i>: a network predicts only within its trained reach of each "
    "site (its window); beyond it the map is the fallback baseline ({fallback}), shifted by a "
    "per-site offset calibrated on the ring where both overlap and cross-faded there, so there "
    "is no seam. Type NAME+BASELINE (e.g. unet-small+3gpp-umi) in a script or qgis_process to "
    "pick another fallback, NAME+none for the network alone (no value beyond its reach)."
)


def network_inputs(description: str) -> str:
    """Which rasters a network reads, from its description."""
    text = description.lower()
    if "ortho" in text:
        return tr("reads the orthophoto and the nDSM")
    if "ndsm" in text:
        return tr("reads the nDSM (heights of buildings and trees)")
    return tr("reads the building footprints and heights")


def model_help(names: list[str]) -> str:
    """An HTML section describing every model in ``names`` (the first is the default)."""
    try:
        registry = importlib.import_module("radiomap_geo.models.registry")
        baselines = importlib.import_module("radiomap_geo.models.baselines").BASELINES
        descriptions = registry.describe_models()
    except (ImportError, OSError, ValueError):
        return tr("<p><b>Propagation model</b>: default {}.</p>").format(names[0] if names else "")
    default = names[0]
    networks, physics = [], []
    for name in names:
        mark = tr(" <b>(default)</b>") if name == default else ""
        if name in baselines:
            model = baselines[name]
            blockage = (
                tr("LOS/NLOS from the buildings")
                if model.nlos_loss is not None
                else tr("ignores buildings between site and cell")
            )
            physics.append(
                f"<li><b>{name}</b>{mark}: {html.escape(model.description)} ({blockage})</li>"
            )
        else:
            text = descriptions.get(name, "").split(" (beyond its window")[0]
            text = text.replace(" (default)", "")  # said once, by the mark
            networks.append(
                f"<li><b>{name}</b>{mark}: {html.escape(text)}; {network_inputs(text)}</li>"
            )
    parts = [tr("<p><b>Propagation model</b> (default: {}).</p>").format(default)]
    if networks:
        parts.append(
            tr("<p>Trained networks, blended with fallback (need PyTorch):</p><ul>{}</ul>").format(
                "".join(networks)
            )
        )
    parts.append(
        tr("<p>Physics baselines (closed-form, no weights, fast):</p><ul>{}</ul>").format(
            "".join(physics)
        )
    )
    if networks:
        parts.append("<p>" + tr(BLENDED_HELP).format(fallback=registry.DEFAULT_MODEL) + "</p>")
    return "".join(parts)
