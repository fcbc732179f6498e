"""Processing algorithms; a new capability is one subclass of ``base.CoverageAlgorithm``."""

from .predict import PredictCoverageAlgorithm
from .raytrace import RayTraceCoverageAlgorithm

#: Every algorithm the provider registers, in toolbox order.
ALGORITHMS = (PredictCoverageAlgorithm, RayTraceCoverageAlgorithm)

__all__ = ["ALGORITHMS", "PredictCoverageAlgorithm", "RayTraceCoverageAlgorithm"]
