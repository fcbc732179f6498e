"""``radiomapgeo:predictcoverage``: coverage from a propagation model or a trained network."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterRasterLayer,
)

from .base import CoverageAlgorithm
from .convert import available_models, tr
from .model_help import model_help


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

    EXTRA_TAGS = ("neural network", "3gpp", "hata", "free space", "ndsm", "orthophoto")

    MODEL = "MODEL"
    NDSM = "NDSM"
    ORTHO = "ORTHO"
    DSM = "DSM"
    DTM = "DTM"

    def shortHelpString(self) -> str:  # noqa: D102
        listing = available_models()
        text = super().shortHelpString() + model_help(listing.names)
        return text if listing.problem is None else f"<p><b>{listing.problem}</b></p>{text}"

    def model_parameters(self):  # noqa: D102
        listing = available_models()
        models = listing.names
        label = tr("Propagation model (see the help for each; default {})").format(models[0])
        if listing.problem is not None:  # say why only baselines are offered
            label = tr("Propagation model (baselines only: see the help or the message log)")
        return [
            # Static strings: scripts and qgis_process pass MODEL=3gpp-umi, and saved models keep
            # working when the list of installed models changes.
            QgsProcessingParameterEnum(
                self.MODEL,
                label,
                options=models,
                defaultValue=models[0],
                usesStaticStrings=True,
            ),
            QgsProcessingParameterRasterLayer(
                self.NDSM, tr("nDSM: heights above ground in metres"), optional=True
            ),
            QgsProcessingParameterRasterLayer(
                self.DSM,
                tr("DSM: surface heights, with a DTM instead of an nDSM"),
                optional=True,
            ),
            QgsProcessingParameterRasterLayer(
                self.DTM, tr("DTM: ground heights, with the DSM"), optional=True
            ),
            QgsProcessingParameterRasterLayer(
                self.ORTHO, tr("Orthophoto (used by trained networks)"), optional=True
            ),
        ]

    def run_model(self, api, inputs, options, parameters, context, monitor):
        """``predict_coverage`` with the parameters of this algorithm."""
        return api.predict_coverage(
            inputs.grid,
            inputs.sites,
            inputs.buildings,
            model=self.parameterAsEnumString(parameters, self.MODEL, context),
            ndsm=self.raster_path(parameters, self.NDSM, context),
            ortho=self.raster_path(parameters, self.ORTHO, context),
            dsm=self.raster_path(parameters, self.DSM, context),
            dtm=self.raster_path(parameters, self.DTM, context),
            options=options,
            progress=monitor.progress,
            is_cancelled=monitor.is_cancelled,
        )
