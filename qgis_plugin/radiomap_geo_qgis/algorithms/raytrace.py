"""``radiomapgeo:raytracecoverage``: coverage ray-traced with Sionna RT (slow, physics-based)."""

from __future__ import annotations

import importlib
import sys

from qgis.core import QgsProcessingParameterBoolean

from ..native import finish_python_at_exit
from .base import COMMON_TAGS, CoverageAlgorithm
from .convert import tr
from .parameters import number_param


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
    TAGS = (*COMMON_TAGS, "ray tracing", "raytracing", "sionna", "reflection", "diffraction")
    KEYWORDS = {"SAMPLES": "samples_per_tx"}

    @property
    def DEFAULT_RESOLUTION(self) -> float:  # noqa: N802
        """The ray tracer's default cell size: the CLI's (``simulate --resolution``) too."""
        return _rt_constants().RESOLUTION_M

    def model_parameters(self):  # noqa: D102
        limits = _rt_constants()
        return [
            number_param(
                "SAMPLES",
                "Rays per transmitter (more: less noise, slower)",
                3_000_000,
                1_000,
                int(limits.MAX_SAMPLES),
            ),
            number_param(
                "MAX_DEPTH",
                "Maximum number of interactions (reflections/diffractions) per path",
                3,
                0,
                limits.MAX_DEPTH,
            ),
            QgsProcessingParameterBoolean(
                "DIFFRACTION", tr("Edge diffraction (about 3x slower)"), defaultValue=True
            ),
            QgsProcessingParameterBoolean(
                "REPRODUCIBLE",
                tr("Bit-identical results on every run (one CPU thread, slower)"),
                defaultValue=False,
            ),
        ]

    def core_function(self, api):  # noqa: D102
        return api.simulate_coverage

    def run_model(self, api, inputs, options, parameters, context, monitor):
        """``simulate_coverage``; then, once Sionna RT loaded, a clean exit of QGIS."""
        try:
            return super().run_model(api, inputs, options, parameters, context, monitor)
        finally:
            if "mitsuba" in sys.modules:  # after it loaded: see native.finish_python_at_exit
                finish_python_at_exit()


def _rt_constants():
    """``radiomap_geo.rt.simulate``: its limits and default cell size, shared with the CLI.

    Importing it loads no Sionna RT.
    """
    return importlib.import_module("radiomap_geo.rt.simulate")
