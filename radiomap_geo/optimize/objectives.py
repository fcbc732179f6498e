"""Coverage objectives: the exact (hard) scores and their smooth stand-ins for gradient descent.

Every objective reads the per-site received power ``P_k`` (dBm, total power over the channel) on
the cells of the target area and is to be *maximised*:

``percentile``
    The ``p``-th percentile of the macro-diversity power ``10 log10(sum_k 10^(P_k/10))`` (paper
    002, eq. 3-4), reported as RSRP per resource element (:func:`radiomap_geo.rsrp.rsrp_offset_db`).
    Hard: the ``ceil(p n / 100)``-th smallest of the ``n`` cells (``inverted_cdf``). Soft: the
    Boltzmann operator (paper eq. 7) ``sum_i x_i e^(x_i/T) / sum_i e^(x_i/T)`` over those lowest
    cells, ``T`` = ``temperature_db``. As ``T -> 0`` it tends to their maximum, the hard
    percentile; as ``T`` grows, to their mean. Unlike a soft-min over the whole area it spends no
    gradient on the hopeless cells deep in the tail (the paper's reason not to maximise the
    minimum) and weights the cells just below the percentile, those that can lift it.
    Default ``T`` = 1 dB: the cells within a few dB below the percentile share the gradient.
``sinr-coverage``
    Number of cells whose best-server SINR ``max_k P_k / (sum_{j != k} P_j + N)`` is at least
    ``threshold_db`` (paper eq. 5-6). Soft: ``sum_i sigmoid((SINR_i - threshold_db) / slope_db)``,
    the shifted sigmoid of the paper; it tends to the count as ``slope_db -> 0``. Default slope
    1 dB: cells within about +-4 dB of the threshold pull.
``rsrp-coverage``
    Number of cells whose best-server RSRP per resource element is at least ``threshold_dbm``
    (the ``rsrp_dbm`` band of ``predict``). Soft: the same shifted sigmoid with ``slope_db``.

All functions take ``power_dbm`` of shape ``(n_sites, n_cells)`` (float64 tensors keep the
interference sums exact) and return 0-d tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

LN10_OVER_10 = math.log(10.0) / 10.0


@dataclass(frozen=True)
class Objective:
    """One objective with its parameters (see the module docstring)."""

    name: str
    percentile: float = 5.0
    threshold_dbm: float = -95.0
    threshold_db: float = 0.0
    temperature_db: float = 1.0
    slope_db: float = 1.0
    noise_dbm: float = -94.0
    rsrp_offset_db: float = 0.0

    @property
    def unit(self) -> str:
        """Unit of the objective's value."""
        return "dBm" if self.name == "percentile" else "cells"

    def hard(self, power_dbm: torch.Tensor) -> float:
        """The exact objective (no gradient)."""
        with torch.no_grad():
            if self.name == "percentile":
                values = _lowest(combined_dbm(power_dbm), self.percentile)
                return float(values.max()) + self.rsrp_offset_db
            return float((self._margin_db(power_dbm) >= 0).sum())

    def soft(self, power_dbm: torch.Tensor) -> torch.Tensor:
        """The smooth stand-in, differentiable in ``power_dbm``."""
        if self.name == "percentile":
            values = _lowest(combined_dbm(power_dbm), self.percentile)
            return boltzmann(values, self.temperature_db) + self.rsrp_offset_db
        return torch.sigmoid(self._margin_db(power_dbm) / self.slope_db).sum()

    def _margin_db(self, power_dbm: torch.Tensor) -> torch.Tensor:
        """Decibels above the threshold per cell (coverage objectives)."""
        if self.name == "sinr-coverage":
            return best_sinr_db(power_dbm, self.noise_dbm) - self.threshold_db
        best = power_dbm.max(dim=0).values
        return best + self.rsrp_offset_db - self.threshold_dbm


def combined_dbm(power_dbm: torch.Tensor) -> torch.Tensor:
    """Non-coherent sum over sites, dBm per cell (log-sum-exp, exact in dB)."""
    return torch.logsumexp(power_dbm * LN10_OVER_10, dim=0) / LN10_OVER_10


def best_sinr_db(power_dbm: torch.Tensor, noise_dbm: float) -> torch.Tensor:
    """Best-server SINR per cell (dB), interference = every other site, plus noise."""
    linear = torch.pow(10.0, power_dbm.double() / 10.0)
    noise = 10.0 ** (noise_dbm / 10.0)
    interference = linear.sum(dim=0, keepdim=True) - linear + noise
    sinr = (linear / interference).max(dim=0).values
    return 10.0 * torch.log10(sinr)


def _lowest(values: torch.Tensor, percentile: float) -> torch.Tensor:
    """The ``ceil(p n / 100)`` smallest values (at least one)."""
    k = max(1, math.ceil(percentile / 100.0 * values.numel()))
    return torch.topk(values, k, largest=False, sorted=False).values


def boltzmann(values: torch.Tensor, temperature: float) -> torch.Tensor:
    """Boltzmann operator with ``alpha = 1 / temperature`` (a soft maximum of ``values``)."""
    weights = torch.softmax(values / temperature, dim=0)
    return (weights * values).sum()
