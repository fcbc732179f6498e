"""How networks see path gain: an affine map of clipped dB values onto roughly 0..1.

Following RadioUNet (Levie et al.) and paper 002, targets are clipped to ``[floor_db, ceil_db]``
and mapped affinely so that ``floor_db -> 0`` and ``ceil_db -> 1``. Strong signals therefore
dominate the squared error and everything weaker than the floor (no usable signal, or no ray at
all in the ray tracer) becomes one class: "at or below the floor". The scaling is stored in every
weights file; :meth:`OutputScaling.to_db` undoes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

#: Defaults for 1-2 m cells around a rooftop site: -160 dB is below any usable link at 3.5 GHz
#: (43 dBm - 160 dB = -117 dBm, under the noise of a 20 MHz channel); -40 dB is about 1 m from
#: an isotropic antenna at 3.5 GHz (free space gives -43.3 dB at 1 m).
DEFAULT_FLOOR_DB = -160.0
DEFAULT_CEIL_DB = -40.0


@dataclass(frozen=True)
class OutputScaling:
    """``norm = (clip(db, floor_db, ceil_db) - floor_db) / (ceil_db - floor_db)``."""

    floor_db: float = DEFAULT_FLOOR_DB
    ceil_db: float = DEFAULT_CEIL_DB
    kind: str = "affine_clipped"

    def __post_init__(self) -> None:
        if self.kind != "affine_clipped":
            raise ValueError(f"unknown output scaling {self.kind!r}")
        if not self.ceil_db > self.floor_db:
            raise ValueError(f"ceil_db ({self.ceil_db}) must exceed floor_db ({self.floor_db})")

    @property
    def span_db(self) -> float:
        """Decibels per unit of normalised output."""
        return float(self.ceil_db - self.floor_db)

    def to_norm(self, db):
        """Decibels (tensor or array) -> normalised units, clipped to ``[0, 1]``."""
        if isinstance(db, torch.Tensor):
            return (db.clamp(self.floor_db, self.ceil_db) - self.floor_db) / self.span_db
        return (np.clip(db, self.floor_db, self.ceil_db) - self.floor_db) / self.span_db

    def to_db(self, norm):
        """Normalised units (tensor or array) -> dB, *not* clipped (a prediction below 0 means
        "below the floor"; callers may clip to ``floor_db``).
        """
        return norm * self.span_db + self.floor_db

    def to_dict(self) -> dict:
        """Plain-dict form for weights metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> OutputScaling:
        """Inverse of :meth:`to_dict`."""
        return cls(
            float(data["floor_db"]), float(data["ceil_db"]), str(data.get("kind", "affine_clipped"))
        )
