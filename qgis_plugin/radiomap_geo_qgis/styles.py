"""Default renderers for the coverage rasters, applied when QGIS loads an output layer.

Power and gain ramps span the data's 2nd to 98th percentile, rounded outwards to 5 dB (a fixed
range either saturates a strong-signal area or wastes the ramp on an empty range); the fixed
ranges below are used when a band has too few values. SINR keeps its fixed -10..30 dB, whose
ends mean "unusable" and "excellent" whatever the map. Best server is paletted, one colour and
label (the site id) per site. Every legend entry carries its unit (dBm, dB, V/m). Inferred
buildings: the probability on a fixed 0..1 ramp, the footprints outlined above it.

The post-processor also writes what the values mean into the layer's abstract and orders the
layers of one run: RSRP on top and the only one switched on, the others below it, so no layer
hides another by default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from qgis.core import (
    QgsColorRampLegendNodeSettings,
    QgsColorRampShader,
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsGradientStop,
    QgsMapLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

# Perceptually uniform and colour-blind safe (viridis): weak = dark purple, strong = yellow.
VIRIDIS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
# SINR: red (unusable) through yellow to green (excellent).
RED_YELLOW_GREEN = ("#a50026", "#f46d43", "#fee08b", "#a6d96a", "#006837")
# Building probability: white (open ground) to dark blue (building), under red outlines.
BLUES = ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b")
FOOTPRINT_OUTLINE = "#d62728"
# Qualitative palette for best-server classes (Tableau 10), cycled beyond ten sites.
TAB10 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

#: RSRP is per resource element (one subcarrier): about 28-31 dB below the total received
#: power of a 20 MHz carrier, hence a lower range than RX_POWER_RANGE.
RSRP_RANGE = (-140.0, -60.0)
RX_POWER_RANGE = (-120.0, -40.0)
SINR_RANGE = (-10.0, 30.0)
PATH_GAIN_RANGE = (-160.0, -60.0)
E_FIELD_RANGE = (0.0, 6.0)  # V/m; ICNIRP's general-public reference level is 61 V/m above 2 GHz
UNCERTAINTY_RANGE = (0.0, 12.0)  # dB, 1 sigma
PERCENTILES = (2.0, 98.0)


def percentile_range(
    values: np.ndarray, fallback: tuple[float, float] | None, step: float = 5.0
) -> tuple[float, float] | None:
    """The 2nd..98th percentile of the finite ``values``, rounded outwards to ``step``."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size < 10:
        return fallback
    low, high = np.percentile(finite, PERCENTILES)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    if high - low < step:
        return fallback
    return float(low), float(high)


def _ramp(colors: Sequence[str]) -> QgsGradientColorRamp:
    stops = [
        QgsGradientStop(i / (len(colors) - 1), QColor(c))
        for i, c in enumerate(colors[1:-1], start=1)
    ]
    return QgsGradientColorRamp(QColor(colors[0]), QColor(colors[-1]), False, stops)


def pseudocolor_renderer(
    layer: QgsRasterLayer,
    vmin: float,
    vmax: float,
    colors: Sequence[str],
    unit: str,
    band: int = 1,
    classes: int = 9,
) -> QgsSingleBandPseudoColorRenderer:
    """A continuous (interpolated) renderer from ``vmin`` to ``vmax`` with labelled stops."""
    shader_fn = QgsColorRampShader(vmin, vmax, _ramp(colors), QgsColorRampShader.Interpolated)
    shader_fn.setClassificationMode(QgsColorRampShader.EqualInterval)
    shader_fn.classifyColorRamp(classes, band, layer.extent(), None)
    items = shader_fn.colorRampItemList()
    for item in items:
        item.label = f"{item.value:g} {unit}".rstrip()  # unitless: probabilities
    shader_fn.setColorRampItemList(items)
    shader_fn.setClip(False)  # values beyond the range keep the end colours
    # The desktop draws an interpolated ramp as one continuous legend bar labelled with the
    # bare min and max: the unit goes into that legend's suffix too.
    legend = QgsColorRampLegendNodeSettings()
    legend.setUseContinuousLegend(True)
    legend.setSuffix(f" {unit}" if unit else "")
    shader_fn.setLegendSettings(legend)
    shader = QgsRasterShader(vmin, vmax)
    shader.setRasterShaderFunction(shader_fn)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(vmin)
    renderer.setClassificationMax(vmax)
    return renderer


def style_rsrp(layer: QgsRasterLayer, limits: tuple[float, float] = RSRP_RANGE) -> None:
    """RSRP (per resource element) in dBm, weak (dark purple) to strong (yellow)."""
    layer.setRenderer(pseudocolor_renderer(layer, *limits, VIRIDIS, "dBm"))


def style_rx_power(layer: QgsRasterLayer, limits: tuple[float, float] = RX_POWER_RANGE) -> None:
    """Total received power over the channel in dBm, weak (dark purple) to strong (yellow)."""
    layer.setRenderer(pseudocolor_renderer(layer, *limits, VIRIDIS, "dBm"))


