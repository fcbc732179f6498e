"""Real measurements: point files, drive-test import, tower localisation, fitted models.

``points`` is the product's one reader of measured values (used by ``predict --measurements``
and by the drive-test tools here).
"""

from radiomap_geo.measurements.points import (
    GriddedMeasurements,
    Measurements,
    read_measurements,
)

__all__ = ["GriddedMeasurements", "Measurements", "read_measurements"]
