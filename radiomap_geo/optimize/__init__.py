"""Antenna orientation optimisation through a frozen coverage network (paper 002, Section IV).

:func:`optimize_sites` turns each site's azimuth and tilt (and optionally power) into trainable
parameters of the network's input channels, maximises a soft coverage objective with Adam and
compares random search with the same budget; :func:`verify_result` re-judges the configurations
with Sionna RT.
"""

from radiomap_geo.optimize.core import OptimizationResult, make_objective, optimize_sites
from radiomap_geo.optimize.domain import Limits
from radiomap_geo.optimize.objectives import OBJECTIVES, Objective
from radiomap_geo.optimize.options import METHODS, OptimizeOptions
from radiomap_geo.optimize.verify import Tracer, verify, verify_result

__all__ = [
    "METHODS",
    "OBJECTIVES",
    "Limits",
    "Objective",
    "OptimizationResult",
    "OptimizeOptions",
    "Tracer",
    "make_objective",
    "optimize_sites",
    "verify",
    "verify_result",
]
