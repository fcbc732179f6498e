"""``radiomapgeo:raytracecoverage``: coverage ray-traced with Sionna RT (slow, physics-based)."""

from __future__ import annotations

import sys

from qgis.core import QgsProcessingParameterBoolean, QgsProcessingParameterNumber

from ..native import finish_python_at_exit
from .base import CoverageAlgorithm
from .convert import tr


class RayTraceCoverageAlgorithm(CoverageAlgorithm):
    """Calls ``radiomap_geo.api.simulate_coverage``."""

    NAME = "raytracecoverage"
    DISPLAY_NAME = "Ray-trace coverage"
    HELP = (
        "Ray-traces the coverage of each site with Sionna RT through the buildings extruded to "
        "3D (reflections and optionally edge diffraction). Much slower than 'Predict coverage': "
        "keep the area small (a few hundred metres) and the cells at 2 m or more. Needs "
        "'radiomap-geo[rt]' and, on the CPU, libLLVM 19 (apt-get install libllvm19)."
    )

    EXTRA_TAGS = ("ray tracing", "raytracing", "sionna", "reflection", "diffraction")

    SAMPLES = "SAMPLES"
    MAX_DEPTH = "MAX_DEPTH"
    DIFFRACTION = "DIFFRACTION"
    REPRODUCIBLE = "REPRODUCIBLE"

    def model_parameters(self):  # noqa: D102
        return [
            QgsProcessingParameterNumber(
                self.SAMPLES,
                tr("Rays per transmitter (more: less noise, slower)"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=3_000_000,
                minValue=1_000,
                maxValue=1_000_000_000,
            ),
            QgsProcessingParameterNumber(
                self.MAX_DEPTH,
                tr("Maximum number of interactions (reflections/diffractions) per path"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=3,
                minValue=0,
                maxValue=10,
            ),
            QgsProcessingParameterBoolean(
                self.DIFFRACTION, tr("Edge diffraction (about 3x slower)"), defaultValue=True
            ),
            QgsProcessingParameterBoolean(
                self.REPRODUCIBLE,
                tr("Bit-identical results on every run (one CPU thread, slower)"),
                defaultValue=False,
            ),
        ]

    def run_model(self, api, inputs, options, parameters, context, monitor):
        """``simulate_coverage`` with the parameters of this algorithm."""
        try:
            return self._simulate(api, inputs, options, parameters, context, monitor)
        finally:
            if "mitsuba" in sys.modules:  # after it loaded: see native.finish_python_at_exit
                finish_python_at_exit()

    def _simulate(self, api, inputs, options, parameters, context, monitor):
        return api.simulate_coverage(
            inputs.grid,
            inputs.sites,
            inputs.buildings,
            samples_per_tx=self.parameterAsInt(parameters, self.SAMPLES, context),
            max_depth=self.parameterAsInt(parameters, self.MAX_DEPTH, context),
            diffraction=self.parameterAsBoolean(parameters, self.DIFFRACTION, context),
            reproducible=self.parameterAsBoolean(parameters, self.REPRODUCIBLE, context),
            options=options,
            progress=monitor.progress,
            is_cancelled=monitor.is_cancelled,
        )
