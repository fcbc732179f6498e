"""radiomap-geo: georeferenced radio coverage maps from GIS data."""

__version__ = "0.1.0"
