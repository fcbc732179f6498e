"""Default renderers for the coverage rasters, applied when QGIS loads an output layer.

Fixed class limits (not min/max statistics) so that maps of different runs compare at a glance:
RSRP (per resource element) -140..-60 dBm, total received power -120..-40 dBm, SINR -10..30 dB,
path gain -160..-60 dB; best server is paletted, one colour and label (the site id) per site.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qgis.core import (
    QgsColorRampShader,
    QgsGradientColorRamp,
    QgsGradientStop,
    QgsPalettedRasterRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtGui import QColor

# Perceptually uniform and colour-blind safe (viridis): weak = dark purple, strong = yellow.
VIRIDIS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
# SINR: red (unusable) through yellow to green (excellent).
RED_YELLOW_GREEN = ("#a50026", "#f46d43", "#fee08b", "#a6d96a", "#006837")
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
        item.label = f"{item.value:g} {unit}"
    shader_fn.setColorRampItemList(items)
    shader_fn.setClip(False)  # values beyond the range keep the end colours
    shader = QgsRasterShader(vmin, vmax)
    shader.setRasterShaderFunction(shader_fn)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(vmin)
    renderer.setClassificationMax(vmax)
    return renderer


def style_rsrp(layer: QgsRasterLayer) -> None:
    """RSRP (per resource element) in dBm, -140 (dark purple) to -60 (yellow)."""
    layer.setRenderer(pseudocolor_renderer(layer, *RSRP_RANGE, VIRIDIS, "dBm RSRP"))


def style_rx_power(layer: QgsRasterLayer) -> None:
    """Total received power over the channel in dBm, -120 (dark purple) to -40 (yellow)."""
    layer.setRenderer(pseudocolor_renderer(layer, *RX_POWER_RANGE, VIRIDIS, "dBm total"))


def style_sinr(layer: QgsRasterLayer) -> None:
    """SINR in dB, -10 (red) to 30 (green)."""
    layer.setRenderer(pseudocolor_renderer(layer, *SINR_RANGE, RED_YELLOW_GREEN, "dB"))


def style_path_gain(layer: QgsRasterLayer) -> None:
    """Per-site path gain in dB (first band shown), -160 to -60."""
    layer.setRenderer(pseudocolor_renderer(layer, *PATH_GAIN_RANGE, VIRIDIS, "dB"))


def style_best_server(layer: QgsRasterLayer, site_ids: Sequence[str]) -> None:
    """One colour per site: raster value ``i`` (1-based) is labelled with ``site_ids[i - 1]``."""
    classes = [
        QgsPalettedRasterRenderer.Class(float(i), QColor(TAB10[(i - 1) % len(TAB10)]), str(sid))
        for i, sid in enumerate(site_ids, start=1)
    ]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))


class StylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Applies one of the ``style_*`` functions to an output layer once QGIS has loaded it.

    QGIS keeps only a C++ pointer to a post-processor, so every instance is also kept in
    :attr:`_alive` (instances are tiny; dropping one QGIS may still call would crash QGIS).
    """

    _alive: list[StylePostProcessor] = []

    def __init__(self, style: Callable[[QgsRasterLayer], None]) -> None:
        super().__init__()
        self._style = style

    @classmethod
    def create(cls, style: Callable[[QgsRasterLayer], None]) -> StylePostProcessor:
        """A post-processor that outlives the algorithm run."""
        instance = cls(style)
        cls._alive.append(instance)
        return instance

    def postProcessLayer(self, layer, context, feedback) -> None:
        """Called by QGIS in the main thread after the layer was added to the project."""
        if isinstance(layer, QgsRasterLayer) and layer.isValid():
            self._style(layer)
            layer.triggerRepaint()
