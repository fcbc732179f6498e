"""Shared adapter between QGIS Processing and the radiomap-geo Python API.

Everything here converts: QGIS layers to GeoDataFrames and file paths, the extent to a
``BBox``, ``feedback`` to the API's ``progress``/``is_cancelled`` callables, library errors to
``QgsProcessingException``. No radio logic lives in the plugin: a new capability is a subclass of
:class:`CoverageAlgorithm` that declares its own parameters and names one API function.

Threading: the algorithms keep the default flags (``FlagSupportsBatch | FlagCanCancel``) and do
*not* set ``FlagNoThreading``, so QGIS runs them in a background task and the map canvas stays
responsive while torch (or Sionna RT) computes. That is safe because the adapter reads inputs only
through the Processing context (feature sources and raster paths, which QGIS prepares for the
worker thread), never touches ``iface``, widgets or project layers, and styles the outputs through
post-processors that QGIS calls in the main thread after the run. One library needs help with
QGIS's pooled threads: pyproj's per-thread PROJ context, kept alive by ``threads.py`` (called
from ``import_api``) so reruns on the same worker thread do not use a freed context.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable

from qgis.core import (
    QgsCoordinateTransform,
    QgsCsException,
    QgsFeatureRequest,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
    QgsRectangle,
)

from .. import styles
from .common import AreaAlgorithm
from .convert import FeedbackMonitor, qgis_crs, source_to_frame, tr
from .messages import describe_grid, format_bounds, layer_abstract, unfiltered_osm_warning
from .parameters import advanced, numeric_field_param, parameter_value, source_param
from .settings import options_from_parameters, setting_parameter

#: RunOptions fields offered as parameters (after the subclass's own), and the advanced ones.
#: Per-site path gain has one way in: the optional OUTPUT_PER_SITE raster (its file chosen or
#: left temporary); RunOptions.per_site is set from it, not offered as a second checkbox.
SETTINGS = ("bandwidth_mhz", "noise_figure_db", "technology", "subcarrier_spacing_khz")
ADVANCED_SETTINGS = ("default_height_m", "strict")
#: Toolbox search words of every coverage algorithm (subclasses add EXTRA_TAGS).
COMMON_TAGS = (
    "rsrp",
    "sinr",
    "coverage",
    "propagation",
    "path loss",
    "path gain",
    "best server",
    "radio",
    "cellular",
    "5g",
    "nr",
    "lte",
    "exposure",
    "emf",
)
#: Styles whose colour ramp spans the data's 2nd..98th percentile (SINR keeps fixed limits).
PERCENTILE_STYLES = (styles.style_rsrp, styles.style_rx_power, styles.style_path_gain)


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """A raster output: which result bands it holds and how QGIS styles it when loading it."""

    key: str
    description: str
    bands: Callable[[list[str]], list[str]]
    style: Callable | None = None
    optional: bool = False
    create_by_default: bool = True


class CoverageAlgorithm(AreaAlgorithm):
    """Base class: sites + buildings + extent in, coverage rasters out.

    Subclasses set :attr:`NAME`, :attr:`DISPLAY_NAME`, :attr:`HELP`, add their parameters in
    :meth:`model_parameters` and name the API function in :meth:`core_function`; the values of
    their parameters become its keyword arguments (:meth:`model_arguments`).
    """

    TAGS = COMMON_TAGS
    #: Keyword of the core function per model parameter whose keyword is not its name in
    #: lower case.
    KEYWORDS: dict[str, str] = {}
    #: RunOptions fields this algorithm adds to the advanced settings (e.g. a network's TTA).
    MORE_ADVANCED_SETTINGS: tuple[str, ...] = ()

    BUILDINGS = "BUILDINGS"
    DOWNLOAD_OSM = "DOWNLOAD_OSM"
    OPEN_GROUND = "OPEN_GROUND"
    OSM_CACHE_ONLY = "OSM_CACHE_ONLY"
    OSM_CACHE_DIR = "OSM_CACHE_DIR"
    OVERPASS_URL = "OVERPASS_URL"
    HEIGHT_FIELD = "HEIGHT_FIELD"
    OUTPUT_RSRP = "OUTPUT_RSRP"
    OUTPUT_RX_POWER = "OUTPUT_RX_POWER"
    OUTPUT_BEST_SERVER = "OUTPUT_BEST_SERVER"
    OUTPUT_SINR = "OUTPUT_SINR"
    OUTPUT_PER_SITE = "OUTPUT_PER_SITE"
    OUTPUT_E_FIELD = "OUTPUT_E_FIELD"

    def shortHelpString(self) -> str:  # noqa: D102
        return super().shortHelpString() + "<p>" + tr(_COMMON_HELP) + "</p>"

    # -- parameters --------------------------------------------------------------------------------
    def model_parameters(self) -> list[QgsProcessingParameterDefinition]:
        """Parameters of the subclass, shown after the receiver height."""
        return []

    def output_specs(self) -> list[OutputSpec]:
        """The raster outputs, each split from the result's bands."""
        return [
            OutputSpec(
                self.OUTPUT_RSRP,
                tr("RSRP, received power per resource element (dBm)"),
                lambda n: ["rsrp_dbm"],
                styles.style_rsrp,
            ),
            OutputSpec(
                self.OUTPUT_RX_POWER,
                tr("Total received power over the channel (dBm)"),
                lambda n: ["rx_power_dbm"],
                styles.style_rx_power,
                optional=True,
                create_by_default=False,
            ),
            OutputSpec(
                self.OUTPUT_BEST_SERVER,
                tr("Best server"),
                lambda n: ["best_server"],
                None,  # styled with the site ids, see _style_output
                optional=True,
            ),
            OutputSpec(
                self.OUTPUT_SINR, tr("SINR (dB)"), lambda n: ["sinr_db"], styles.style_sinr, True
            ),
            OutputSpec(
                self.OUTPUT_PER_SITE,
                tr("Path gain per site (dB, one band per site)"),
                lambda n: [b for b in n if b.startswith("path_gain_db:")],
                styles.style_path_gain,
                optional=True,
                create_by_default=False,
            ),
            OutputSpec(  # exposure: every coverage run writes the total field
                self.OUTPUT_E_FIELD,
                tr("Electric field strength, all sites (V/m)"),
                lambda n: ["e_field_vpm"],
                styles.style_e_field,
                optional=True,
            ),
        ]

    def initAlgorithm(self, config=None):  # noqa: D102
        self._model_keys = []
        before_model = [
            self.sites_parameter(),
            source_param(
                self.BUILDINGS,
                "Building footprints (polygons, optional 'height' field)",
                "polygon",
                optional=True,
            ),
            numeric_field_param(
                self.HEIGHT_FIELD,
                "Building height field in metres (empty: 'height' or OSM tags, else default)",
                self.BUILDINGS,
                optional=True,
            ),
            QgsProcessingParameterBoolean(
                self.DOWNLOAD_OSM,
                tr("Without a buildings layer, download buildings from OpenStreetMap"),
                defaultValue=True,
            ),
            QgsProcessingParameterBoolean(
                self.OPEN_GROUND,
                tr("No buildings: open ground (rural or unmapped areas; nothing is downloaded)"),
                defaultValue=False,
            ),
            *self.area_parameters(),
            setting_parameter("rx_height_m"),
        ]
        for parameter in before_model:
            self.addParameter(parameter)
        for parameter in self.model_parameters():
            self._model_keys.append(parameter.name())
            self.addParameter(parameter)
        for name in SETTINGS:
            self.addParameter(setting_parameter(name))
        osm = [
            QgsProcessingParameterBoolean(
                self.OSM_CACHE_ONLY,
                tr("OpenStreetMap: use the download cache only (offline)"),
                defaultValue=False,
            ),
            QgsProcessingParameterFile(
                self.OSM_CACHE_DIR,
                tr("OpenStreetMap download cache folder"),
                behavior=QgsProcessingParameterFile.Folder,
                optional=True,
            ),
            QgsProcessingParameterString(
                self.OVERPASS_URL,
                tr("OpenStreetMap: Overpass API URL (empty: the public server)"),
                optional=True,
            ),
        ]
        for parameter in osm:
            self.addParameter(advanced(parameter))
        self.addParameter(self.allow_large_parameter())
        for name in (*ADVANCED_SETTINGS, *self.MORE_ADVANCED_SETTINGS):
            self.addParameter(setting_parameter(name, advanced=True))
        for spec in self.output_specs():
            self.addParameter(
                QgsProcessingParameterRasterDestination(
                    spec.key,
                    spec.description,
                    optional=spec.optional,
                    createByDefault=spec.create_by_default,
                )
            )

    # -- the run -----------------------------------------------------------------------------------
    def core_function(self, api) -> Callable:
        """The API function that computes the ``CoverageResult``. Subclasses implement this.

        It is called with the grid, sites and buildings, ``options``, ``progress``,
        ``is_cancelled`` and the keyword arguments of :meth:`model_arguments`.
        """
        raise NotImplementedError

    def model_arguments(self, parameters, context) -> dict:
        """The values of :meth:`model_parameters` as the core function's keyword arguments."""
        return {
            self.KEYWORDS.get(key, key.lower()): parameter_value(self, parameters, key, context)
            for key in self._model_keys
        }

    def run_model(self, api, inputs, options, parameters, context, monitor):
        """The core function on ``inputs`` (grid, sites, buildings) and ``options``."""
        return self.core_function(api)(
            inputs.grid,
            inputs.sites,
            inputs.buildings,
            options=options,
            progress=monitor.progress,
            is_cancelled=monitor.is_cancelled,
            **self.model_arguments(parameters, context),
        )

    def process(self, api, parameters, context, feedback):
        """One run: grid, inputs, model, outputs (errors are translated by the caller)."""
        errors = importlib.import_module("radiomap_geo.errors")
        steps = QgsProcessingMultiStepFeedback(3, feedback)
        destinations = self.destinations(parameters, context)
        options = options_from_parameters(
            self, parameters, context, per_site=self.OUTPUT_PER_SITE in destinations
        )
        grid = self.grid_from_parameters(api, parameters, context, feedback)
        feedback.pushInfo(describe_grid(grid))
        inputs = self.inputs_from_parameters(grid, options, parameters, context, feedback)
        if feedback.isCanceled():
            raise errors.Cancelled("cancelled by the user")
        steps.setCurrentStep(1)
        monitor = FeedbackMonitor(steps)
        result = self.run_model(api, inputs, options, parameters, context, monitor)
        steps.setCurrentStep(2)
        return self.write_outputs(result, destinations, context, steps)

    # -- adapters ----------------------------------------------------------------------------------
    def inputs_from_parameters(self, grid, options, parameters, context, feedback):
        """Sites and buildings through the core's one set-up (``prepare_inputs``)."""
        setup = importlib.import_module("radiomap_geo.inputs")
        source = self.sites_source(parameters, context)
        sites = source_to_frame(source, source.sourceCrs(), single_points=True)
        open_ground = self.parameterAsBoolean(parameters, self.OPEN_GROUND, context)
        if open_ground and self.parameterAsSource(parameters, self.BUILDINGS, context) is None:
            buildings, height_column = None, None
        else:
            buildings, height_column = self.buildings_layer(grid, parameters, context, feedback)
        inputs = setup.prepare_inputs(
            grid,
            sites,
            buildings,
            options=options,
            height_column=height_column,
            osm=setup.OsmDownload(
                cache_dir=self.parameterAsFile(parameters, self.OSM_CACHE_DIR, context) or None,
                cache_only=self.parameterAsBoolean(parameters, self.OSM_CACHE_ONLY, context),
                overpass_url=self.parameterAsString(parameters, self.OVERPASS_URL, context) or None,
            ),
            sites_name=tr("the sites layer '{}'").format(source.sourceName()),
            open_ground=open_ground,
        )
        if open_ground:
            feedback.pushInfo(tr("Buildings: none (open ground)"))
            return inputs
        if buildings is not None:
            layer = self.parameterAsSource(parameters, self.BUILDINGS, context)
            origin = tr("the layer '{}'").format(layer.sourceName() if layer else "")
        else:
            origin = tr("OpenStreetMap")
        feedback.pushInfo(
            tr("Buildings: {} footprints from {}").format(len(inputs.buildings), origin)
        )
        return inputs

    def buildings_layer(self, grid, parameters, context, feedback):
        """``(footprints frame, height column)`` of the buildings layer; None to download OSM."""
        source = self.parameterAsSource(parameters, self.BUILDINGS, context)
        if source is None:
            if not self.parameterAsBoolean(parameters, self.DOWNLOAD_OSM, context):
                raise QgsProcessingException(
                    tr(
                        "No buildings layer was given and downloading buildings from "
                        "OpenStreetMap is switched off: choose a buildings layer or tick "
                        "'download buildings from OpenStreetMap'."
                    )
                )
            feedback.pushInfo(tr("Buildings: from OpenStreetMap for the grid's area"))
            return None, None
        height_fields = self.parameterAsFields(parameters, self.HEIGHT_FIELD, context)
        # Read only the footprints on the grid (plus a cell): a country-wide layer stays cheap.
        request = QgsFeatureRequest()
        rect = self._grid_rect_in(grid, source.sourceCrs(), context)
        if rect is not None:
            request.setFilterRect(rect)
        # No stop on invalid geometries (the desktop's default): OSM footprints always hold some
        # and the library repairs them (make_valid), reporting how many.
        frame = source_to_frame(source, source.sourceCrs(), request, skip_validity_check=True)
        warning = unfiltered_osm_warning(frame, source.sourceName())
        if warning is not None:
            feedback.pushWarning(warning)
            frame = frame[frame["building"].notna()]
        if len(frame) == 0:
            layer_extent = source.sourceExtent()
            raise QgsProcessingException(
                tr(
                    "The buildings layer '{}' has no footprints inside the area {} ({}); the "
                    "layer covers {} ({}). Check the extent and its CRS, or choose a buildings "
                    "layer that covers the area."
                ).format(
                    source.sourceName(),
                    format_bounds(grid.bounds, grid.crs.is_geographic),
                    grid.crs.to_string(),
                    layer_extent.toString(6 if source.sourceCrs().isGeographic() else 1),
                    source.sourceCrs().authid(),
                )
            )
        return frame, (height_fields[0] if height_fields else None)

    @staticmethod
    def _grid_rect_in(grid, crs, context) -> QgsRectangle | None:
        """The grid's bounds (plus one cell) in ``crs``, to read only the features needed."""
        if not crs.isValid():
            return None
        minx, miny, maxx, maxy = grid.bounds
        pad = grid.resolution
        rect = QgsRectangle(minx - pad, miny - pad, maxx + pad, maxy + pad)
        transform = QgsCoordinateTransform(qgis_crs(grid.crs), crs, context.transformContext())
        if not transform.isValid():
            # Reading every feature is slower but never wrong; an invalid transform would give
            # a bogus rectangle and an empty (falsely "no footprints") read.
            return None
        try:
            return transform.transformBoundingBox(rect)
        except QgsCsException:
            return None

    def raster_path(self, parameters, key, context) -> str | None:
        """The file path of an optional raster layer parameter (GDAL rasters only)."""
        layer = self.parameterAsRasterLayer(parameters, key, context)
        if layer is None:
            return None
        if layer.providerType() != "gdal":
            raise QgsProcessingException(
                tr(
                    "{}: '{}' is not a raster file (provider '{}'); save it as a GeoTIFF first."
                ).format(
                    self.parameterDefinition(key).description(), layer.name(), layer.providerType()
                )
            )
        return layer.source()

    # -- outputs -----------------------------------------------------------------------------------
    def destinations(self, parameters, context: QgsProcessingContext) -> dict[str, str]:
        """Output key to file path, for every output the user asked for."""
        paths = {}
        for spec in self.output_specs():
            path = self.geotiff_output(parameters, spec.key, context)
            if path:
                paths[spec.key] = path
        return paths

    def write_outputs(self, result, destinations, context, feedback) -> dict[str, str]:
        """Split the result's bands into one GeoTIFF per output; style those QGIS will load."""
        outputs = {}
        specs = {spec.key: spec for spec in self.output_specs()}
        run_layers = styles.RunLayers()  # keeps this run's layers together, RSRP on top
        for i, (key, path) in enumerate(destinations.items()):
            bands = specs[key].bands(list(result.bands))
            if not bands:
                continue
            subset = dataclasses.replace(result, bands={b: result.bands[b] for b in bands})
            outputs[key] = str(subset.write(path, overwrite=True))
            self._style_output(specs[key], path, result, context, run_layers)
            feedback.setProgress(100.0 * (i + 1) / len(destinations))
        return outputs

    def _style_output(self, spec: OutputSpec, path: str, result, context, run_layers) -> None:
        if not context.willLoadLayerOnCompletion(path):
            return
        style = self._style_for(spec, result)
        if style is None:
            return
        keys = [s.key for s in self.output_specs()]
        details = context.layerToLoadOnCompletionDetails(path)
        details.setPostProcessor(
            styles.StylePostProcessor(
                style,
                abstract=layer_abstract(spec.key, result.tags()),
                rank=keys.index(spec.key),
                run_layers=run_layers,
            )
        )

    def _style_for(self, spec: OutputSpec, result):
        """The renderer function of an output: power ramps span the data's percentiles."""
        if spec.key == self.OUTPUT_BEST_SERVER:
            ids = list(result.sites.ids)
            return lambda layer: styles.style_best_server(layer, ids)
        if spec.style not in PERCENTILE_STYLES:  # e.g. a subclass's own one-argument style
            return spec.style
        bands = spec.bands(list(result.bands))
        limits = styles.percentile_range(result.bands[bands[0]], fallback=None)
        if limits is None:
            return spec.style
        return lambda layer: spec.style(layer, limits)


_COMMON_HELP = (
    "Sites: points with a height_m field (antenna height above ground, m) and optional site_id, "
    "power_dbm (43), frequency_mhz (3500), antenna ('iso', 'tr38901' or an MSI file), "
    "azimuth_deg and tilt_deg. Buildings: polygons with an optional 'height' field (m); "
    "without a layer they are downloaded from OpenStreetMap for the area. The extent is read in "
    "its own CRS; results are computed on a grid in a projected CRS in metres (the local UTM "
    "zone unless you choose one). Outputs are GeoTIFFs with NaN as nodata: RSRP in dBm (the "
    "received power of one resource element, i.e. one subcarrier, as phones and scanners "
    "report it; from the bandwidth, technology and subcarrier spacing), optionally the total "
    "received power over the whole channel in dBm (power_dbm is the total transmit power), "
    "best server (1-based site number, labelled with the site ids), SINR in dB. Needs the "
    "radiomap-geo Python package installed in the Python QGIS uses."
)
