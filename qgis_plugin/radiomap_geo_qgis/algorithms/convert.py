"""Converters between QGIS and the radiomap-geo API: layers, CRSs, feedback, the model list.

Nothing here computes radio coverage; :mod:`.base` uses these to feed the API.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Iterator

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsMessageLog,
    QgsProcessingException,
    QgsProcessingFeatureSource,
    QgsProcessingFeedback,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication, QDate, QDateTime, QTime, QVariant

from ..native import isolate_bundled_libraries
from ..threads import keep_proj_context

INSTALL_HINT = (
    "Install radiomap-geo (it brings PyTorch) into the Python that QGIS uses: run "
    "'python3 -m pip install radiomap-geo' with that Python (on Windows in the OSGeo4W Shell, on "
    "macOS with the python3 inside the QGIS application bundle), then restart QGIS. Ray tracing "
    "also needs 'python3 -m pip install \"radiomap-geo[rt]\"'."
)

#: Model names offered when radiomap-geo cannot be imported while QGIS builds the toolbox.
FALLBACK_MODELS = ("3gpp-uma", "free-space", "log-distance", "cost231-hata", "3gpp-umi")


def tr(text: str) -> str:
    """Translate ``text`` in the plugin's context."""
    return QCoreApplication.translate("RadiomapGeo", text)


def import_api():
    """Import ``radiomap_geo.api`` (and so torch), or explain how to install it.

    Every algorithm calls this first in ``processAlgorithm``, in QGIS's worker thread, so it
    also keeps that thread's PROJ context alive across runs (see :mod:`..threads`).
    """
    isolate_bundled_libraries()  # before any wheel with bundled GDAL/GEOS/PROJ loads
    try:
        api = importlib.import_module("radiomap_geo.api")
    except ImportError as exc:
        raise QgsProcessingException(
            tr("radiomap-geo could not be imported ({}). {}").format(exc, INSTALL_HINT)
        ) from exc
    keep_proj_context()
    return api


@dataclasses.dataclass(frozen=True)
class ModelList:
    """The model names to offer, and why networks are missing from them (None when none are)."""

    names: list[str]
    problem: str | None = None


def available_models() -> ModelList:
    """``list_models()`` of the installed radiomap-geo (default first), or the baselines and why.

    The toolbox must load even with a broken or missing installation, but the user has to see
    why the trained networks are not offered: the reason goes to the QGIS message log and into
    the algorithm's help and model list.
    """
    try:
        api = import_api()
        # list_models() skips a damaged weights index with a log line; reading the index here
        # gives the reason, which the user of the toolbox must see.
        importlib.import_module("radiomap_geo.models.registry").read_index()
        return ModelList(list(api.list_models()))
    except (QgsProcessingException, ImportError, OSError, ValueError) as exc:
        # import_api explains a missing package; WeightsError (an OSError) a damaged weights
        # index; InputError (a ValueError) a bad RADIOMAP_GEO_WEIGHTS.
        problem = tr("Trained networks are unavailable: {}").format(exc)
        QgsMessageLog.logMessage(problem, "Radiomap Geo", Qgis.Warning)
        return ModelList(_baselines(), problem)


def _baselines() -> list[str]:
    """The physics baselines (no weights needed), or a fixed list without radiomap-geo."""
    try:
        registry = importlib.import_module("radiomap_geo.models.registry")
    except ImportError:
        return list(FALLBACK_MODELS)
    default = registry.DEFAULT_MODEL
    return [default, *(name for name in registry.BASELINES if name != default)]


def crs_to_user_input(crs: QgsCoordinateReferenceSystem) -> str:
    """A string pyproj understands for a QGIS CRS (``EPSG:xxxx`` where possible, else WKT2)."""
    authid = crs.authid()
    if authid.upper().startswith("EPSG:"):
        return authid
    return crs.toWkt(QgsCoordinateReferenceSystem.WKT2_2019)


def qgis_crs(pyproj_crs) -> QgsCoordinateReferenceSystem:
    """The QGIS CRS of a pyproj CRS."""
    epsg = pyproj_crs.to_epsg()
    if epsg:
        return QgsCoordinateReferenceSystem(f"EPSG:{epsg}")
    return QgsCoordinateReferenceSystem.fromWkt(pyproj_crs.to_wkt())


