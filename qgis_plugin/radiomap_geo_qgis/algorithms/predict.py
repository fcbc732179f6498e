"""``radiomapgeo:predictcoverage``: coverage from a propagation model or a trained network."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterRasterLayer

from .base import COMMON_TAGS, CoverageAlgorithm
from .convert import available_models, tr
from .model_help import model_help
from .parameters import enum_param

#: The optional rasters, keyword of ``predict_coverage`` in lower case.
RASTERS = {
    "NDSM": "nDSM: heights above ground in metres",
    "DSM": "DSM: surface heights, with a DTM instead of an nDSM",
    "DTM": "DTM: ground heights, with the DSM",
    "ORTHO": "Orthophoto (used by trained networks)",
}


class PredictCoverageAlgorithm(CoverageAlgorithm):
    """Calls ``radiomap_geo.api.predict_coverage``."""

    NAME = "predictcoverage"
    DISPLAY_NAME = "Predict coverage"
    HELP = (
        "Predicts RSRP (received power per resource element), total received power, best "
        "server and SINR for a set of transmitter sites "
        "with an empirical propagation model (free space, log-distance, COST-231 Hata, 3GPP "
        "UMi/UMa, with building blockage) or a trained network, which can also use an nDSM "
        "(heights of buildings and vegetation above ground) and an orthophoto."
    )
    TAGS = (*COMMON_TAGS, "neural network", "3gpp", "hata", "free space", "ndsm", "orthophoto")
    MORE_ADVANCED_SETTINGS = ("tta", "precision")

    def shortHelpString(self) -> str:  # noqa: D102
        listing = available_models()
        text = super().shortHelpString() + model_help(listing.names)
        return text if listing.problem is None else f"<p><b>{listing.problem}</b></p>{text}"

    def model_parameters(self):  # noqa: D102
        listing = available_models()
        label = f"Propagation model (see the help for each; default {listing.names[0]})"
        if listing.problem is not None:  # say why only baselines are offered
            label = "Propagation model (baselines only: see the help or the message log)"
        rasters = [
            QgsProcessingParameterRasterLayer(key, tr(text), optional=True)
            for key, text in RASTERS.items()
        ]
        return [enum_param("MODEL", label, listing.names), *rasters]

    def core_function(self, api):  # noqa: D102
        return api.predict_coverage
