"""The ``radiomap-geo`` command line: thin click adapters over :mod:`radiomap_geo.api`."""
