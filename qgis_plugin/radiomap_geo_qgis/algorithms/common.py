"""What every radiomap-geo algorithm shares: the Processing boilerplate, error translation, and
the grid (sites + extent + cell size + CRS) most of them compute on.

A subclass sets :attr:`RadiomapAlgorithm.NAME`, ``DISPLAY_NAME``, ``GROUP``, ``HELP`` and
``TAGS``, declares its parameters in ``initAlgorithm`` and does its work in
:meth:`RadiomapAlgorithm.process`; library errors become readable ``QgsProcessingException``
messages named after the parameter they are about (see :func:`.settings.describe_error`).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterExtent,
)

from .convert import INSTALL_HINT, crs_to_user_input, import_api, tr
from .messages import LibraryLog
from .parameters import advanced, number_param, source_param
from .settings import describe_error


class RadiomapAlgorithm(QgsProcessingAlgorithm):
    """Names, group, help, flags and the translated errors of one radiomap-geo algorithm."""

    NAME = ""
    DISPLAY_NAME = ""
    GROUP = "Coverage"
    HELP = ""
    TAGS: tuple[str, ...] = ()
    #: Core parameter names of errors -> this algorithm's parameters (beyond RunOptions').
    ERROR_PARAMETERS: dict[str, str] = {}

    def createInstance(self):  # noqa: D102
        return type(self)()

    def name(self) -> str:  # noqa: D102
        return self.NAME

    def displayName(self) -> str:  # noqa: D102
        return tr(self.DISPLAY_NAME)

    def group(self) -> str:  # noqa: D102
        return tr(self.GROUP)

    def groupId(self) -> str:  # noqa: D102
        return self.GROUP.lower()

    def tags(self) -> list[str]:
        """Words the Processing toolbox search finds this algorithm by."""
        return [tr(tag) for tag in self.TAGS]

    def shortHelpString(self) -> str:  # noqa: D102
        return tr(self.HELP)

    def flags(self):  # noqa: D102
        # Background thread on purpose (no FlagNoThreading): see base.py's module docstring.
        return QgsProcessingAlgorithm.FlagSupportsBatch | QgsProcessingAlgorithm.FlagCanCancel

    def geotiff_output(self, parameters, key: str, context) -> str | None:
        """The file of raster output ``key`` (None when not asked for); GeoTIFF only."""
        path = self.parameterAsOutputLayer(parameters, key, context)
        if path and Path(path).suffix.lower() not in (".tif", ".tiff"):
            raise QgsProcessingException(
                tr("{}: '{}' must be a GeoTIFF (.tif) file.").format(
                    self.parameterDefinition(key).description(), path
                )
            )
        return path or None

    def process(self, api, parameters, context, feedback) -> dict:
        """The run itself (library errors are translated by :meth:`processAlgorithm`)."""
        raise NotImplementedError

    def processAlgorithm(self, parameters, context, feedback):  # noqa: D102
        api = import_api()  # in the worker thread: also keeps its PROJ context alive
        errors = importlib.import_module("radiomap_geo.errors")
        try:
            with LibraryLog(feedback):  # the library's warnings (repairs, defaults) in the log
                return self.process(api, parameters, context, feedback)
        except errors.Cancelled as exc:
            raise QgsProcessingException(tr("Cancelled by the user.")) from exc
        except errors.RadiomapError as exc:
            # Library errors carry a message for the user: show it, not a traceback, named
            # after the parameter it is about.
            raise QgsProcessingException(describe_error(self, exc)) from exc
        except ImportError as exc:
            raise QgsProcessingException(
                tr("A dependency of radiomap-geo is missing ({}). {}").format(exc, INSTALL_HINT)
            ) from exc
        except QgsProcessingException:
            raise
        except Exception as exc:
            # Anything else is a bug: QGIS would put its whole traceback into the message and
            # the log. Say what failed in one line (the cause stays chained for Python callers).
            raise QgsProcessingException(
                tr(
                    "{} failed unexpectedly ({}: {}). This is a bug in radiomap-geo: please "
                    "report it with the inputs you used."
                ).format(self.displayName(), type(exc).__name__, _one_line(exc))
            ) from exc


class AreaAlgorithm(RadiomapAlgorithm):
    """An algorithm on a grid: transmitter sites, the area, its cell size and CRS."""

    SITES = "SITES"
    EXTENT = "EXTENT"
    RESOLUTION = "RESOLUTION"
    CRS = "CRS"
    ALLOW_LARGE = "ALLOW_LARGE"
    #: Default cell size in metres.
    DEFAULT_RESOLUTION = 5.0

    def sites_parameter(self) -> QgsProcessingParameterDefinition:  # noqa: D102
        return source_param(self.SITES, "Transmitter sites (points with height_m)", "point")

    def area_parameters(self) -> list[QgsProcessingParameterDefinition]:
        """Extent, cell size and output CRS, in the dialog's order."""
        return [
            QgsProcessingParameterExtent(self.EXTENT, tr("Area to compute")),
            number_param(self.RESOLUTION, "Cell size (metres)", self.DEFAULT_RESOLUTION, 0.1),
            QgsProcessingParameterCrs(
                self.CRS,
                tr("Output CRS, projected in metres (empty: the local UTM zone)"),
                optional=True,
            ),
        ]

    def allow_large_parameter(self) -> QgsProcessingParameterDefinition:  # noqa: D102
        return advanced(
            QgsProcessingParameterBoolean(
                self.ALLOW_LARGE,
                tr("Allow very large areas (more than 64 million cells)"),
                defaultValue=False,
            )
        )

    def grid_from_parameters(self, api, parameters, context, feedback):
        """``Grid.from_bbox`` of the extent (in the extent's own CRS) and the cell size."""
        rect = self.parameterAsExtent(parameters, self.EXTENT, context)
        extent_crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        if not extent_crs.isValid():
            # An extent typed without "[EPSG:xxxx]" outside a project: read it in the sites' CRS.
            extent_crs = self.sites_source(parameters, context).sourceCrs()
            feedback.pushWarning(
                tr("The extent has no CRS; reading it in the sites layer CRS {}.").format(
                    extent_crs.authid() or extent_crs.description()
                )
            )
        if rect.isNull() or rect.isEmpty():
            raise QgsProcessingException(tr("The area to compute (extent) is empty."))
        bbox = api.BBox.parse(
            (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()),
            crs=crs_to_user_input(extent_crs),
        )
        work_crs = self.parameterAsCrs(parameters, self.CRS, context)
        allow_large = self.parameterAsBoolean(parameters, self.ALLOW_LARGE, context)
        kwargs = {} if not allow_large else {"max_cells": None}
        return api.Grid.from_bbox(
            bbox,
            resolution=self.parameterAsDouble(parameters, self.RESOLUTION, context),
            crs=crs_to_user_input(work_crs) if work_crs.isValid() else None,
            **kwargs,
        )

    def sites_source(self, parameters, context):
        """The sites layer's feature source (the standard QGIS error when it cannot be read)."""
        source = self.parameterAsSource(parameters, self.SITES, context)
        if source is None:
            raise QgsProcessingException(
                self.invalidSourceError(parameters, self.SITES)  # standard QGIS wording
            )
        return source


def _one_line(exc: Exception) -> str:
    """The first line of an exception's message (never a traceback)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else tr("no message")
