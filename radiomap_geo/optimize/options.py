"""The settings of an orientation optimisation, with their defaults written once.

The command line (``radiomap-geo optimize``), the QGIS algorithm and :func:`optimize_sites` all
build this object; errors name the field that was wrong (``parameter=``). Receiver settings
(height, bandwidth, noise figure, RSRP numerology) are the shared
:class:`~radiomap_geo.options.RunOptions`, so their defaults stay written once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from radiomap_geo.errors import InputError
from radiomap_geo.optimize.domain import PARAMETERS, Limits
from radiomap_geo.options import RunOptions, described

#: The coverage objectives (:mod:`radiomap_geo.optimize.objectives` defines them).
OBJECTIVES = ("percentile", "sinr-coverage", "rsrp-coverage")

METHODS = ("gradient", "random", "both")
#: The methods that run gradient descent (and so read its settings and the soft objective's).
GRADIENT_METHODS = ("gradient", "both")

#: The grid cell size (m) the front ends default to (``radiomap-geo optimize --resolution``, the
#: QGIS algorithm's cell size): the default network's native one, as the surrogate runs at its
#: trained cell size only (tests/optimize check it against the default model).
RESOLUTION_M = 2.0

#: Settings that only some configurations read: setting -> {field: the values that read it}. A
#: setting is read when every field listed holds one of its values (for ``params``, contains
#: one); front ends refuse a setting given explicitly where it is not read
#: (:meth:`OptimizeOptions.unread`). Receiver settings are named by their RunOptions field.
READ_WHEN: dict[str, dict[str, tuple[str, ...]]] = {
    "percentile": {"objective": ("percentile",)},
    "threshold_dbm": {"objective": ("rsrp-coverage",)},
    "threshold_db": {"objective": ("sinr-coverage",)},
    "noise_figure_db": {"objective": ("sinr-coverage",)},
    # the soft objectives' shapes: only gradient descent reads the soft objective
    "temperature_db": {"objective": ("percentile",), "method": GRADIENT_METHODS},
    "slope_db": {"objective": ("sinr-coverage", "rsrp-coverage"), "method": GRADIENT_METHODS},
    "starts": {"method": GRADIENT_METHODS},
    "learning_rate": {"method": GRADIENT_METHODS},
    "power_span_db": {"params": ("power",)},
}
#: The seed draws random search's configurations and the gradient's further starts only.
SEED_READ_WHEN = {"method": ("random", "both")}


@dataclass(frozen=True)
class OptimizeOptions:
    """What to optimise, how, and for which receiver (see ``radiomap-geo optimize --help``)."""

    objective: str = described(
        "percentile",
        "percentile: the p-th percentile of RSRP; sinr-coverage / rsrp-coverage: cells at or "
        "above the threshold.",
    )
    percentile: float = described(5.0, "Which percentile of RSRP the percentile objective raises.")
    threshold_dbm: float = described(
        -95.0, "RSRP threshold (per resource element) of rsrp-coverage."
    )
    threshold_db: float = described(0.0, "SINR threshold of sinr-coverage.")
    params: tuple[str, ...] = ("azimuth", "tilt")
    fixed: tuple[str, ...] = ()
    method: str = described("both", "gradient, random (search) or both, each with the budget.")
    budget: int = described(
        20, "Evaluations of all sites' maps per method (gradient steps / random draws)."
    )
    seed: int = described(0, "Seed of the random search and the gradient multi-starts.")
    starts: int = described(1, "Gradient multi-start.")
    learning_rate: float = described(
        0.05, "Adam's step, in units of each parameter's domain width."
    )
    temperature_db: float = described(1.0, "Boltzmann temperature (dB) of the soft percentile.")
    slope_db: float = described(1.0, "Sigmoid slope (dB) of the soft coverage count.")
    limits: Limits = field(default_factory=Limits)
    run: RunOptions = field(default_factory=RunOptions)  # receiver: height, noise, RSRP

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first unusable field."""
        if self.objective not in OBJECTIVES:
            raise InputError(
                f"unknown objective {self.objective!r}: use one of {', '.join(OBJECTIVES)}",
                parameter="objective",
            )
        if self.method not in METHODS:
            raise InputError(
                f"unknown method {self.method!r}: use one of {', '.join(METHODS)}",
                parameter="method",
            )
        unknown = [p for p in self.params if p not in PARAMETERS]
        if unknown or not self.params:
            raise InputError(
                f"parameters {list(self.params)}: choose from {', '.join(PARAMETERS)}",
                parameter="params",
            )
        if isinstance(self.budget, bool) or int(self.budget) != self.budget or self.budget < 1:
            raise InputError(
                f"budget {self.budget!r}: give at least 1 evaluation (each evaluates every "
                "site's map once)",
                parameter="budget",
            )
        if not 1 <= self.starts <= self.budget:
            raise InputError(
                f"starts {self.starts}: between 1 and the budget ({self.budget})",
                parameter="starts",
            )
        if not 0 < self.percentile < 100:
            raise InputError(
                f"percentile {self.percentile} must be in (0, 100)", parameter="percentile"
            )
        for name in ("temperature_db", "slope_db", "learning_rate"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number, got {value}", parameter=name)
        self.limits.validate()

    def unread(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """The settings this configuration never reads (see :data:`READ_WHEN`), each with the
        fields that leave it unread and the values of each that would read it.

        ``seed`` is unread only by a single-start gradient descent (``starts`` 1).
        """
        out = {}
        for setting, needs in READ_WHEN.items():
            failing = {
                name: values for name, values in needs.items() if not self._has(name, values)
            }
            if failing:
                out[setting] = failing
        if self.method == "gradient" and self.starts == 1:
            out["seed"] = dict(SEED_READ_WHEN)
        return out

    def _has(self, name: str, values: tuple[str, ...]) -> bool:
        value = getattr(self, name)
        if isinstance(value, tuple):
            return bool(set(value) & set(values))
        return value in values

    def to_dict(self) -> dict:
        """JSON-ready form (for reports)."""
        out = asdict(self)
        out["params"], out["fixed"] = list(self.params), list(self.fixed)
        return out
