"""Processing algorithms; a new capability is one subclass of ``common.RadiomapAlgorithm``
(``base.CoverageAlgorithm`` for one that computes coverage rasters).
"""

from .fit_measurements import FitMeasurementsAlgorithm
from .infer_buildings import InferBuildingsAlgorithm
from .optimize_algorithm import OptimizeOrientationAlgorithm
from .predict import PredictCoverageAlgorithm
from .predict_measurements import PredictFromMeasurementsAlgorithm
from .raytrace import RayTraceCoverageAlgorithm

#: Every algorithm the provider registers, in toolbox order.
ALGORITHMS = (PredictCoverageAlgorithm, RayTraceCoverageAlgorithm, OptimizeOrientationAlgorithm)
ALGORITHMS += (FitMeasurementsAlgorithm,)
ALGORITHMS += (PredictFromMeasurementsAlgorithm, InferBuildingsAlgorithm)

__all__ = [
    "ALGORITHMS",
    "InferBuildingsAlgorithm",
    "OptimizeOrientationAlgorithm",
    "PredictCoverageAlgorithm",
    "RayTraceCoverageAlgorithm",
]
