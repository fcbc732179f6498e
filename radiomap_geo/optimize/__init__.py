"""Antenna orientation optimisation through a frozen coverage network (paper 002, Section IV).

:func:`optimize_sites` turns each site's azimuth and tilt (and optionally power) into trainable
parameters of the network's input channels, maximises a soft coverage objective with Adam and
compares random search with the same budget; :func:`verify_result` re-judges the configurations
with Sionna RT.

The names load on first use (PEP 562), so front ends that only read the options and limits
(the CLI's flags) do not pay for importing torch.
"""

from importlib import import_module
from typing import Any

_HOMES = {
    "OptimizationResult": "core",
    "make_objective": "core",
    "optimize_sites": "core",
    "resolve_model": "core",
    "Limits": "domain",
    "OBJECTIVES": "options",
    "Objective": "objectives",
    "METHODS": "options",
    "OptimizeOptions": "options",
    "RESOLUTION_M": "options",
    "Tracer": "verify",
    "verify": "verify",
    "verify_result": "verify",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = import_module(f"{__name__}.{_HOMES[name]}")
    # bind every name of that module here: importing ``verify.py`` made the package attribute
    # ``verify`` the submodule, and the function of that name must win
    for other, where in _HOMES.items():
        if where == _HOMES[name]:
            globals()[other] = getattr(home, other)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "METHODS",
    "OBJECTIVES",
    "RESOLUTION_M",
    "Limits",
    "Objective",
    "OptimizationResult",
    "OptimizeOptions",
    "Tracer",
    "make_objective",
    "optimize_sites",
    "resolve_model",
    "verify",
    "verify_result",
]