def python_value(value):
    """A plain Python value for a QGIS attribute (``NULL`` becomes ``None``)."""
    if value is None:
        return None
    if isinstance(value, QVariant):
        return None if value.isNull() else value.value()
    if isinstance(value, QDateTime):
        return value.toPyDateTime() if value.isValid() else None
    if isinstance(value, QDate):
        return value.toPyDate() if value.isValid() else None
    if isinstance(value, QTime):
        return value.toPyTime() if value.isValid() else None
    return value


def source_to_frame(
    source,
    crs: QgsCoordinateReferenceSystem,
    request=None,
    single_points: bool = False,
    skip_validity_check: bool = False,
):
    """A GeoDataFrame with the geometries and attributes of a feature source.

    With ``single_points``, one-part multipoints (as in many Shapefiles) become points. With
    ``skip_validity_check`` the context's invalid-geometry check (the desktop stops on the
    first invalid geometry by default) is skipped: for inputs the library repairs itself.
    """
    import geopandas as gpd
    import numpy as np
    import shapely

    names = source.fields().names()
    columns: dict[str, list] = {name: [] for name in names}
    wkbs: list[bytes | None] = []
    request = request or QgsFeatureRequest()
    if skip_validity_check and isinstance(source, QgsProcessingFeatureSource):
        features = source.getFeatures(
            request, QgsProcessingFeatureSource.FlagSkipGeometryValidityChecks
        )
    else:
        features = source.getFeatures(request)
    for feature in features:
        geometry = feature.geometry()
        if single_points and geometry.isMultipart() and geometry.constGet().numGeometries() == 1:
            geometry = QgsGeometry(geometry.constGet().geometryN(0).clone())
        wkbs.append(None if geometry.isNull() else bytes(geometry.asWkb()))
        for name, value in zip(names, feature.attributes()):
            columns[name].append(python_value(value))
    # on_invalid="fix": OGR hands over rings of two points (OSM ways cut by the extract), which
    # GEOS refuses to even build; shapely closes them so the library's repair can run.
    # (shapely >= 2.1, as pyproject requires; geopandas' from_wkb only gained the option later.)
    geoms = shapely.from_wkb(np.array(wkbs, dtype=object), on_invalid="fix")
    geoseries = gpd.GeoSeries(geoms, crs=crs_to_user_input(crs) if crs.isValid() else None)
    columns.pop("geometry", None)  # a field called "geometry" would clash with the geometry column
    return gpd.GeoDataFrame(columns, geometry=geoseries)


def frame_fields(frame) -> QgsFields:
    """The QGIS fields of a GeoDataFrame's columns: floats as doubles, integers as 64-bit
    integers, anything else as text.
    """
    fields = QgsFields()
    for name in frame.columns.drop(frame.geometry.name):
        kind = frame[name].dtype.kind
        variant = {"f": QVariant.Double, "i": QVariant.LongLong, "u": QVariant.LongLong}
        fields.append(QgsField(str(name), variant.get(kind, QVariant.String)))
    return fields


def polygon_features(frame, fields: QgsFields) -> Iterator[QgsFeature]:
    """The rows of a GeoDataFrame of polygons as multipolygon features with ``fields``.

    Multipolygons because a repaired footprint (``make_valid``) can split in parts; parts that
    are not polygons (a collapsed sliver) are dropped.
    """
    import shapely

    for row, geom in zip(
        frame.drop(columns=frame.geometry.name).itertuples(index=False), frame.geometry
    ):
        geometry = QgsGeometry()
        geometry.fromWkb(shapely.to_wkb(geom))
        geometry.convertGeometryCollectionToSubclass(QgsWkbTypes.PolygonGeometry)
        geometry.convertToMultiType()
        feature = QgsFeature(fields)
        feature.setGeometry(geometry)
        feature.setAttributes([_attribute(value) for value in row])
        yield feature


def _attribute(value):
    """A numpy scalar as the plain Python value QGIS stores; NaN as NULL."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


class FeedbackMonitor:
    """The API's ``progress(done, total, message)`` and ``is_cancelled()`` over a feedback."""

    def __init__(self, feedback: QgsProcessingFeedback) -> None:
        self.feedback = feedback
        self._last_message = ""

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report ``done`` of ``total`` units of work as a percentage."""
        if total:
            self.feedback.setProgress(100.0 * min(max(done / total, 0.0), 1.0))
        if message and message != self._last_message:
            self._last_message = message
            self.feedback.setProgressText(message)

    def is_cancelled(self) -> bool:
        """Whether the user pressed Cancel."""
        return self.feedback.isCanceled()
