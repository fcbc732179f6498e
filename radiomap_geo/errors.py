"""Exceptions raised by radiomap-geo.

Every error derives from :class:`RadiomapError` and also from the builtin that fits, so callers can
catch either. Messages say what was wrong *and* what to do about it.
"""

from __future__ import annotations


class RadiomapError(Exception):
    """Root of all radiomap-geo errors.

    ``parameter`` names the core option that was wrong (a field of
    :class:`radiomap_geo.options.PredictOptions`, or an argument name such as ``buildings``), so
    each front end can say it its own way (``--buildings`` on the command line, "Buildings layer"
    in QGIS) without rewriting the message text.
    """

    def __init__(self, *args: object, parameter: str | None = None) -> None:
        super().__init__(*args)
        self.parameter = parameter


class InputError(RadiomapError, ValueError):
    """A user-supplied value or file is unusable."""


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or unsuitable."""


class BBoxError(InputError):
    """A bounding box is empty, swapped or in the wrong units."""


class AreaTooLargeError(InputError):
    """The requested grid is much larger than a normal run; pass ``allow_large`` to go ahead."""


class SitesError(InputError):
    """The transmitter-site table is missing columns, has bad values or lies outside the area."""


class BuildingsError(InputError):
    """Building footprints are missing, empty or invalid beyond repair."""


class WeightsError(RadiomapError, OSError):
    """A weights file is missing, corrupt or does not match its recorded checksum."""


class OutputExistsError(RadiomapError, FileExistsError):
    """An output file exists and overwriting was not requested."""


class OutputError(RadiomapError, OSError):
    """An output cannot be written: the disk is full, or the folder is read-only."""


class Cancelled(RadiomapError):
    """The caller's cancel callback asked the computation to stop."""


class DependencyError(RadiomapError, ImportError):
    """An optional dependency (Sionna RT, libLLVM, osmnx network access...) is not available."""
