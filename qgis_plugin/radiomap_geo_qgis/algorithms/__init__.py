"""Processing algorithms; a new capability is one subclass of ``base.CoverageAlgorithm``."""

from .fit_measurements import FitMeasurementsAlgorithm
from .optimize_algorithm import OptimizeOrientationAlgorithm
from .predict import PredictCoverageAlgorithm
from .raytrace import RayTraceCoverageAlgorithm

#: Every algorithm the provider registers, in toolbox order.
ALGORITHMS = (PredictCoverageAlgorithm, RayTraceCoverageAlgorithm, OptimizeOrientationAlgorithm)
ALGORITHMS += (FitMeasurementsAlgorithm,)

__all__ = [
    "ALGORITHMS",
    "OptimizeOrientationAlgorithm",
    "PredictCoverageAlgorithm",
    "RayTraceCoverageAlgorithm",
]