def style_sinr(layer: QgsRasterLayer, limits: tuple[float, float] = SINR_RANGE) -> None:
    """SINR in dB, -10 (red) to 30 (green) by default."""
    layer.setRenderer(pseudocolor_renderer(layer, *limits, RED_YELLOW_GREEN, "dB"))


def style_path_gain(layer: QgsRasterLayer, limits: tuple[float, float] = PATH_GAIN_RANGE) -> None:
    """Per-site path gain in dB (first band shown)."""
    layer.setRenderer(pseudocolor_renderer(layer, *limits, VIRIDIS, "dB"))


def style_e_field(layer: QgsRasterLayer, limits: tuple[float, float] = E_FIELD_RANGE) -> None:
    """Electric field strength (exposure) in V/m."""
    layer.setRenderer(pseudocolor_renderer(layer, *limits, VIRIDIS, "V/m"))


def style_uncertainty(
    layer: QgsRasterLayer, limits: tuple[float, float] = UNCERTAINTY_RANGE
) -> None:
    """1-sigma uncertainty in dB, 0 (green) to 12 dB (red)."""
    colors = list(reversed(RED_YELLOW_GREEN))
    layer.setRenderer(pseudocolor_renderer(layer, *limits, colors, "dB"))


def style_best_server(layer: QgsRasterLayer, site_ids: Sequence[str]) -> None:
    """One colour per site: raster value ``i`` (1-based) is labelled with ``site_ids[i - 1]``."""
    classes = [
        QgsPalettedRasterRenderer.Class(float(i), QColor(TAB10[(i - 1) % len(TAB10)]), str(sid))
        for i, sid in enumerate(site_ids, start=1)
    ]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))


def style_building_probability(layer: QgsRasterLayer) -> None:
    """Band 1, the building probability, 0 (white) to 1 (dark blue)."""
    layer.setRenderer(pseudocolor_renderer(layer, 0.0, 1.0, BLUES, "", classes=5))


def style_footprints(layer: QgsVectorLayer) -> None:
    """Footprint polygons outlined, not filled: the probability raster stays readable below."""
    symbol = QgsFillSymbol.createSimple(
        {"style": "no", "outline_color": FOOTPRINT_OUTLINE, "outline_width": "0.5"}
    )
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))


class RunLayers:
    """The layers one run loaded, by rank (0 on top): kept together in that order."""

    def __init__(self, only_top_visible: bool = True) -> None:
        self.ranked: list[tuple[int, str]] = []
        self.only_top_visible = only_top_visible

    def place(self, layer: QgsMapLayer, rank: int, project: QgsProject) -> None:
        """Move this run's layers (with ``layer``) into rank order; only the top one visible
        unless all are meant to be (outlines over a raster).

        QGIS adds result layers in the order of their file paths, each on top of the last, so
        without this SINR or best server would hide RSRP.
        """
        self.ranked.append((rank, layer.id()))
        root = project.layerTreeRoot()
        nodes = [root.findLayer(layer_id) for _, layer_id in sorted(self.ranked)]
        parent = root.findLayer(layer.id()).parent() if root.findLayer(layer.id()) else None
        nodes = [n for n in nodes if n is not None and n.parent() is parent]
        if parent is None or not nodes:
            return
        children = parent.children()
        top = min(children.index(n) for n in nodes)
        # Insert each clone before removing its original: a layer whose last tree node goes is
        # removed from the project at once (QgsLayerTreeRegistryBridge).
        for offset, node in enumerate(nodes):
            clone = node.clone()
            clone.setItemVisibilityChecked(offset == 0 or not self.only_top_visible)
            parent.insertChildNode(top + offset, clone)
            parent.removeChildNode(node)


class StylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Styles an output layer once QGIS has loaded it, sets its abstract and its place.

    QGIS keeps only a C++ pointer to a post-processor, so every instance keeps itself in
    :attr:`_alive` (instances are tiny; dropping one QGIS may still call would crash QGIS).
    """

    _alive: list[StylePostProcessor] = []

    def __init__(
        self,
        style: Callable[[QgsMapLayer], None],
        abstract: str = "",
        rank: int = 0,
        run_layers: RunLayers | None = None,
    ) -> None:
        super().__init__()
        self._style = style
        self._abstract = abstract
        self._rank = rank
        self._run_layers = run_layers
        StylePostProcessor._alive.append(self)

    def postProcessLayer(self, layer, context, feedback) -> None:
        """Called by QGIS in the main thread after the layer was added to the project."""
        if isinstance(layer, QgsMapLayer) and layer.isValid():
            self._style(layer)
            if self._abstract:
                layer.setAbstract(self._abstract)
            if self._run_layers is not None:
                self._run_layers.place(
                    layer, self._rank, context.project() or QgsProject.instance()
                )
            layer.triggerRepaint()
