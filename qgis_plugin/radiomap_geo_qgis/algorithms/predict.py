"""``radiomapgeo:predictcoverage``: coverage from a propagation model or a trained network."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterRasterLayer,
)

from .base import CoverageAlgorithm, available_models, tr


class PredictCoverageAlgorithm(CoverageAlgorithm):
    """Calls ``radiomap_geo.api.predict_coverage``."""

    NAME = "predictcoverage"
    DISPLAY_NAME = "Predict coverage"
    HELP = (
        "Predicts received power (RSRP), best server and SINR for a set of transmitter sites "
        "with an empirical propagation model (free space, log-distance, COST-231 Hata, 3GPP "
        "UMi/UMa, with building blockage) or a trained network, which can also use an nDSM "
        "(heights of buildings and vegetation above ground) and an orthophoto."
    )

    MODEL = "MODEL"
    NDSM = "NDSM"
    ORTHO = "ORTHO"
    DSM = "DSM"
    DTM = "DTM"

    def model_parameters(self):  # noqa: D102
        models = available_models()
        return [
            # Static strings: scripts and qgis_process pass MODEL=3gpp-umi, and saved models keep
            # working when the list of installed models changes.
            QgsProcessingParameterEnum(
                self.MODEL,
                tr("Propagation model"),
                options=models,
                defaultValue=models[0],
                usesStaticStrings=True,
            ),
            QgsProcessingParameterRasterLayer(
                self.NDSM, tr("nDSM: heights above ground in metres (optional)"), optional=True
            ),
            QgsProcessingParameterRasterLayer(
                self.DSM,
                tr("DSM: surface heights, with a DTM instead of an nDSM (optional)"),
                optional=True,
            ),
            QgsProcessingParameterRasterLayer(
                self.DTM, tr("DTM: ground heights, with the DSM (optional)"), optional=True
            ),
            QgsProcessingParameterRasterLayer(
                self.ORTHO, tr("Orthophoto (optional, used by trained networks)"), optional=True
            ),
        ]

    def run_model(self, api, grid, sites, buildings, parameters, context, monitor, per_site):
        """``predict_coverage`` with the parameters of this algorithm."""
        return api.predict_coverage(
            grid,
            sites,
            buildings,
            model=self.parameterAsEnumString(parameters, self.MODEL, context),
            ndsm=self.raster_path(parameters, self.NDSM, context),
            ortho=self.raster_path(parameters, self.ORTHO, context),
            dsm=self.raster_path(parameters, self.DSM, context),
            dtm=self.raster_path(parameters, self.DTM, context),
            rx_height_m=self.parameterAsDouble(parameters, self.RX_HEIGHT, context),
            per_site=per_site,
            bandwidth_mhz=self.parameterAsDouble(parameters, self.BANDWIDTH, context),
            noise_figure_db=self.parameterAsDouble(parameters, self.NOISE_FIGURE, context),
            progress=monitor.progress,
            is_cancelled=monitor.is_cancelled,
        )
